/**
 * Helpers shared by the media tests: a seeded random generator so that fuzz loops and
 * shuffles are reproducible.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * const byte = Math.floor(random() * 256);
 * ```
 * @module
 */

export { seededRandom } from "../util/seeded_random.ts";

/**
 * Random bytes of the given length from a seeded generator.
 *
 * @example
 * ```ts
 * const bytes = randomBytes(seededRandom(7), 100);
 * ```
 */
export function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

/**
 * Shuffles an array in place (Fisher-Yates) and returns it.
 *
 * @example
 * ```ts
 * shuffle(seededRandom(3), [1, 2, 3]);
 * ```
 */
export function shuffle<T>(random: () => number, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}
