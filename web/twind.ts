/**
 * The one twind configuration, used on the server to extract CSS from rendered pages and in
 * the browser for classes that only appear after hydration.
 *
 * @example
 * ```ts
 * import { twind, virtual, extract } from "@twind/core";
 * const tw = twind(twindConfig, virtual());
 * const { html, css } = extract('<p class="text-sm">x</p>', tw);
 * ```
 * @module
 */

import { defineConfig } from "@twind/core";
import presetTailwind from "@twind/preset-tailwind";

/** Tailwind preset with the project's few additions. */
export const twindConfig = defineConfig({
  presets: [presetTailwind()],
  hash: false,
  theme: {
    extend: {
      fontFamily: {
        sans: ["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "sans-serif"],
      },
    },
  },
});
