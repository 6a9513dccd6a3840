// The part of mediabunny's API the recording file uses. Its own declarations pull in
// @types/dom-webcodecs and @types/dom-mediacapture-transform, whose globals clash with the
// browser code's in one type check; these are written from its API reference (1.55).

/** An encoded frame. */
export class EncodedPacket {
  constructor(
    data: Uint8Array,
    type: "key" | "delta",
    timestamp: number,
    duration: number,
  );
  readonly data: Uint8Array;
  readonly type: "key" | "delta";
  /** Seconds. */
  readonly timestamp: number;
  /** Seconds. */
  readonly duration: number;
}

export type StreamTargetChunk = { type: "write"; data: Uint8Array; position: number };

export abstract class Target {}
export class StreamTarget extends Target {
  constructor(
    writable: WritableStream<StreamTargetChunk>,
    options?: { chunked?: boolean; chunkSize?: number },
  );
}

export abstract class OutputFormat {}
export class WebMOutputFormat extends OutputFormat {
  constructor(options?: { appendOnly?: boolean; minimumClusterDuration?: number });
}

export class EncodedVideoPacketSource {
  constructor(codec: "vp8");
  add(packet: EncodedPacket, meta?: { decoderConfig?: VideoDecoderConfig }): Promise<void>;
  close(): void;
}
export class EncodedAudioPacketSource {
  constructor(codec: "opus");
  add(packet: EncodedPacket, meta?: { decoderConfig?: AudioDecoderConfig }): Promise<void>;
  close(): void;
}
export class TextSubtitleSource {
  constructor(codec: "webvtt");
  add(text: string): Promise<void>;
  close(): void;
}

export class Output {
  constructor(options: { format: OutputFormat; target: Target });
  addVideoTrack(source: EncodedVideoPacketSource, metadata?: { frameRate?: number }): void;
  addAudioTrack(source: EncodedAudioPacketSource): void;
  addSubtitleTrack(
    source: TextSubtitleSource,
    metadata?: { languageCode?: string; name?: string },
  ): void;
  start(): Promise<void>;
  finalize(): Promise<void>;
  cancel(): Promise<void>;
}

export abstract class Source {}
export class CustomSource extends Source {
  constructor(options: {
    getSize(): number | Promise<number>;
    read(start: number, end: number): Uint8Array | Promise<Uint8Array>;
    maxCacheSize?: number;
  });
}

export abstract class InputFormat {}
export const WEBM: InputFormat;

export interface InputTrack {
  getDecoderConfig(): Promise<VideoDecoderConfig | AudioDecoderConfig | null>;
}
export class Input {
  constructor(options: { formats: InputFormat[]; source: Source });
  getPrimaryVideoTrack(): Promise<InputTrack | null>;
  getPrimaryAudioTrack(): Promise<InputTrack | null>;
  /** Seconds. */
  computeDuration(): Promise<number>;
  dispose(): void;
}

export class EncodedPacketSink {
  constructor(track: InputTrack);
  packets(): AsyncGenerator<EncodedPacket, void, unknown>;
}
