/**
 * TLS termination over our TCP: each accepted ByteStream becomes a ByteStreamDuplex under a
 * server-side tls.TLSSocket (OpenSSL does the handshake and the records). Once the handshake is
 * done, ALPN decides: `h2` → the HTTP/2 server, anything else → the HTTP/1.1 static server,
 * both sharing one www-root and cache.
 *
 * - Policy: TLS 1.2 and 1.3 only, Mozilla intermediate ciphers (tls-credentials.ts), no
 *   renegotiation, stateless session tickets whose keys survive certificate rotation.
 * - Rotation: the pair's directory is watched (pair-watcher.ts); a good new pair becomes a new
 *   SecureContext that new handshakes use; connections already open keep theirs. A bad pair is
 *   refused (log code TLS_RELOAD_FAILED, counter reload-failed) and the old one stays.
 * - Cost: the time spent inside OpenSSL while a connection handshakes (the synchronous push of
 *   its records into the TLSSocket, which runs the handshake) is the runtime line
 *   `tls-handshake`: Calls = records pushed, Vectors = handshakes completed, so its ns/Packet
 *   column is the cost of one handshake (failed handshakes' time included). The time spent
 *   decrypting afterwards is `tls-input` (Vectors = input chunks).
 */
import { randomBytes } from 'node:crypto';
import tls, { type SecureContext } from 'node:tls';
import { constants as cryptoConstants } from 'node:crypto';
import { ByteStreamDuplex } from './duplex.js';
import { attachSocket } from './node-net-adapter.js';
import type { AcceptHandler, ByteStream, StreamHandler } from '../stream/byte-stream.js';
import type { HttpStaticServer } from './server.js';
import type { Http2StaticServer } from './h2.js';
import { TLS_CIPHERS, TLS_CURVES, TlsPairError, describeCertificate, loadPair, type CertificateInfo, type TlsPair } from './tls-credentials.js';
import { PairWatcher, type PairWatcherOptions } from './pair-watcher.js';

export const TLS_NODE = 'tls-server';

export const TLS_ERROR_REASONS: Readonly<Record<string, string>> = {
  'handshake-failed': 'TLS handshakes that failed (protocol, cipher or record error)',
  'protocol-refused': 'TLS handshakes refused: protocol older than TLS 1.2',
  'no-shared-cipher': 'TLS handshakes refused: no cipher in common',
  'handshake-timeout': 'TLS handshakes not complete in time',
  'handshake-limit': 'connections reset: too many TLS handshakes under way at once',
  'reload-failed': 'certificate reloads refused (unparsable pair or key mismatch)',
};

export type TlsEventLog = (level: 'info' | 'warn', fields: Record<string, unknown>, message: string) => void;

export interface TlsListenerOptions {
  certFile?: string;
  keyFile?: string;
  /** Used when no files are given (a self-signed pair). */
  pair?: TlsPair;
  log?: TlsEventLog;
  /** Handshakes not finished after this long are reset. Default 10 s. */
  handshakeTimeoutMs?: number;
  /**
   * Most handshakes under way at once (default 1024): each holds OpenSSL state (~60 KiB) before
   * the client has proved anything, so a flood of silent connections is bounded by this.
   */
  maxHandshakes?: number;
  /** Watch the files for rotation. Default true when files are given. */
  watch?: boolean;
  watchOptions?: PairWatcherOptions;
}

export interface TlsRuntime {
  calls: number;
  vectors: number;
  nanos: number;
}

export interface TlsStats {
  handshakes: number;
  resumed: number;
  tls12: number;
  tls13: number;
  alpnH2: number;
  alpnHttp11: number;
  reloads: number;
  connectionsOpen: number;
  errors: Record<string, number>;
}

const newRuntime = (): TlsRuntime => ({ calls: 0, vectors: 0, nanos: 0 });

export class TlsListener {
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly errors: Record<string, number> = {};
  /** Runtime lines for `show runtime`: handshake records, and records after the handshake. */
  readonly handshakeRuntime = newRuntime();
  readonly inputRuntime = newRuntime();
  handshakes = 0;
  resumed = 0;
  tls12 = 0;
  tls13 = 0;
  alpnH2 = 0;
  alpnHttp11 = 0;
  reloads = 0;
  readonly accept: AcceptHandler;
  private pairNow: TlsPair;
  private context: SecureContext;
  private readonly ticketKeys = randomBytes(48);
  private readonly watcher: PairWatcher | null = null;
  private readonly log: TlsEventLog;
  private readonly open = new Set<Tracked>();
  private readonly sweep: NodeJS.Timeout;
  private readonly handshakeTimeoutMs: number;
  private readonly maxHandshakes: number;
  private handshakesNow = 0;

  constructor(
    private readonly http: HttpStaticServer,
    private readonly h2: Http2StaticServer | null,
    options: TlsListenerOptions,
  ) {
    for (const r of Object.keys(TLS_ERROR_REASONS)) this.errors[r] = 0;
    this.log = options.log ?? (() => undefined);
    this.certFile = options.certFile;
    this.keyFile = options.keyFile;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.maxHandshakes = options.maxHandshakes ?? 1024;
    if (options.certFile !== undefined && options.keyFile !== undefined) {
      this.pairNow = loadPair(options.certFile, options.keyFile);
    } else if (options.pair !== undefined) {
      this.pairNow = options.pair;
    } else {
      throw new Error('a TLS listener needs cert and key files, or a pair');
    }
    try {
      this.context = this.makeContext(this.pairNow);
    } catch (err) {
      throw new TlsPairError(
        'refused-by-openssl',
        `OpenSSL refuses this certificate/key (${(err as Error).message}): use an RSA key of at least 2048 bits or an ECDSA P-256/P-384 key, with a SHA-256 (or stronger) signature`,
      );
    }
    if (options.certFile !== undefined && options.keyFile !== undefined && options.watch !== false) {
      this.watcher = new PairWatcher([options.certFile, options.keyFile], () => this.reload(), options.watchOptions);
    }
    this.sweep = setInterval(() => this.sweepHandshakes(performance.now()), Math.min(1000, Math.max(10, this.handshakeTimeoutMs / 4)));
    this.sweep.unref();
    this.accept = (stream) => this.acceptStream(stream);
  }

  get pair(): TlsPair {
    return this.pairNow;
  }

  certificate(): CertificateInfo {
    return describeCertificate(this.pairNow);
  }

  stats(): TlsStats {
    return {
      handshakes: this.handshakes,
      resumed: this.resumed,
      tls12: this.tls12,
      tls13: this.tls13,
      alpnH2: this.alpnH2,
      alpnHttp11: this.alpnHttp11,
      reloads: this.reloads,
      connectionsOpen: this.open.size,
      errors: { ...this.errors },
    };
  }

  private makeContext(pair: TlsPair): SecureContext {
    return tls.createSecureContext({
      cert: pair.certPem,
      key: pair.keyPem,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
      ciphers: TLS_CIPHERS,
      ecdhCurve: TLS_CURVES,
      // Mozilla intermediate: the client's preference (all offered suites are strong).
      honorCipherOrder: false,
      // Secure renegotiation (RFC 5746) is still signalled; renegotiating is refused.
      secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
      ticketKeys: this.ticketKeys,
      sessionTimeout: 7200,
    });
  }

  /**
   * Re-reads the files. A good pair replaces the context for new handshakes; a bad one is
   * refused and logged. Returns what happened (tests, the CLI).
   */
  reload(): 'reloaded' | 'unchanged' | 'refused' {
    if (this.certFile === undefined || this.keyFile === undefined) return 'unchanged';
    let next: TlsPair;
    let context: SecureContext;
    try {
      next = loadPair(this.certFile, this.keyFile);
      if (next.certPem.equals(this.pairNow.certPem) && next.keyPem.equals(this.pairNow.keyPem)) return 'unchanged';
      // OpenSSL may refuse a pair that parses and matches (a key too small for its security
      // level, a weak signature): building the context is part of the check, so such a pair is
      // refused like any other and the old one keeps serving.
      context = this.makeContext(next);
    } catch (err) {
      const reason = err instanceof TlsPairError ? err.reason : (err as { code?: string }).code?.startsWith('ERR_SSL') ? 'refused-by-openssl' : 'unreadable';
      this.errors['reload-failed']!++;
      const cur = describeCertificate(this.pairNow);
      this.log(
        'warn',
        { code: 'TLS_RELOAD_FAILED', reason, cert: this.certFile, key: this.keyFile, serving: cur.fingerprint256 },
        `TLS certificate reload refused: ${(err as Error).message}; still serving the previous certificate (subject ${cur.subject}, not after ${cur.notAfter})`,
      );
      return 'refused';
    }
    this.context = context;
    this.pairNow = next;
    this.reloads++;
    const info = describeCertificate(next);
    this.log(
      'info',
      { code: 'TLS_RELOADED', cert: this.certFile, subject: info.subject, notAfter: info.notAfter, fingerprint: info.fingerprint256 },
      `TLS certificate reloaded: new handshakes use ${info.subject} (not after ${info.notAfter}); open connections keep theirs`,
    );
    return 'reloaded';
  }

  private acceptStream(stream: ByteStream): StreamHandler {
    if (this.handshakesNow >= this.maxHandshakes) {
      this.errors['handshake-limit']!++;
      stream.abort();
      return { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
    }
    const duplex = new ByteStreamDuplex(stream);
    const t: Tracked = { duplex, started: performance.now(), handshaking: true, socket: null };
    this.handshakesNow++;
    this.open.add(t);
    const t0 = process.hrtime.bigint();
    const socket = new tls.TLSSocket(duplex, {
      isServer: true,
      secureContext: this.context,
      ALPNProtocols: this.h2 !== null ? ['h2', 'http/1.1'] : ['http/1.1'],
      requestCert: false,
    });
    t.socket = socket;
    this.record(this.handshakeRuntime, t0, 0);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (t.handshaking) this.handshakeFailed(t, err);
    });
    socket.on('close', () => {
      this.endHandshake(t);
      this.open.delete(t);
    });
    socket.once('secure', () => this.secured(t, socket));
    return {
      onData: (buf, off, len) => {
        const start = process.hrtime.bigint();
        duplex.onData(buf, off, len);
        if (t.handshaking) this.record(this.handshakeRuntime, start, 0);
        else this.record(this.inputRuntime, start, 1);
      },
      onDrain: () => duplex.onDrain(),
      onEnd: () => duplex.onEnd(),
      onClose: () => {
        this.endHandshake(t);
        this.open.delete(t);
        duplex.onClose();
      },
    };
  }

  /** One call into OpenSSL; `vectors` counts handshakes completed (tls-handshake) or input chunks (tls-input). */
  private record(r: TlsRuntime, start: bigint, vectors: number): void {
    r.calls++;
    r.vectors += vectors;
    r.nanos += Number(process.hrtime.bigint() - start);
  }

  /** A handshake ended (done, failed, timed out or its connection went): one fewer under way. */
  private endHandshake(t: Tracked): void {
    if (!t.handshaking) return;
    t.handshaking = false;
    this.handshakesNow--;
  }

  private handshakeFailed(t: Tracked, err: NodeJS.ErrnoException): void {
    this.endHandshake(t);
    const text = `${err.code ?? ''} ${err.message}`;
    if (/UNSUPPORTED_PROTOCOL|VERSION_TOO_LOW|unsupported protocol/i.test(text)) this.errors['protocol-refused']!++;
    else if (/NO_SHARED_CIPHER|no shared cipher|NO_CIPHERS/i.test(text)) this.errors['no-shared-cipher']!++;
    else this.errors['handshake-failed']!++;
  }

  private secured(t: Tracked, socket: tls.TLSSocket): void {
    this.endHandshake(t);
    // What tls.Server's own 'secure' listener does before 'secureConnection': http2 waits for a
    // 'secureConnect' that a server-side socket never emits while this is still set.
    (socket as unknown as { secureConnecting: boolean }).secureConnecting = false;
    this.handshakes++;
    this.handshakeRuntime.vectors++;
    if (socket.isSessionReused()) this.resumed++;
    if (socket.getProtocol() === 'TLSv1.3') this.tls13++;
    else this.tls12++;
    const remote = t.duplex.remote;
    if (socket.alpnProtocol === 'h2' && this.h2 !== null) {
      this.alpnH2++;
      // The TLSSocket inherits allowHalfOpen from the Duplex (HTTP/1.1 needs it to finish
      // pipelined answers); an HTTP/2 session has nothing to finish once the peer has closed.
      socket.once('end', () => socket.end());
      this.h2.attach(socket);
      return;
    }
    this.alpnHttp11++;
    attachSocket(socket, this.http.accept, { remote, abort: () => t.duplex.abortTransport() });
  }

  private sweepHandshakes(now: number): void {
    for (const t of this.open) {
      if (t.handshaking && now - t.started > this.handshakeTimeoutMs) {
        this.endHandshake(t);
        this.errors['handshake-timeout']!++;
        t.duplex.abortTransport();
        t.socket?.destroy();
      }
    }
  }

  /** Graceful: nothing to do at the TLS level (the HTTP servers drain their connections). */
  close(): void {
    this.watcher?.close();
    clearInterval(this.sweep);
    for (const t of [...this.open]) {
      t.duplex.abortTransport();
      t.socket?.destroy();
    }
    this.open.clear();
  }
}

interface Tracked {
  duplex: ByteStreamDuplex;
  started: number;
  handshaking: boolean;
  socket: tls.TLSSocket | null;
}
