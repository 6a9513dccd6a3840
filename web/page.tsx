/**
 * Renders a server page: Preact to HTML, twind CSS extracted for exactly the classes used,
 * and the island boot script when the page has islands.
 *
 * @example
 * ```tsx
 * import { Layout } from "../components/Layout.tsx";
 * import type { RouteHandler } from "../routes/context.ts";
 *
 * const meetingsPage: RouteHandler = () => {
 *   return renderPage(<Layout><h1>Meetings</h1></Layout>, { title: "Meetings" });
 * };
 * ```
 * @module
 */

import { extract, twind, virtual } from "@twind/core";
import type { VNode } from "preact";
import { renderToString } from "preact-render-to-string";
import { ISLAND_ATTR } from "./island.tsx";
import { twindConfig } from "./twind.ts";

const tw = twind(twindConfig, virtual());

/** Page options. */
export interface PageOptions {
  title: string;
  status?: number;
}

function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** Renders `body` into a complete HTML document response. */
export function renderPage(body: VNode, options: PageOptions): Response {
  const rendered = renderToString(body);
  tw.clear();
  const { html, css } = extract(rendered, tw);
  const boot = rendered.includes(`${ISLAND_ATTR}=`)
    ? `<script type="module" src="/_islands/boot.js"></script>`
    : "";
  const doc = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)}</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<style data-ssr-css>${css}</style>
${boot}
</head>
<body>${html}</body>
</html>`;
  return new Response(doc, {
    status: options.status ?? 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "referrer-policy": "same-origin",
    },
  });
}
