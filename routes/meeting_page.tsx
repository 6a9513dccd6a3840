/**
 * `/m/:id`: the meeting page. The address is the invitation: opening it asks for a name (the last
 * one is remembered; `?name=Ann` fills in Ann) and shows what will be shared; nothing joins or
 * is captured before the person presses Join.
 *
 * @module
 */

import { Layout } from "../components/Layout.tsx";
import MeetingPage from "../islands/MeetingPage.tsx";
import { Island } from "../web/island.tsx";
import { renderPage } from "../web/page.tsx";
import { notFoundPage } from "./not_found.tsx";
import type { RouteHandler } from "./context.ts";

/** Renders the meeting page, or a "not found / ended" page. */
export const meetingPage: RouteHandler = (_req, { hub, params, url }) => {
  const meeting = hub.registry.get(params.id);
  if (!meeting) {
    const past = hub.records.meeting(params.id);
    return past
      ? notFoundPage(
        `“${past.title}” has ended`,
        "This meeting is over. Start a new one from the list.",
      )
      : notFoundPage("No such meeting", "The link may be mistyped, or the meeting never existed.");
  }
  const name = url.searchParams.get("name");
  return renderPage(
    <Layout wide>
      <Island
        name="MeetingPage"
        component={MeetingPage}
        props={{
          meetingId: meeting.id,
          title: meeting.title,
          name: name?.trim() ? name : null,
          locked: meeting.summary().locked,
          recording: meeting.recording !== null,
        }}
      />
    </Layout>,
    { title: `${meeting.title} · Meet` },
  );
};
