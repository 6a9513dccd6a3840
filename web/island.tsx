/**
 * Islands: the only components hydrated in the browser. On the server an island renders in
 * place inside a marker element that carries its name and serialized props; the browser's
 * boot script finds the markers and hydrates them (see client/boot.ts).
 *
 * @example
 * ```tsx
 * import MeetingPage from "../islands/MeetingPage.tsx";
 * const props = { meetingId: "abc", title: "Standup", name: null, locked: false };
 * const page = <main><Island name="MeetingPage" component={MeetingPage} props={props} /></main>;
 * ```
 * @module
 */

import type { ComponentType, VNode } from "preact";

/** Names of the islands the browser can hydrate; keep in sync with client/boot.ts. */
export type IslandName = "Lobby" | "MeetingPage";

/** Attribute that marks an island's root element. */
export const ISLAND_ATTR = "data-island";
/** Attribute that carries an island's props as JSON. */
export const PROPS_ATTR = "data-props";

/** Renders `component` with `props` inside a marker the browser hydrates. Props must be JSON. */
export function Island<P extends Record<string, unknown>>(
  { name, component: Component, props }: {
    name: IslandName;
    component: ComponentType<P>;
    props: P;
  },
): VNode {
  const attrs = { [ISLAND_ATTR]: name, [PROPS_ATTR]: JSON.stringify(props) };
  return (
    <div {...attrs} style="display: contents">
      <Component {...props} />
    </div>
  );
}
