/**
 * The page for an address that leads nowhere: a meeting that does not exist or has ended, a
 * mistyped meeting link (`/m/`, `/m/bad%20id!!`), any other unknown path. Styled like the rest
 * of the site, with a way back to the meeting list; status 404.
 *
 * @example
 * ```ts
 * const response = notFoundPage("No such meeting", "The link may be mistyped.");
 * response.status; // 404
 * ```
 * @module
 */

import { Layout } from "../components/Layout.tsx";
import { renderPage } from "../web/page.tsx";

/** Renders a 404 page with a heading, one line of explanation, and a link to the lobby. */
export function notFoundPage(heading: string, explanation: string): Response {
  return renderPage(
    <Layout>
      <div class="rounded-xl bg-white shadow-sm p-6 space-y-3" data-testid="not-found">
        <h1 class="text-xl font-semibold">{heading}</h1>
        <p class="text-slate-600">{explanation}</p>
        <a href="/" class="inline-block text-emerald-700 underline">Go to the meeting list</a>
      </div>
    </Layout>,
    { title: `${heading} · Meet`, status: 404 },
  );
}
