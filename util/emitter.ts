/**
 * A small typed event emitter, in the spirit of mediasoup's EnhancedEventEmitter.
 *
 * @example
 * ```ts
 * type Events = { joined: [name: string]; closed: [] };
 * const e = new Emitter<Events>();
 * const off = e.on("joined", (name) => console.log(name));
 * e.emit("joined", "Ann");
 * off();
 * ```
 * @module
 */

// deno-lint-ignore no-explicit-any
export type EventMap = Record<string, any[]>;

/** Typed publish/subscribe. Listener errors are reported and never break the emitter. */
export class Emitter<E extends EventMap> {
  // deno-lint-ignore no-explicit-any
  #listeners = new Map<keyof E, Set<(...args: any[]) => void>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: (...args: E[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, set = new Set());
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Removes a listener added with {@linkcode Emitter.on}. */
  off<K extends keyof E>(event: K, listener: (...args: E[K]) => void): void {
    this.#listeners.get(event)?.delete(listener);
  }

  /** Calls every listener of `event` in the order they were added. */
  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (err) {
        console.error(`listener for "${String(event)}" failed:`, err);
      }
    }
  }

  /** Removes every listener. */
  removeAllListeners(): void {
    this.#listeners.clear();
  }
}
