/**
 * The frame of every page: a slim header with the product name and the page content.
 *
 * @example
 * ```tsx
 * <Layout><p>content</p></Layout>
 * ```
 * @module
 */

import type { ComponentChildren } from "preact";

/**
 * Page frame. `wide` is the meeting page's: the whole width, and exactly the viewport's height
 * (the grid takes what the controls leave; chat scrolls inside its panel).
 */
export function Layout({ children, wide }: { children: ComponentChildren; wide?: boolean }) {
  return (
    <div
      class={`${
        wide ? "h-[100dvh] overflow-hidden" : "min-h-screen"
      } bg-slate-100 text-slate-900 antialiased font-sans flex flex-col`}
    >
      <header class="shrink-0 bg-slate-900 text-white">
        <div class={`${wide ? "" : "max-w-3xl"} mx-auto px-4 h-12 flex items-center gap-3`}>
          <a href="/" class="font-semibold tracking-tight text-lg">
            <span class="text-emerald-400">●</span> Meet
          </a>
        </div>
      </header>
      <main
        class={`flex-1 w-full ${
          wide ? "flex flex-col min-h-0 overflow-y-auto" : "max-w-3xl mx-auto px-4 py-6"
        }`}
      >
        {children}
      </main>
    </div>
  );
}
