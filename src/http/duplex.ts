/**
 * A Node `Duplex` over a ByteStream: the way in for Node's `tls` (TLSSocket wraps any Duplex)
 * and `http2` (a session runs over any Duplex) on top of our own TCP. The opposite direction
 * of node-net-adapter.ts, which puts a Node socket under the ByteStream contract.
 *
 * Backpressure both ways:
 * - out: _write hands the chunk to the ByteStream at once (by reference: chunks that Node's
 *   stream layers give us are theirs no more) and completes the write only while the
 *   transport has less than `highWaterBytes` queued; otherwise the callback waits for onDrain,
 *   so the Writable's own buffer fills and whoever writes above (TLS, nghttp2) sees write()
 *   return false.
 * - in: onData copies the bytes (they are valid only during the call) and pushes them; when
 *   push() says the readable buffer is full, the transport is paused (our TCP then holds the
 *   data and its receive window closes) until Node calls _read again.
 */
import { Duplex } from 'node:stream';
import type { ByteStream, StreamHandler } from '../stream/byte-stream.js';
import type { HttpMemory } from './options.js';

export interface ByteStreamDuplexOptions {
  /** Complete writes while the transport has less than this queued. Default 256 KiB. */
  highWaterBytes?: number;
  /** Readable buffer size before the transport is paused. Default 64 KiB. */
  readableHighWaterMark?: number;
  /**
   * The TCP memory budget: what this Duplex has handed to the transport and the transport still
   * holds is charged as 'send' to it (settled on onDrain and settle()).
   */
  memory?: HttpMemory;
}

export class ByteStreamDuplex extends Duplex implements StreamHandler {
  private pendingWrite: ((err?: Error | null) => void) | null = null;
  private transportClosed = false;
  private paused = false;
  private ended = false;
  private readonly highWater: number;
  private readonly memory: HttpMemory | undefined;
  /** Of bytesOut, what the transport had sent when last looked at (the rest is charged). */
  private settled = 0;
  /** Bytes received from the transport, and written to it. */
  bytesIn = 0;
  bytesOut = 0;
  /** Called after the transport's onDrain (the writer above may be waiting on the transport). */
  afterDrain: (() => void) | null = null;

  constructor(
    readonly stream: ByteStream,
    options: ByteStreamDuplexOptions = {},
  ) {
    // allowHalfOpen: the peer's FIN ends our readable side only; our FIN goes out when the
    // writer above ends (TLS close_notify first, then end()).
    super({ allowHalfOpen: true, readableHighWaterMark: options.readableHighWaterMark ?? 64 * 1024, decodeStrings: true });
    this.highWater = options.highWaterBytes ?? 256 * 1024;
    this.memory = options.memory;
  }

  get remote(): string {
    return this.stream.remote;
  }

  // ---- StreamHandler (the transport calls these)

  onData(buf: Buffer, off: number, len: number): void {
    if (this.destroyed || len === 0) return;
    this.bytesIn += len;
    const copy = Buffer.allocUnsafe(len);
    buf.copy(copy, 0, off, off + len);
    if (!this.push(copy) && !this.paused && this.stream.pause !== undefined) {
      this.paused = true;
      this.stream.pause();
    }
  }

  /** Releases the budget's charge for what the transport has sent since. */
  settle(): void {
    const m = this.memory;
    if (m === undefined) return;
    const sent = this.bytesOut - this.stream.queuedBytes;
    if (sent > this.settled) {
      m.release('send', sent - this.settled, this.stream);
      this.settled = sent;
    }
  }

  onDrain(): void {
    this.settle();
    const cb = this.pendingWrite;
    if (cb !== null && this.stream.queuedBytes < this.highWater) {
      this.pendingWrite = null;
      cb();
    }
    this.afterDrain?.();
  }

  onEnd(): void {
    if (!this.destroyed) this.push(null);
  }

  onClose(): void {
    this.transportClosed = true;
    const cb = this.pendingWrite;
    this.pendingWrite = null;
    if (cb !== null) cb(new Error('connection closed'));
    if (!this.destroyed) this.destroy();
  }

  // ---- Duplex (Node's stream machinery calls these)

  override _read(): void {
    if (this.paused) {
      this.paused = false;
      this.stream.resume?.();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.transportClosed) {
      callback(new Error('connection closed'));
      return;
    }
    this.stream.write(chunk);
    this.bytesOut += chunk.length;
    this.memory?.charge('send', chunk.length, this.stream);
    if (this.stream.queuedBytes < this.highWater) callback();
    else this.pendingWrite = callback;
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    if (this.transportClosed) {
      callback(new Error('connection closed'));
      return;
    }
    let n = 0;
    for (const c of chunks) {
      this.stream.write(c.chunk);
      n += c.chunk.length;
    }
    this.bytesOut += n;
    this.memory?.charge('send', n, this.stream);
    if (this.stream.queuedBytes < this.highWater) callback();
    else this.pendingWrite = callback;
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (!this.transportClosed) this.stream.end();
    this.ended = true;
    callback();
  }

  /** Resets the transport now (what a ByteStream's abort() above this Duplex should call). */
  abortTransport(): void {
    if (this.transportClosed) return;
    this.transportClosed = true;
    this.stream.abort();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.transportClosed && !this.ended) {
      // Destroyed from above with the transport still open: an error resets it; a plain
      // destroy() (e.g. TLS done after the peer's FIN) sends what is queued, then FIN.
      if (err !== null) this.abortTransport();
      else this.stream.end();
    }
    const cb = this.pendingWrite;
    this.pendingWrite = null;
    cb?.(err ?? new Error('destroyed'));
    callback(err);
  }
}
