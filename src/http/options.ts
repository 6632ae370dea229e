/**
 * What an HttpStaticServer is made with: its limits and their defaults, the memory budget it
 * charges what it buffers to, and the rest of its options. See README ("Limits and timers").
 */
import type { ByteStream } from '../stream/byte-stream.js';

export interface HttpLimits {
  /** Longest request line in bytes (414 beyond). Default 8 KiB. */
  maxRequestLine: number;
  /** Longest request head in bytes (431 beyond). Default 16 KiB. */
  maxHeaderBytes: number;
  /** Most header fields (431 beyond). Default 100. */
  maxHeaderCount: number;
  /** Time allowed to receive a complete request head, from the connection's start or the first byte of the request. Default 10 s. */
  headerTimeoutMs: number;
  /** A keep-alive connection with nothing to do is closed after this long. Default 30 s. */
  idleTimeoutMs: number;
  /** Largest request body skipped (we serve GET/HEAD only); larger → 413. Default 8 KiB. */
  maxBodyBytes: number;
  /** Abort a connection whose peer has not taken any queued byte for this long. Default 60 s. */
  sendTimeoutMs: number;
  /** Requests parsed ahead of the one being answered. Default 64. */
  maxPipelineDepth: number;
  /**
   * Minimum send rate: while bytes are queued, the peer must take at least minSendBytes per
   * minSendWindowMs, or it is aborted (send-rate-too-low). 0 = off. Default 16 KiB per 30 s.
   */
  minSendBytes: number;
  minSendWindowMs: number;
  /**
   * Unparsed input beyond which a connection that cannot parse further (its responses are
   * backed up) pauses its transport, so that TCP closes its window (at once while memory is
   * tight). Default 4 KiB.
   */
  inputPauseBytes: number;
}

export const DEFAULT_LIMITS: Readonly<HttpLimits> = {
  maxRequestLine: 8 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxBodyBytes: 8 * 1024,
  sendTimeoutMs: 60_000,
  maxPipelineDepth: 64,
  minSendBytes: 16 * 1024,
  minSendWindowMs: 30_000,
  inputPauseBytes: 4 * 1024,
};

/**
 * Where the server charges the bytes it buffers (the transport's memory budget, see
 * src/tcp/budget.ts): its unparsed input buffers ('pipelined') and the file chunks it has read
 * and not yet seen acknowledged ('send'). `tight()`: memory is short, read no more ahead.
 */
export interface HttpMemory {
  /** `stream`: whose bytes they are (a TCP connection of ours counts them for its client address). */
  charge(kind: 'pipelined' | 'send', bytes: number, stream: ByteStream): void;
  release(kind: 'pipelined' | 'send', bytes: number, stream: ByteStream): void;
  tight(stream: ByteStream): boolean;
}

export interface HttpStaticServerOptions {
  wwwRoot: string;
  cacheSizeBytes: number;
  limits?: Partial<HttpLimits>;
  /** Server header; default "vpp-server/<version>". */
  serverName?: string;
  /** Largest file kept in the cache; bigger ones are streamed. Default min(cacheSizeBytes / 2, 64 MiB). */
  maxCachedFileBytes?: number;
  /** How long a cached entry is trusted before its file is stat'ed again. Default 1000 ms. */
  revalidateMs?: number;
  /** Read size when streaming. Default 256 KiB. */
  streamChunkBytes?: number;
  /** Keep reading while the stream has less than this queued. Default 2 MiB. */
  streamHighWaterBytes?: number;
  /** Timer sweep period (timeouts, background revalidation). Default max(10, min(250, revalidateMs / 4, min(header, idle timeout) / 4)) ms. */
  sweepIntervalMs?: number;
  /** The memory budget to charge buffered bytes to; none by default. */
  memory?: HttpMemory;
  /** Clock (ms) for timeouts; Date.now by default (tests inject their own and call sweep()). */
  now?: () => number;
}
