/**
 * SDP (RFC 8866) for plain-RTP participants: describes what the server sends them, so that
 * a tool like ffmpeg (`ffmpeg -protocol_whitelist file,udp,rtp -i meet.sdp ...`) can receive
 * it on its own address.
 *
 * @example
 * ```ts
 * const sdp = plainRtpSdp({ title: "Standup", ip: "127.0.0.1", port: 40000, audioPayloadType: 111 });
 * ```
 * @module
 */

/** What the SDP describes. */
export interface PlainRtpSdpOptions {
  title: string;
  /** The participant's address, where the server sends (and the tool listens). */
  ip: string;
  port: number;
  audioPayloadType?: number;
  videoPayloadType?: number;
}

/** The receive-side SDP for a plain-RTP participant. */
export function plainRtpSdp(options: PlainRtpSdpOptions): string {
  const family = options.ip.includes(":") ? "IP6" : "IP4";
  const title = options.title.replace(/[\r\n]/g, " ");
  const lines = [
    "v=0",
    `o=- ${Date.now()} 1 IN ${family} ${options.ip}`,
    `s=${title}`,
    `c=IN ${family} ${options.ip}`,
    "t=0 0",
  ];
  if (options.audioPayloadType !== undefined) {
    const pt = options.audioPayloadType;
    lines.push(
      `m=audio ${options.port} RTP/AVP ${pt}`,
      `a=rtpmap:${pt} opus/48000/2`,
      `a=fmtp:${pt} sprop-stereo=0;minptime=20`,
      "a=ptime:20",
      "a=recvonly",
    );
  }
  if (options.videoPayloadType !== undefined) {
    const pt = options.videoPayloadType;
    lines.push(`m=video ${options.port} RTP/AVP ${pt}`, `a=rtpmap:${pt} VP8/90000`, "a=recvonly");
  }
  return lines.join("\r\n") + "\r\n";
}
