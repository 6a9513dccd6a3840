/**
 * The terminal client's control session against a scripted WebSocket server (raw TCP, so
 * that the test decides how messages share TCP segments): an event that arrives in the same
 * segment as the reply it follows must not be lost.
 */

import assert from "node:assert/strict";
import { TerminalControl } from "../cli/terminal_control.ts";
import { waitFor } from "./support/wait.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** One unmasked server text frame. */
function frame(text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const head = payload.length < 126
    ? [0x81, payload.length]
    : [0x81, 126, payload.length >> 8, payload.length & 0xff];
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A WebSocket server on 127.0.0.1 that answers each client request (a masked text frame) with
 * what `answer` returns, all of it in one TCP write.
 */
function scriptedServer(answer: (request: Record<string, unknown>) => unknown[]) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      void (async () => {
        let buffer: Uint8Array = new Uint8Array(0);
        let upgraded = false;
        const chunk = new Uint8Array(64 * 1024);
        for (;;) {
          const n = await conn.read(chunk).catch(() => null);
          if (n === null) return;
          buffer = concat([buffer, chunk.subarray(0, n)]);
          if (!upgraded) {
            const text = new TextDecoder().decode(buffer);
            const end = text.indexOf("\r\n\r\n");
            if (end < 0) continue;
            const key = text.match(/Sec-WebSocket-Key: (.+)\r\n/i)![1].trim();
            const digest = await crypto.subtle.digest(
              "SHA-1",
              new TextEncoder().encode(key + GUID),
            );
            const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
            await conn.write(new TextEncoder().encode(
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
            ));
            buffer = buffer.subarray(end + 4);
            upgraded = true;
          }
          // Masked client frames (short ones: requests are small).
          while (buffer.length >= 2) {
            let length = buffer[1] & 0x7f;
            let at = 2;
            if (length === 126) {
              if (buffer.length < 4) break;
              length = (buffer[2] << 8) | buffer[3];
              at = 4;
            }
            if (buffer.length < at + 4 + length) break;
            const mask = buffer.subarray(at, at + 4);
            const payload = buffer.slice(at + 4, at + 4 + length).map((b, i) => b ^ mask[i % 4]);
            const opcode = buffer[0] & 0x0f;
            buffer = buffer.subarray(at + 4 + length);
            if (opcode !== 1) continue;
            const request = JSON.parse(new TextDecoder().decode(payload));
            const out = answer(request).map((m) => frame(JSON.stringify(m)));
            await conn.write(concat(out)).catch(() => {});
          }
        }
      })();
    }
  })().catch(() => {});
  return {
    url: `ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/ws`,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await serving;
    },
  };
}

Deno.test("session: events in the same TCP segment as the join reply are not lost", async () => {
  const participant = {
    id: "p1",
    name: "Ann",
    isCreator: false,
    isHost: false,
    joinedAt: 0,
    connected: true,
    audioSsrc: 1,
    videoSsrc: 2,
    audio: false,
    video: false,
    kind: "client",
  };
  const peer = { ...participant, id: "p2", name: "Bob", audioSsrc: 3, videoSsrc: 4 };
  const details = {
    id: "m1",
    title: "T",
    creator: "Bob",
    participants: 2,
    mode: "relay",
    createdAt: 0,
    locked: false,
    state: "open",
    roster: [peer, participant],
  };
  const joins: unknown[] = [];
  await using server = scriptedServer((request) => {
    switch (request.type) {
      case "identify":
        return [{ type: "reply", id: request.id, result: { token: "t", name: "Ann" } }];
      case "join":
        joins.push(request.p2p);
        return [
          {
            type: "reply",
            id: request.id,
            result: {
              meeting: details,
              participantId: "p1",
              name: "Ann",
              resumed: false,
              chat: [],
              media: { audioSsrc: 1, videoSsrc: 2, mixSsrc: 9 },
            },
          },
          {
            type: "chat",
            meetingId: "m1",
            message: { id: 1, participantId: "p2", name: "Bob", text: "right behind", at: 0 },
          },
          { type: "mode", meetingId: "m1", mode: "p2p" },
        ];
      default:
        return [{ type: "reply", id: request.id, result: {} }];
    }
  });
  const session = await TerminalControl.open(server.url, "Ann");
  try {
    const chats: string[] = [];
    const modes: string[] = [];
    session.on("chat", (_id, message) => chats.push(message.text));
    session.on("mode", (_meeting, mode) => modes.push(mode));
    const { meeting } = await session.join("m1");
    await waitFor(() => chats.length === 1 && modes.length === 1, {
      what: "the chat line and the mode that followed the reply",
      timeoutMs: 3_000,
    });
    assert.deepEqual(chats, ["right behind"]);
    assert.equal(meeting.mode, "p2p");
    assert.deepEqual(joins, ["udp"]);
  } finally {
    session.close();
  }
});
