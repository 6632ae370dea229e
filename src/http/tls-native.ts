/**
 * The native TLS engine (native/tls_engine.c, build/Release/tls_engine.node, an addon of its own
 * so that a Node without exported OpenSSL symbols loses only this engine, not AF_PACKET): Node's own OpenSSL (the symbols Node 20's binary
 * exports) driven over memory BIOs from the addon, with no JS streams in between. Ciphertext from
 * our TCP ByteStream goes in, plaintext comes out synchronously to the HTTP/1.1 server (or to a
 * ByteStreamDuplex under Node's http2, for ALPN h2); answers are encrypted into records and handed
 * back to TCP inside the same vector.
 *
 * `NativeTlsSession` is both sides of one connection: the TLS listener feeds it what TCP delivers
 * (feed/tcpDrain/tcpEnd/tcpClose), and it is the ByteStream the application writes plaintext to.
 *
 * Output backpressure: plaintext the application writes is queued here and encrypted while TCP
 * holds less than `HIGH_WATER` bytes (256 KiB, as the Node path's ByteStreamDuplex), the rest when
 * TCP drains; `queuedBytes` counts both, so the HTTP server's own backpressure sees the total.
 */
import { tryLoadPackageAddon } from '../wire/addon.js';
import type { ByteStream, StreamHandler } from '../stream/byte-stream.js';
import type { HttpMemory } from './options.js';

/** An SSL_CTX or an SSL, opaque to JS. */
export type NativeHandle = { readonly __native: unique symbol };

export interface TlsEngineAddon {
  tlsContextNew(cert: Buffer, key: Buffer, ciphers12: string, suites13: string, groups: string, alpnWire: Buffer, ticketKeys: Buffer, sessionTimeout: number): NativeHandle;
  tlsSetState(state: Int32Array, plaintext: Buffer): void;
  tlsConnNew(ctx: NativeHandle): NativeHandle;
  /** The plaintext: its length in the shared plaintext Buffer, a Buffer of its own when it did not fit, or null. */
  tlsFeed(conn: NativeHandle, buf: Buffer, off: number, len: number): number | Buffer | null;
  tlsTakeOutput(conn: NativeHandle): Buffer | null;
  /** With a target big enough, the records go into it: state[3] = 1, state[1] = their length. */
  tlsWritev(conn: NativeHandle, chunks: Buffer[], n: number, maxBytes: number, target?: Buffer): number;
  tlsShutdown(conn: NativeHandle): void;
  tlsInfo(conn: NativeHandle): [string, boolean, string | false];
  tlsErrorText(conn: NativeHandle): string;
  tlsFree(conn: NativeHandle): void;
  tlsLive(): number;
  /** OpenSSL_version() as the engine sees it: Node's (process.versions.openssl). */
  opensslVersion: string;
}

const FLAG_DONE = 1;
const FLAG_PEER_CLOSED = 2;
const FLAG_FATAL = 4;

/** The class of a fatal error (state[2]). */
export const ERRCLASS_PROTOCOL = 1;
export const ERRCLASS_CIPHER = 2;
/** TLS 1.3 KeyUpdates over the engine's rate limit (a burst of 32, then 1 a second per connection). */
export const ERRCLASS_KEY_UPDATE = 4;

/** Encrypt while TCP holds less than this. */
const HIGH_WATER = 256 * 1024;
/** At least this much is encrypted per flush when TCP has room at all (one full record). */
const MIN_BATCH = 16 * 1024;
/**
 * Bulk output (a batch above SLAB_FROM bytes) is encrypted straight into a slab: a Buffer of the
 * thread's pool that goes back to the pool once TCP has sent it (bytes written − queuedBytes
 * covers it). No allocation per batch, so a 10 MB answer makes no garbage (an external Buffer per
 * batch made V8 run major GCs). Small output (an answer to a keep-alive request) is copied into
 * a Buffer of its own, as it was.
 */
const SLAB = 64 * 1024;
/** Plaintext per slab: room for the records' overhead (64 bytes per record, as the engine reserves). */
const SLAB_PLAIN = SLAB - 64 * (SLAB / 16384 + 2);
const SLAB_FROM = 16 * 1024;
const SLAB_POOL_MAX = 64;
const slabPool: Buffer[] = [];

let addon: TlsEngineAddon | null | undefined;
/** [flags, pending output bytes, error class, unused]: written by every call that reports. */
const state = new Int32Array(new ArrayBuffer(16));
/**
 * Where tlsFeed leaves the plaintext of one call when it fits (the common case: no allocation per
 * request). Handlers get it as onData(buf, off, len), valid only during the call (the contract).
 */
const plainShared = Buffer.from(new ArrayBuffer(64 * 1024));

/**
 * Whether OpenSSL_version() ("OpenSSL 3.0.15+quic 3 Sep 2024") names the OpenSSL Node reports
 * (process.versions.openssl, "3.0.15+quic" or "3.0.19"): the version word, with or without a
 * "+suffix" (review L4: Node builds on quictls say "+quic" in both, which the check refused).
 */
export function sameOpenssl(addonVersion: string, nodeVersion: string): boolean {
  const word = addonVersion.split(' ')[1] ?? '';
  return word !== '' && (word === nodeVersion || word.split('+')[0] === nodeVersion.split('+')[0]);
}

/** The engine, or null when the addon is not built or predates it. */
export function nativeTls(): TlsEngineAddon | null {
  if (addon !== undefined) return addon;
  const a = tryLoadPackageAddon<Partial<TlsEngineAddon>>('tls_engine');
  // The engine must run on the very OpenSSL Node runs on (one library, one set of headers).
  if (a === undefined || typeof a.tlsContextNew !== 'function' || !sameOpenssl(String(a.opensslVersion), process.versions.openssl)) {
    addon = null;
    return null;
  }
  addon = a as TlsEngineAddon;
  addon.tlsSetState(state, plainShared);
  return addon;
}

/** SSL objects alive in this process (tests check that it returns to 0). */
export function nativeTlsLive(): number {
  return nativeTls()?.tlsLive() ?? 0;
}

/** ALPN protocol names in wire format (length-prefixed). */
export function alpnWire(protocols: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of protocols) {
    const b = Buffer.from(p, 'latin1');
    parts.push(Buffer.from([b.length]), b);
  }
  return Buffer.concat(parts);
}

export interface NativeTlsHooks {
  /** The handshake completed: set session.handler (the plaintext consumer). */
  onSecure(session: NativeTlsSession): void;
  /** The handshake failed (errClass: 1 protocol, 2 cipher, else other). */
  onHandshakeFailed(session: NativeTlsSession, errClass: number, text: string): void;
  /**
   * After the handshake, OpenSSL refused a record, or the peer sent a KeyUpdate flood (errClass
   * ERRCLASS_KEY_UPDATE): the connection is closed.
   */
  onRecordError(session: NativeTlsSession, text: string, errClass: number): void;
}

export class NativeTlsSession implements ByteStream {
  /** The TLS listener's record of this connection (admission, counters). */
  tracked: unknown = null;
  /** The plaintext consumer, once the handshake is done. */
  handler: StreamHandler | null = null;
  secure = false;
  protocol = '';
  resumed = false;
  alpn: string | false = false;
  private conn: NativeHandle | null;
  private readonly out: Buffer[] = [];
  private pending = 0;
  /** Ciphertext bytes handed to TCP; minus tcp.queuedBytes, those it has sent. */
  private cipherWritten = 0;
  /** Of cipherWritten, what TCP had sent when last looked at: the rest is charged to the budget as 'send'. */
  private cipherSettled = 0;
  /** Slabs TCP may still hold, in order, each with the cipherWritten its last byte ends at. */
  private readonly slabs: Array<{ buf: Buffer; end: number }> = [];
  private flushQueued = false;
  /** Inside feed(): writes are flushed when it returns (they leave in this vector's batch). */
  private inFeed = false;
  /** end()/close() was asked: close_notify then FIN once the queue is encrypted. */
  private ending: 'end' | 'close' | null = null;
  private finished = false;
  private gone = false;
  private handlerClosed = false;
  private readonly flushTick = (): void => {
    this.flushQueued = false;
    this.flush();
  };

  constructor(
    private readonly engine: TlsEngineAddon,
    readonly tcp: ByteStream,
    ctx: NativeHandle,
    private readonly hooks: NativeTlsHooks,
    /** The TCP memory budget: ciphertext TCP holds is charged as 'send' to the TCP connection (review M3). */
    private readonly memory?: HttpMemory,
  ) {
    this.conn = engine.tlsConnNew(ctx);
  }

  get remote(): string {
    return this.tcp.remote;
  }

  get queuedBytes(): number {
    return this.pending + this.tcp.queuedBytes;
  }

  // ---- ByteStream (the application above calls these)

  write(chunk: Buffer): void {
    if (this.gone || this.ending !== null || chunk.length === 0) return;
    this.out.push(chunk);
    this.pending += chunk.length;
    if (!this.inFeed && !this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flushTick);
    }
  }

  end(): void {
    if (this.gone || this.ending !== null) return;
    this.ending = 'end';
    this.flush();
  }

  close(): void {
    if (this.gone || this.ending === 'close') return;
    this.ending = 'close';
    this.flush();
  }

  abort(): void {
    if (this.gone) return;
    this.release();
    this.tcp.abort();
  }

  pause(): void {
    this.tcp.pause?.();
  }

  resume(): void {
    this.tcp.resume?.();
  }

  // ---- the transport side (the TLS listener calls these with what TCP delivers)

  /** Ciphertext from TCP. */
  feed(buf: Buffer, off: number, len: number): void {
    const conn = this.conn;
    if (conn === null) return;
    const e = this.engine;
    this.inFeed = true;
    let plain: number | Buffer | null;
    let flags: number;
    let errClass: number;
    try {
      plain = e.tlsFeed(conn, buf, off, len);
      flags = state[0]!;
      errClass = state[2]!;
      if (state[1]! > 0) this.sendOutput();
      // A handshake that completed in this call counts as done even if the bytes after its
      // Finished were refused (then it is a record error of an open connection).
      if ((flags & FLAG_DONE) !== 0) {
        const [protocol, resumed, alpn] = e.tlsInfo(conn);
        this.protocol = protocol;
        this.resumed = resumed;
        this.alpn = alpn;
        this.secure = true;
        this.hooks.onSecure(this);
      }
      const h = this.handler;
      if (plain !== null && h !== null && !this.handlerClosed) {
        if (typeof plain === 'number') h.onData(plainShared, 0, plain);
        else h.onData(plain, 0, plain.length);
      }
      if ((flags & FLAG_FATAL) !== 0) {
        this.fatal(errClass);
        return;
      }
      if ((flags & FLAG_PEER_CLOSED) !== 0 && h !== null && !this.handlerClosed) h.onEnd();
    } finally {
      this.inFeed = false;
    }
    if (this.pending > 0 || this.ending !== null) this.flush();
  }

  tcpDrain(): void {
    this.reclaim();
    if (this.pending > 0) this.flush();
    if (!this.handlerClosed) this.handler?.onDrain();
  }

  /** TCP's FIN (without close_notify it is a truncation, but the request may be complete). */
  tcpEnd(): void {
    if (this.secure) {
      if (!this.handlerClosed) this.handler?.onEnd();
      return;
    }
    // FIN during the handshake: nothing will complete it.
    this.release();
    this.tcp.end();
  }

  /**
   * The application is idle (ByteStream.compact, the HTTP server's sweep): once this session
   * holds no plaintext, the slabs TCP has sent go back to the pool, this session's lists give
   * their stores back, and TCP may compact (its send queue, its loss log). Review r/perf: without
   * it an idle HTTPS connection never compacted.
   */
  compact(): void {
    if (this.gone || this.pending > 0) return;
    this.reclaim();
    if (this.out.length === 0) this.out.length = 0;
    if (this.slabs.length === 0) this.slabs.length = 0;
    this.tcp.compact?.();
  }

  /** The TCP connection is gone. */
  tcpClose(): void {
    this.release();
    // TCP holds nothing any more.
    for (const s of this.slabs) if (slabPool.length < SLAB_POOL_MAX) slabPool.push(s.buf);
    this.slabs.length = 0;
    this.closeHandler();
  }

  // ---- inside

  private closeHandler(): void {
    if (this.handlerClosed) return;
    this.handlerClosed = true;
    this.handler?.onClose();
  }

  private sendOutput(): void {
    const conn = this.conn;
    if (conn === null) return;
    const b = this.engine.tlsTakeOutput(conn);
    if (b !== null) this.toTcp(b);
  }

  /**
   * Hands ciphertext to TCP; counts (cipherWritten, the budget) only what TCP took: a connection
   * that has queued its FIN refuses writes, and a refused slab must not make reclaim() think TCP
   * has sent a later one it still holds (review L6). Returns the bytes taken.
   */
  private toTcp(b: Buffer): number {
    const before = this.tcp.queuedBytes;
    this.tcp.write(b);
    const took = this.tcp.queuedBytes - before;
    if (took <= 0) return 0;
    this.cipherWritten += took;
    this.memory?.charge('send', took, this.tcp);
    return took;
  }

  /** Encrypts what is queued, as far as TCP has room; then close_notify + FIN if asked. */
  private flush(): void {
    const conn = this.conn;
    if (conn === null) return;
    const e = this.engine;
    const out = this.out;
    while (this.pending > 0) {
      const room = HIGH_WATER - this.tcp.queuedBytes;
      if (room <= 0 && this.tcp.queuedBytes > 0) break;
      const budget = room < MIN_BATCH ? MIN_BATCH : room;
      let max = this.pending < budget ? this.pending : budget;
      let taken: number;
      if (max > SLAB_FROM) {
        if (max > SLAB_PLAIN) max = SLAB_PLAIN;
        if (this.slabs.length > 0) this.reclaim();
        const slab = slabPool.pop() ?? Buffer.allocUnsafeSlow(SLAB);
        taken = e.tlsWritev(conn, out, out.length, max, slab);
        const n = state[1]!;
        if (state[3] === 1 && n > 0) {
          if (this.toTcp(slab.subarray(0, n)) > 0) this.slabs.push({ buf: slab, end: this.cipherWritten });
          else if (slabPool.length < SLAB_POOL_MAX) slabPool.push(slab);
        } else {
          if (slabPool.length < SLAB_POOL_MAX) slabPool.push(slab);
          if (n > 0) this.sendOutput();
        }
      } else {
        taken = e.tlsWritev(conn, out, out.length, max);
        if (state[1]! > 0) this.sendOutput();
      }
      if ((state[0]! & FLAG_FATAL) !== 0) {
        this.fatal(state[2]!);
        return;
      }
      if (taken <= 0) break;
      this.pending -= taken;
      let left = taken;
      let i = 0;
      while (i < out.length && left >= out[i]!.length) left -= out[i++]!.length;
      if (left > 0) out[i] = out[i]!.subarray(left);
      out.splice(0, i);
    }
    if (this.pending === 0 && this.ending !== null && !this.finished) {
      this.finished = true;
      e.tlsShutdown(conn);
      if (state[1]! > 0) this.sendOutput();
      const how = this.ending;
      if (how === 'close' && this.tcp.close !== undefined) this.tcp.close();
      else this.tcp.end();
    }
  }

  /** OpenSSL gave up (alert, if any, already queued): count it, tell the application, close. */
  private fatal(errClass: number): void {
    const conn = this.conn;
    const text = conn !== null ? this.engine.tlsErrorText(conn) : '';
    const wasSecure = this.secure;
    this.release();
    if (!wasSecure) this.hooks.onHandshakeFailed(this, errClass, text);
    else {
      this.hooks.onRecordError(this, text, errClass);
      this.closeHandler();
    }
    if (this.tcp.close !== undefined) this.tcp.close();
    else this.tcp.end();
  }

  /** Slabs TCP has sent go back to the pool (also called by the listener's sweep for idle connections). */
  reclaim(): void {
    const slabs = this.slabs;
    const sent = this.cipherWritten - this.tcp.queuedBytes;
    if (this.memory !== undefined && sent > this.cipherSettled) {
      this.memory.release('send', sent - this.cipherSettled, this.tcp);
      this.cipherSettled = sent;
    }
    if (slabs.length === 0) return;
    let i = 0;
    while (i < slabs.length && slabs[i]!.end <= sent) {
      if (slabPool.length < SLAB_POOL_MAX) slabPool.push(slabs[i]!.buf);
      i++;
    }
    if (i > 0) slabs.splice(0, i);
  }

  /** Frees the SSL now; the session writes nothing more. */
  private release(): void {
    if (this.gone) return;
    this.gone = true;
    this.out.length = 0;
    this.pending = 0;
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) this.engine.tlsFree(conn);
  }
}
