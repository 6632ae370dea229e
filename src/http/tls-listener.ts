/**
 * TLS termination over our TCP. Engine 'native' (default when built): each accepted ByteStream
 * gets a NativeTlsSession (tls-native.ts, native/tls_engine.c: Node's own OpenSSL over memory BIOs,
 * records in and out synchronously, no JS streams). Engine 'node': a ByteStreamDuplex under a
 * server-side tls.TLSSocket. Once the handshake is done, ALPN decides: `h2` → the HTTP/2 server,
 * anything else → the HTTP/1.1 static server, both sharing one www-root and cache. Everything
 * below holds for both engines.
 *
 * - Admission: no TLSSocket (≈60 KiB of OpenSSL state) until the first record, the ClientHello,
 *   is complete; at most one record is buffered, for at most the hello timeout; bytes that are
 *   no TLS handshake record reset the connection (not-tls). Connections waiting or handshaking
 *   are capped per source address, handshakes under way in total; refusals are counted.
 * - Policy: TLS 1.2 and 1.3 only, Mozilla intermediate ciphers (tls-credentials.ts), no
 *   renegotiation, stateless session tickets whose key is replaced every 12 h (rotateTicketKeys).
 * - Rotation: the pair's directory is watched (pair-watcher.ts); a good new pair becomes a new
 *   SecureContext that new handshakes use; connections already open keep theirs. A bad pair
 *   (unreadable, unparsable, key mismatch after re-reading, expired, not yet valid, refused by
 *   OpenSSL) is refused (log code TLS_RELOAD_FAILED with its reason, counter reload-failed) and
 *   the old one stays. An expired certificate at start-up is served with a TLS_CERT_EXPIRED warning.
 * - Cost: the time spent inside OpenSSL while a connection handshakes (the synchronous push of
 *   its records into the TLSSocket, which runs the handshake) is the runtime line
 *   `tls-handshake`: Calls = records pushed, Vectors = handshakes completed, so its ns/Packet
 *   column is the cost of one handshake (failed handshakes' time included). The time spent
 *   decrypting afterwards is `tls-input` (Vectors = input chunks; one in 16 is timed and scaled).
 */
import { ACQUIRE_COUNT_LIMIT, SharedLimits, type SourceTable } from '../tcp/shared-limits.js';
import { keySource, type SourceAddresses } from '../tcp/source-limits.js';
import { parseIpv6 } from '../wire/ipv6-address.js';
import { parseIpv4 } from '../wire/address.js';
import { randomBytes } from 'node:crypto';
import tls, { type SecureContext } from 'node:tls';
import { constants as cryptoConstants } from 'node:crypto';
import { ByteStreamDuplex } from './duplex.js';
import { attachSocket } from './node-net-adapter.js';
import type { AcceptHandler, ByteStream, StreamHandler } from '../stream/byte-stream.js';
import type { HttpStaticServer } from './server.js';
import type { Http2StaticServer } from './h2.js';
import {
  TLS12_CIPHERS,
  TLS13_CIPHERSUITES,
  TLS_CIPHERS,
  TLS_CURVES,
  TlsPairError,
  describeCertificate,
  loadPair,
  validityProblem,
  type CertificateInfo,
  type PairFileReader,
  type TlsPair,
  type TlsPairReason,
} from './tls-credentials.js';
import { PairWatcher, type PairWatcherOptions } from './pair-watcher.js';
import { type DenseMember, DenseSet } from '../stream/dense-set.js';
import { ERRCLASS_CIPHER, ERRCLASS_KEY_UPDATE, ERRCLASS_PROTOCOL, NativeTlsSession, alpnWire, nativeTls, type NativeHandle, type NativeTlsHooks, type TlsEngineAddon } from './tls-native.js';
import { housekeeping, type HousekeepingTask } from '../util/housekeeping.js';

export const TLS_NODE = 'tls-server';

export const TLS_ERROR_REASONS: Readonly<Record<string, string>> = {
  'handshake-failed': 'TLS handshakes that failed (protocol, cipher or record error)',
  'protocol-refused': 'TLS handshakes refused: protocol older than TLS 1.2',
  'no-shared-cipher': 'TLS handshakes refused: no cipher in common',
  'handshake-timeout': 'TLS handshakes not complete in time',
  'hello-timeout': 'connections reset: no complete ClientHello record in time',
  'not-tls': 'connections reset: the first bytes are not a TLS handshake record',
  'handshake-limit': 'connections reset: too many TLS handshakes under way at once',
  'handshake-limit-source': 'connections reset: too many TLS handshakes under way from one address',
  'record-error': 'TLS connections closed after the handshake: a record OpenSSL refused (bad MAC, bad record, protocol error)',
  // The native engine only: Node's TLSSocket has no hook on received handshake messages, so the
  // node engine ($VPP_TLS_ENGINE=node) neither limits nor counts KeyUpdates.
  'key-update-flood': 'TLS connections closed: TLS 1.3 KeyUpdates over the rate limit, a burst of 32 then 1 a second (native engine)',
  'reload-failed': 'certificate reloads refused (unreadable, unparsable, key mismatch, expired, not yet valid)',
};

/** Reasons a reload is refused, each a label of the reload-failure metric. */
export const TLS_RELOAD_REASONS: readonly TlsPairReason[] = ['unreadable', 'bad-certificate', 'bad-key', 'key-mismatch', 'refused-by-openssl', 'expired', 'not-yet-valid'];

export type TlsEventLog = (level: 'info' | 'warn', fields: Record<string, unknown>, message: string) => void;

/** The timer a listener rotates its session-ticket keys with (injected by tests). */
export interface TicketTimer {
  every(ms: number, fn: () => void): { cancel(): void };
}

const realTicketTimer: TicketTimer = {
  every(ms, fn) {
    const h = setInterval(fn, ms);
    h.unref();
    return { cancel: () => clearInterval(h) };
  },
};

/**
 * Which TLS engine runs the records: 'native' (native/tls_engine.c: Node's own OpenSSL over memory
 * BIOs, no JS streams) or 'node' (a tls.TLSSocket over a ByteStreamDuplex). Both use the same
 * OpenSSL, policy, admission, counters and runtime lines.
 */
export type TlsEngineName = 'node' | 'native';

/**
 * The default engine: $VPP_TLS_ENGINE if it says node or native, else native when the addon has
 * it (it is built with the AF_PACKET addon), else node.
 */
export function defaultTlsEngine(): TlsEngineName {
  const env = process.env['VPP_TLS_ENGINE'];
  if (env === 'node') return 'node';
  if (env === 'native' && nativeTls() !== null) return 'native';
  return nativeTls() !== null ? 'native' : 'node';
}

export interface TlsListenerOptions {
  /**
   * Where the TCP stack's IPv6 handles become addresses (the dataplane's ip6Peers): a source is
   * then keyed as TCP keys it (source-limits.ts keySource: IPv6 by /64, link-local by address and
   * zone). Without it, by the stream's remote text.
   */
  addresses?: SourceAddresses;
  /** The TLS engine (default defaultTlsEngine()). */
  engine?: TlsEngineName;
  certFile?: string;
  keyFile?: string;
  /** Used when no files are given (a self-signed pair). */
  pair?: TlsPair;
  log?: TlsEventLog;
  /** Handshakes not finished after this long are reset. Default 10 s. */
  handshakeTimeoutMs?: number;
  /**
   * A connection whose first TLS record (the ClientHello) is not complete after this long is
   * reset. Default min(5 s, handshakeTimeoutMs).
   */
  helloTimeoutMs?: number;
  /**
   * Most handshakes under way at once (default 1024): each holds OpenSSL state (~60 KiB) from its
   * ClientHello until it completes, so a flood of half-done handshakes is bounded by this.
   */
  maxHandshakes?: number;
  /**
   * Most connections from one address that are waiting for their ClientHello or handshaking
   * (default 64): one client cannot take every handshake slot.
   */
  maxHandshakesPerSource?: number;
  /**
   * Where the caps are counted: the process's shared limits (tcp/shared-limits.ts), so that the
   * caps hold for all TLS listeners of all worker threads together; absent: this listener's own.
   */
  shared?: SharedLimits;
  /** Session-ticket keys are replaced this often (default 12 h; 0 = never). */
  ticketKeyRotationMs?: number;
  ticketTimer?: TicketTimer;
  /** Wall clock (ms since the epoch) for certificate validity. Default Date.now. */
  now?: () => number;
  /** Monotonic clock (ms) for the handshake timeouts. Default performance.now. */
  monotonic?: () => number;
  /** How the pair's files are read (tests interleave a rotation between the two reads). */
  readFile?: PairFileReader;
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
  /** Refused reloads by reason (their sum is errors['reload-failed']). */
  reloadFailures: Record<string, number>;
  ticketKeyRotations: number;
  connectionsOpen: number;
  /** Connections whose ClientHello record is not complete yet (no OpenSSL state). */
  awaitingHello: number;
  /** Handshakes under way (a TLSSocket each). */
  handshaking: number;
  errors: Record<string, number>;
}

const newRuntime = (): TlsRuntime => ({ calls: 0, vectors: 0, nanos: 0 });

/** The handler of a connection refused at accept: it was reset, nothing will come. */
const REFUSED: StreamHandler = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };

/** TLS record header: content type, version (2), length (2). */
const RECORD_HEADER = 5;
const CONTENT_HANDSHAKE = 0x16;
/** RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_PLAINTEXT_RECORD = 16384;
/** Post-handshake input chunks timed for `tls-input`: one in this many, scaled. */
const INPUT_SAMPLE_EVERY = 16;

export class TlsListener {
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly errors: Record<string, number> = {};
  readonly reloadFailures: Record<string, number> = {};
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
  ticketKeyRotations = 0;
  readonly accept: AcceptHandler;
  private pairNow: TlsPair;
  readonly engine: TlsEngineName;
  /** The node engine's context (null with the native engine). */
  private context: SecureContext | null = null;
  /** The native engine's SSL_CTX (null with the node engine). */
  private nativeCtx: NativeHandle | null = null;
  private readonly native: TlsEngineAddon | null;
  private readonly nativeHooks: NativeTlsHooks;
  /** 80 bytes: the native engine's ticket key (name, HMAC, AES); the node engine uses its first 48. */
  private ticketKeys = randomBytes(80);
  private readonly watcher: PairWatcher | null = null;
  private readonly log: TlsEventLog;
  /** Open connections (a DenseSet, not a Set: see dense-set.ts). */
  private readonly open = new DenseSet<Tracked>();
  private readonly sweep: HousekeepingTask;
  private readonly ticketRotation: { cancel(): void } | null = null;
  private readonly handshakeTimeoutMs: number;
  private readonly helloTimeoutMs: number;
  private readonly maxHandshakes: number;
  private readonly maxPerSource: number;
  private readonly addresses: SourceAddresses | undefined;
  private readonly now: () => number;
  private readonly monotonic: () => number;
  private readonly readFile: PairFileReader | undefined;
  private handshakesNow = 0;
  /** Handshakes under way and connections waiting or handshaking per source (shared-limits.ts). */
  private readonly caps: SharedLimits;
  private inputSample = 0;
  /** Inside input(): answers corked meanwhile are flushed when it returns (see flushSoon). */
  private inInput = false;
  private readonly flushes: Array<() => void> = [];
  private readonly flushSoon = (flush: () => void): void => {
    if (this.inInput) this.flushes.push(flush);
    else process.nextTick(flush);
  };

  constructor(
    private readonly http: HttpStaticServer,
    private readonly h2: Http2StaticServer | null,
    options: TlsListenerOptions,
  ) {
    for (const r of Object.keys(TLS_ERROR_REASONS)) this.errors[r] = 0;
    for (const r of TLS_RELOAD_REASONS) this.reloadFailures[r] = 0;
    this.log = options.log ?? (() => undefined);
    this.certFile = options.certFile;
    this.keyFile = options.keyFile;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.helloTimeoutMs = options.helloTimeoutMs ?? Math.min(5000, this.handshakeTimeoutMs);
    this.maxHandshakes = options.maxHandshakes ?? 1024;
    this.maxPerSource = options.maxHandshakesPerSource ?? 64;
    this.addresses = options.addresses;
    this.caps = options.shared ?? SharedLimits.create({ threads: 1, sources: 0, tlsSources: 2 * this.maxHandshakes });
    this.now = options.now ?? Date.now;
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.readFile = options.readFile;
    this.engine = options.engine ?? defaultTlsEngine();
    this.native = this.engine === 'native' ? nativeTls() : null;
    if (this.engine === 'native' && this.native === null) throw new Error('the native TLS engine is not built (npm run build:native)');
    this.nativeHooks = {
      onSecure: (s) => this.securedNative(s),
      onHandshakeFailed: (s, cls, text) => this.handshakeFailedNative(s, cls, text),
      onRecordError: (_s, _text, cls) => void this.errors[cls === ERRCLASS_KEY_UPDATE ? 'key-update-flood' : 'record-error']!++,
    };
    if (options.certFile !== undefined && options.keyFile !== undefined) {
      this.pairNow = loadPair(options.certFile, options.keyFile, this.readFile);
    } else if (options.pair !== undefined) {
      this.pairNow = options.pair;
    } else {
      throw new Error('a TLS listener needs cert and key files, or a pair');
    }
    try {
      this.installContext(this.makeContext(this.pairNow));
    } catch (err) {
      throw new TlsPairError(
        'refused-by-openssl',
        `OpenSSL refuses this certificate/key (${(err as Error).message}): use an RSA key of at least 2048 bits or an ECDSA P-256/P-384 key, with a SHA-256 (or stronger) signature`,
      );
    }
    this.warnIfInvalidAtStart();
    if (options.certFile !== undefined && options.keyFile !== undefined && options.watch !== false) {
      this.watcher = new PairWatcher([options.certFile, options.keyFile], () => this.reload(), options.watchOptions);
    }
    const shortest = Math.min(this.handshakeTimeoutMs, this.helloTimeoutMs);
    this.sweep = housekeeping.every(Math.min(1000, Math.max(10, shortest / 4)), () => this.sweepHandshakes(this.monotonic()));
    const rotateMs = options.ticketKeyRotationMs ?? 12 * 3600_000;
    if (rotateMs > 0) this.ticketRotation = (options.ticketTimer ?? realTicketTimer).every(rotateMs, () => this.rotateTicketKeys());
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
      reloadFailures: { ...this.reloadFailures },
      ticketKeyRotations: this.ticketKeyRotations,
      connectionsOpen: this.open.size,
      awaitingHello: this.awaitingHello(),
      handshaking: this.handshakesNow,
      errors: { ...this.errors },
    };
  }

  private awaitingHello(): number {
    let n = 0;
    for (const t of this.open) if (t.stage === 'hello') n++;
    return n;
  }

  /** A context for new handshakes: a SecureContext (node engine) or an SSL_CTX (native engine). */
  private makeContext(pair: TlsPair): SecureContext | NativeHandle {
    if (this.native !== null) {
      return this.native.tlsContextNew(
        pair.certPem,
        pair.keyPem,
        TLS12_CIPHERS.join(':'),
        TLS13_CIPHERSUITES.join(':'),
        TLS_CURVES,
        alpnWire(this.alpnProtocols()),
        this.ticketKeys,
        7200,
      );
    }
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
      ticketKeys: this.ticketKeys.subarray(0, 48),
      sessionTimeout: 7200,
    });
  }

  private installContext(c: SecureContext | NativeHandle): void {
    if (this.native !== null) this.nativeCtx = c as NativeHandle;
    else this.context = c as SecureContext;
  }

  private alpnProtocols(): string[] {
    return this.h2 !== null ? ['h2', 'http/1.1'] : ['http/1.1'];
  }

  /**
   * At start-up an expired (or not yet valid) configured certificate is served, as nginx does
   * (refusing to start would turn a late renewal into an outage of plain errors, and clients
   * that do not check dates keep working), but it is logged loudly with its dates. A rotation to
   * such a certificate, on the other hand, is refused: the one being served is better.
   */
  private warnIfInvalidAtStart(): void {
    const problem = validityProblem(this.pairNow, this.now());
    if (problem === null) return;
    const info = describeCertificate(this.pairNow);
    const code = problem === 'expired' ? 'TLS_CERT_EXPIRED' : 'TLS_CERT_NOT_YET_VALID';
    const what = problem === 'expired' ? `EXPIRED on ${info.notAfter}` : `NOT VALID until ${info.notBefore}`;
    this.log(
      'warn',
      { code, cert: this.certFile ?? this.pairNow.source, subject: info.subject, notBefore: info.notBefore, notAfter: info.notAfter, fingerprint: info.fingerprint256 },
      `TLS certificate ${info.subject} is ${what}: serving it anyway (clients that check dates will refuse it); install a valid certificate, it is picked up without a restart`,
    );
  }

  /**
   * Replaces the session-ticket keys (forward secrecy of resumed sessions: whoever obtains a
   * ticket key can decrypt every session resumed with its tickets). Node gives a SecureContext
   * one ticket key, and its ticket callback refuses tickets under any other key name, so there
   * is no decrypt-only previous key: after a rotation each client with an old ticket makes one
   * full handshake, then resumes with the new ticket. Open connections keep their context.
   */
  rotateTicketKeys(): void {
    this.ticketKeys = randomBytes(80);
    this.installContext(this.makeContext(this.pairNow));
    this.ticketKeyRotations++;
  }

  /**
   * Re-reads the files. A good pair replaces the context for new handshakes; a bad one is
   * refused and logged. Returns what happened (tests, the CLI).
   */
  reload(): 'reloaded' | 'unchanged' | 'refused' {
    if (this.certFile === undefined || this.keyFile === undefined) return 'unchanged';
    let next: TlsPair;
    let context: SecureContext | NativeHandle;
    try {
      next = loadPair(this.certFile, this.keyFile, this.readFile);
      if (next.certPem.equals(this.pairNow.certPem) && next.keyPem.equals(this.pairNow.keyPem)) return 'unchanged';
      const problem = validityProblem(next, this.now());
      if (problem !== null) {
        const info = describeCertificate(next);
        throw new TlsPairError(
          problem,
          problem === 'expired'
            ? `${this.certFile}: the new certificate (${info.subject}) expired on ${info.notAfter}`
            : `${this.certFile}: the new certificate (${info.subject}) is not valid before ${info.notBefore}`,
        );
      }
      // OpenSSL may refuse a pair that parses and matches (a key too small for its security
      // level, a weak signature): building the context is part of the check, so such a pair is
      // refused like any other and the old one keeps serving.
      context = this.makeContext(next);
    } catch (err) {
      const reason: TlsPairReason = err instanceof TlsPairError ? err.reason : (err as { code?: string }).code?.startsWith('ERR_SSL') ? 'refused-by-openssl' : 'unreadable';
      this.errors['reload-failed']!++;
      this.reloadFailures[reason] = (this.reloadFailures[reason] ?? 0) + 1;
      const cur = describeCertificate(this.pairNow);
      this.log(
        'warn',
        { code: 'TLS_RELOAD_FAILED', reason, cert: this.certFile, key: this.keyFile, serving: cur.fingerprint256 },
        `TLS certificate reload refused: ${(err as Error).message}; still serving the previous certificate (subject ${cur.subject}, not after ${cur.notAfter})`,
      );
      return 'refused';
    }
    this.installContext(context);
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

  /**
   * A new connection costs a small object until its first record, the ClientHello, is complete
   * (at most one record, 16 KiB + 5, is buffered, for at most helloTimeoutMs); only then is
   * the TLSSocket and its OpenSSL state created. Connections waiting or handshaking are capped
   * per source address, handshakes in total.
   */
  private acceptStream(stream: ByteStream): StreamHandler {
    const source = sourceOf(stream.remote);
    // Keyed as TCP keys its sources when the stream is one of our TCP connections: an IPv6
    // host's /64, a link-local address with its zone (its text would be the handle's).
    const ip = (stream as { remoteIp?: unknown }).remoteIp;
    const key = typeof ip === 'number' && this.addresses !== undefined ? keySource(this.caps.tls, ip, this.addresses) : sourceKey(this.caps.tls, source);
    // A source whose slots are all taken (the table is full) is admitted, still under the total
    // cap: it fails open, as TCP's per-source table does (SourceLimits.acquire).
    const slot = key.acquire(this.maxPerSource, Infinity);
    if (slot === ACQUIRE_COUNT_LIMIT) {
      this.errors['handshake-limit-source']!++;
      stream.abort();
      return REFUSED;
    }
    const t = new Tracked(this, stream, source, this.monotonic());
    t.slot = slot;
    this.open.add(t);
    return t;
  }

  /** @internal (Tracked) The first record is complete: the TLSSocket is made, or the connection refused. */
  startHandshake(t: Tracked, head: Buffer): void {
    if (!this.caps.tlsHandshakeEnter(this.maxHandshakes)) {
      this.errors['handshake-limit']!++;
      this.refuse(t);
      return;
    }
    this.handshakesNow++;
    t.stage = 'handshake';
    t.started = this.monotonic();
    const start = performance.now();
    if (this.native !== null) {
      const session = new NativeTlsSession(this.native, t.stream, this.nativeCtx!, this.nativeHooks, this.http.memory);
      t.session = session;
      session.tracked = t;
      session.feed(head, 0, head.length);
      this.charge(this.handshakeRuntime, start, 1, 0);
      return;
    }
    const duplex = new ByteStreamDuplex(t.stream, { memory: this.http.memory });
    t.duplex = duplex;
    const socket = new tls.TLSSocket(duplex, {
      isServer: true,
      secureContext: this.context!,
      ALPNProtocols: this.alpnProtocols(),
      requestCert: false,
    });
    t.socket = socket;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (t.stage === 'handshake') this.handshakeFailed(t, err);
      else if (t.stage === 'open' && /^ERR_SSL_/.test(err.code ?? '')) this.errors['record-error']!++;
    });
    socket.on('close', () => this.gone(t));
    socket.once('secure', () => this.secured(t, socket));
    duplex.onData(head, 0, head.length);
    this.charge(this.handshakeRuntime, start, 1, 0);
  }

  /** @internal (Tracked) Bytes for a connection with a native session. */
  inputNative(t: Tracked, session: NativeTlsSession, buf: Buffer, off: number, len: number): void {
    if (t.stage === 'handshake') {
      const start = performance.now();
      session.feed(buf, off, len);
      this.charge(this.handshakeRuntime, start, 1, 0);
      return;
    }
    const timed = ++this.inputSample >= INPUT_SAMPLE_EVERY;
    const start = timed ? performance.now() : 0;
    // Decrypting runs the HTTP server synchronously; its answer is encrypted and handed to TCP
    // before feed() returns, so that it leaves in this vector's batch.
    session.feed(buf, off, len);
    if (timed) {
      this.inputSample = 0;
      this.charge(this.inputRuntime, start, INPUT_SAMPLE_EVERY, INPUT_SAMPLE_EVERY);
    }
  }

  private securedNative(s: NativeTlsSession): void {
    const t = s.tracked as Tracked;
    this.release(t);
    t.stage = 'open';
    this.handshakes++;
    this.handshakeRuntime.vectors++;
    if (s.resumed) this.resumed++;
    if (s.protocol === 'TLSv1.3') this.tls13++;
    else this.tls12++;
    if (s.alpn === 'h2' && this.h2 !== null) {
      this.alpnH2++;
      const duplex = new ByteStreamDuplex(s);
      // An HTTP/2 session has nothing to finish once the peer has closed.
      duplex.once('end', () => duplex.end());
      s.handler = duplex;
      this.h2.attach(duplex);
      return;
    }
    this.alpnHttp11++;
    s.handler = this.http.accept(s);
  }

  private handshakeFailedNative(s: NativeTlsSession, errClass: number, _text: string): void {
    const t = s.tracked as Tracked;
    this.release(t);
    t.stage = 'failed';
    if (errClass === ERRCLASS_PROTOCOL) this.errors['protocol-refused']!++;
    else if (errClass === ERRCLASS_CIPHER) this.errors['no-shared-cipher']!++;
    else this.errors['handshake-failed']!++;
  }

  /** @internal (Tracked) Bytes for a connection with a TLSSocket. */
  input(t: Tracked, buf: Buffer, off: number, len: number): void {
    const duplex = t.duplex!;
    if (t.stage === 'handshake') {
      const start = performance.now();
      duplex.onData(buf, off, len);
      this.charge(this.handshakeRuntime, start, 1, 0);
      return;
    }
    // After the handshake: one chunk in INPUT_SAMPLE_EVERY is timed and stands for the others
    // (a clock read per chunk is a measurable part of a small request's cost).
    const timed = ++this.inputSample >= INPUT_SAMPLE_EVERY;
    const start = timed ? performance.now() : 0;
    // Decrypting runs the HTTP server synchronously; what it answers is corked, and flushed
    // (encrypted, handed to TCP) right here, so that it leaves in this vector's batch.
    this.inInput = true;
    try {
      duplex.onData(buf, off, len);
    } finally {
      this.inInput = false;
      this.runFlushes();
    }
    if (timed) {
      this.inputSample = 0;
      this.charge(this.inputRuntime, start, INPUT_SAMPLE_EVERY, INPUT_SAMPLE_EVERY);
    }
  }

  private runFlushes(): void {
    const f = this.flushes;
    let i = 0;
    try {
      for (; i < f.length; i++) f[i]!();
    } finally {
      // A flush that threw must not leave the others corked for good.
      for (i++; i < f.length; i++) process.nextTick(f[i]!);
      f.length = 0;
    }
  }

  /** @internal (Tracked) Resets a connection that will not get a TLSSocket. */
  refuse(t: Tracked): void {
    this.release(t);
    t.stage = 'closed';
    this.open.delete(t);
    t.stream.abort();
  }

  /** @internal (Tracked, socket close) The connection is gone. */
  gone(t: Tracked): void {
    this.release(t);
    t.stage = 'closed';
    this.open.delete(t);
  }

  /** `calls` calls into OpenSSL (or a sample standing for them); `vectors` handshakes completed or input chunks. */
  private charge(r: TlsRuntime, startMs: number, calls: number, vectors: number): void {
    r.calls += calls;
    r.vectors += vectors;
    r.nanos += Math.round((performance.now() - startMs) * 1e6 * (calls > 1 ? calls : 1));
  }

  /** The connection no longer waits or handshakes: its places in the caps are free. */
  private release(t: Tracked): void {
    if (t.stage === 'hello' || t.stage === 'handshake') {
      if (t.stage === 'handshake') {
        this.handshakesNow--;
        this.caps.tlsHandshakeLeave();
      }
      if (t.slot >= 0) this.caps.tls.release(t.slot);
      t.slot = -1;
    }
  }

  private handshakeFailed(t: Tracked, err: NodeJS.ErrnoException): void {
    this.release(t);
    t.stage = 'failed';
    const text = `${err.code ?? ''} ${err.message}`;
    if (/UNSUPPORTED_PROTOCOL|VERSION_TOO_LOW|unsupported protocol/i.test(text)) this.errors['protocol-refused']!++;
    else if (/NO_SHARED_CIPHER|no shared cipher|NO_CIPHERS/i.test(text)) this.errors['no-shared-cipher']!++;
    else this.errors['handshake-failed']!++;
  }

  private secured(t: Tracked, socket: tls.TLSSocket): void {
    this.release(t);
    t.stage = 'open';
    // What tls.Server's own 'secure' listener does before 'secureConnection': http2 waits for a
    // 'secureConnect' that a server-side socket never emits while this is still set.
    (socket as unknown as { secureConnecting: boolean }).secureConnecting = false;
    this.handshakes++;
    this.handshakeRuntime.vectors++;
    if (socket.isSessionReused()) this.resumed++;
    if (socket.getProtocol() === 'TLSv1.3') this.tls13++;
    else this.tls12++;
    const duplex = t.duplex!;
    if (socket.alpnProtocol === 'h2' && this.h2 !== null) {
      this.alpnH2++;
      // The TLSSocket inherits allowHalfOpen from the Duplex (HTTP/1.1 needs it to finish
      // pipelined answers); an HTTP/2 session has nothing to finish once the peer has closed.
      socket.once('end', () => socket.end());
      this.h2.attach(socket);
      return;
    }
    this.alpnHttp11++;
    attachSocket(socket, this.http.accept, {
      remote: t.stream.remote,
      abort: () => duplex.abortTransport(),
      flushSoon: this.flushSoon,
      // What TLS has already handed to the Duplex and to our TCP (as the native engine counts it).
      queuedBelow: () => duplex.writableLength + t.stream.queuedBytes,
      onDrainBelow: (drained) => (duplex.afterDrain = drained),
      // Idle (the HTTP server's sweep): once TLS and the Duplex hold nothing, TCP may compact.
      compactBelow: () => {
        if (duplex.writableLength === 0) t.stream.compact?.();
      },
    });
  }

  /** Resets connections whose ClientHello or handshake is late (the sweep timer; tests call it with their clock). */
  sweepHandshakes(now: number = this.monotonic()): void {
    for (const t of this.open) {
      // Output slabs that TCP has sent since the connection last wrote go back to the pool.
      t.session?.reclaim();
      t.duplex?.settle();
      if (t.stage === 'hello' && now - t.started > this.helloTimeoutMs) {
        this.errors['hello-timeout']!++;
        this.refuse(t);
      } else if (t.stage === 'handshake' && now - t.started > this.handshakeTimeoutMs) {
        this.release(t);
        t.stage = 'failed';
        this.errors['handshake-timeout']!++;
        if (t.session !== null) t.session.abort();
        else {
          t.duplex!.abortTransport();
          t.socket?.destroy();
        }
      }
    }
  }

  /** Graceful: nothing to do at the TLS level (the HTTP servers drain their connections). */
  close(): void {
    this.watcher?.close();
    this.ticketRotation?.cancel();
    this.sweep.stop();
    for (const t of [...this.open]) {
      this.release(t);
      t.stage = 'closed';
      if (t.session !== null) t.session.abort();
      else if (t.duplex !== null) t.duplex.abortTransport();
      else t.stream.abort();
      t.socket?.destroy();
    }
    this.open.clear();
  }
}

/** The shared table's key for a source's text ("a.b.c.d", "[v6]" or "v6"); other text is hashed. */
function sourceKey(table: SourceTable, source: string): SourceTable {
  const v4 = parseIpv4(source);
  if (v4 !== null) return table.key4(v4);
  const v6 = parseIpv6(source.startsWith('[') && source.endsWith(']') ? source.slice(1, -1) : source);
  if (v6 !== null) return table.key6(v6, 0);
  let h = 0x811c9dc5;
  for (let i = 0; i < source.length; i++) h = Math.imul(h ^ source.charCodeAt(i), 0x01000193);
  return table.key4(h);
}

/** "a.b.c.d" of "a.b.c.d:port" (the address part of any "host:port"). */
function sourceOf(remote: string): string {
  const i = remote.lastIndexOf(':');
  return i < 0 ? remote : remote.slice(0, i);
}

/**
 * One accepted connection, its StreamHandler. Until the first TLS record is complete it only
 * buffers that record (stage 'hello'); then the listener gives it a ByteStreamDuplex and a
 * TLSSocket, and bytes go straight to them.
 */
class Tracked implements StreamHandler, DenseMember {
  denseSlot = -1;
  stage: 'hello' | 'handshake' | 'open' | 'failed' | 'closed' = 'hello';
  /** Its place in the per-source cap (shared-limits.ts), -1 when none. */
  slot = -1;
  duplex: ByteStreamDuplex | null = null;
  socket: tls.TLSSocket | null = null;
  session: NativeTlsSession | null = null;
  /** The first record's bytes so far (only while they arrive in pieces). */
  private head: Buffer | null = null;
  private headLen = 0;

  constructor(
    private readonly listener: TlsListener,
    readonly stream: ByteStream,
    readonly source: string,
    public started: number,
  ) {}

  onData(buf: Buffer, off: number, len: number): void {
    if (this.session !== null) {
      this.listener.inputNative(this, this.session, buf, off, len);
      return;
    }
    if (this.duplex !== null) {
      this.listener.input(this, buf, off, len);
      return;
    }
    if (this.stage !== 'hello' || len === 0) return;
    // Common case: the whole ClientHello in one segment, nothing buffered.
    if (this.headLen === 0) {
      const need = recordLength(buf, off, len);
      if (need < 0) return this.listener.refuse(this.notTls());
      if (need > 0 && len >= need) {
        const copy = Buffer.allocUnsafe(len);
        buf.copy(copy, 0, off, off + len);
        this.listener.startHandshake(this, copy);
        return;
      }
    }
    // In pieces: keep the record (at most 16 KiB + 5 bytes), in a buffer of the size its
    // header announces (5 bytes until the header is complete), never more than one record.
    let used = 0;
    while (used < len) {
      if (this.head === null) this.head = Buffer.allocUnsafe(RECORD_HEADER);
      const take = Math.min(len - used, this.head.length - this.headLen);
      buf.copy(this.head, this.headLen, off + used, off + used + take);
      this.headLen += take;
      used += take;
      const need = recordLength(this.head, 0, this.headLen);
      if (need < 0) return this.listener.refuse(this.notTls());
      if (need === 0) continue;
      if (this.head.length < need) {
        const grown = Buffer.allocUnsafe(need);
        this.head.copy(grown, 0, 0, this.headLen);
        this.head = grown;
        continue;
      }
      if (this.headLen < need) continue;
      // Complete: the record and whatever came after it in this chunk go to OpenSSL.
      const rest = len - used;
      const all = rest === 0 ? this.head : Buffer.concat([this.head, buf.subarray(off + used, off + len)]);
      this.head = null;
      this.headLen = 0;
      this.listener.startHandshake(this, all);
      return;
    }
  }

  private notTls(): this {
    this.listener.errors['not-tls']!++;
    return this;
  }

  onDrain(): void {
    if (this.session !== null) this.session.tcpDrain();
    else this.duplex?.onDrain();
  }

  onEnd(): void {
    if (this.session !== null) this.session.tcpEnd();
    else if (this.duplex !== null) this.duplex.onEnd();
    else if (this.stage === 'hello') this.listener.refuse(this); // FIN before a ClientHello
  }

  onClose(): void {
    this.listener.gone(this);
    this.head = null;
    this.session?.tcpClose();
    this.duplex?.onClose();
  }
}

/**
 * How many bytes the first record takes (header included), from its first bytes: 0 while the
 * header is incomplete, -1 if they are no TLS handshake record (a client speaking plain HTTP,
 * an SSLv2-format hello, garbage, or a length no ClientHello record may have).
 */
function recordLength(b: Buffer, off: number, len: number): number {
  if (b[off] !== CONTENT_HANDSHAKE) return -1;
  if (len >= 2 && b[off + 1] !== 0x03) return -1;
  if (len < RECORD_HEADER) return 0;
  const n = (b[off + 3]! << 8) | b[off + 4]!;
  if (n === 0 || n > MAX_PLAINTEXT_RECORD) return -1;
  return RECORD_HEADER + n;
}
