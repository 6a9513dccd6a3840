/**
 * The browser's entry point: finds island markers and hydrates each with its props; twind
 * styles classes that appear only after hydration. Each island is its own chunk, loaded only
 * on pages that have it.
 *
 * @example
 * ```html
 * <script type="module" src="/_islands/boot.js"></script>
 * ```
 * @module
 */

import { cssom, observe, twind } from "@twind/core";
import { h, hydrate } from "preact";
import type { ComponentType } from "preact";
import { ISLAND_ATTR, type IslandName, PROPS_ATTR } from "../web/island.tsx";
import { twindConfig } from "../web/twind.ts";

const ISLANDS: Record<IslandName, () => Promise<{ default: ComponentType<never> }>> = {
  Lobby: () => import("../islands/Lobby.tsx"),
  MeetingPage: () => import("../islands/MeetingPage.tsx"),
};

// Classes that appear after hydration go to a sheet placed after the server's, so that the
// server's preflight and base classes never outrank utilities added later.
const runtimeSheet = document.createElement("style");
runtimeSheet.setAttribute("data-twind-runtime", "");
document.head.append(runtimeSheet);
observe(twind(twindConfig, cssom(runtimeSheet)), document.documentElement);

for (const el of document.querySelectorAll<HTMLElement>(`[${ISLAND_ATTR}]`)) {
  const name = el.getAttribute(ISLAND_ATTR) as IslandName;
  const load = ISLANDS[name];
  if (!load) continue;
  const props = JSON.parse(el.getAttribute(PROPS_ATTR) ?? "{}");
  load().then(({ default: Component }) => {
    hydrate(h(Component, props as never), el);
    el.setAttribute("data-hydrated", "");
  });
}
