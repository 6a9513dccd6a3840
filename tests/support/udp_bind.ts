/**
 * The UDP bind handshake for tests that drive a raw socket: `MEET-BIND <mediaKey>
 * <meetingId>`, echo the `MEET-CHECK` nonce, and return the final answer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * async function bind(
 *   socket: Deno.DatagramConn,
 *   serverAddr: Deno.NetAddr,
 *   mediaKey: string,
 *   meetingId: string,
 * ) {
 *   const answer = await udpBind(socket, serverAddr, mediaKey, meetingId);
 *   assert.match(answer, /^MEET-BOUND /);
 * }
 * ```
 * @module
 */

import { UDP_CHECK_PREFIX, udpBindRequest } from "../../protocol/media.ts";

/** Receives one text datagram (`MEET-...`) from `from`, skipping others; rejects after `ms`. */
export async function receiveText(
  socket: Deno.DatagramConn,
  from: Deno.NetAddr,
  ms = 5_000,
): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    for (;;) {
      const [bytes, addr] = await Promise.race([socket.receive(), timeout]);
      const a = addr as Deno.NetAddr;
      if (a.hostname === from.hostname && a.port === from.port && bytes[0] === 0x4d) {
        return new TextDecoder().decode(bytes);
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Binds `socket` to a seat: the whole handshake. Returns the last answer (`MEET-BOUND ...`
 * or `MEET-ERROR ...`).
 */
export async function udpBind(
  socket: Deno.DatagramConn,
  server: Deno.NetAddr,
  mediaKey: string,
  meetingId: string,
): Promise<string> {
  await socket.send(udpBindRequest(mediaKey, meetingId), server);
  const answer = await receiveText(socket, server);
  if (!answer.startsWith(UDP_CHECK_PREFIX)) return answer;
  const nonce = answer.slice(UDP_CHECK_PREFIX.length);
  await socket.send(udpBindRequest(mediaKey, meetingId, nonce), server);
  return await receiveText(socket, server);
}
