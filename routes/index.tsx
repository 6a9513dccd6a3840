/**
 * `/`: the home page. Server-rendered with the current meetings; the Lobby island keeps the
 * list live and holds the name field and the create form.
 *
 * @module
 */

import { Layout } from "../components/Layout.tsx";
import Lobby from "../islands/Lobby.tsx";
import { Island } from "../web/island.tsx";
import { renderPage } from "../web/page.tsx";
import type { RouteHandler } from "./context.ts";

const NOTICES: Record<string, (title: string) => string> = {
  cancelled: (t) => `“${t}” was cancelled by its host.`,
  ended: (t) => `“${t}” has ended.`,
};

/** Renders the home page. */
export const homePage: RouteHandler = (_req, { hub, url }) => {
  const kind = url.searchParams.get("notice") ?? "";
  const title = (url.searchParams.get("title") ?? "The meeting").slice(0, 80);
  const notice = NOTICES[kind]?.(title) ?? null;
  return renderPage(
    <Layout>
      <h1 class="text-2xl font-semibold mb-4">Meet now</h1>
      <Island name="Lobby" component={Lobby} props={{ meetings: hub.list(), notice }} />
    </Layout>,
    { title: "Meet" },
  );
};
