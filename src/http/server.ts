/**
 * The HTTP/1.1 static file server (GET and HEAD) over the transport-independent ByteStream.
 *
 * The server answers the requests its connections (connection.ts) parse: responses from the cache
 * are a prebuilt head Buffer plus the cached body Buffer, both written by reference; files too big
 * for the cache are streamed in chunks with backpressure. One unref'd interval sweeps every
 * connection for header-read, keep-alive idle, send-stall and linger timeouts. See README ("HTTP
 * static server") for the behaviour and limits.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { VERSION } from '../version.js';
import { FileCache, OPEN_FLAGS, makeEtag, type CacheEntry, type CacheStats, type FileInfo, type Resolution } from './cache.js';
import { evaluateConditional } from './conditional.js';
import { CLOSED, CLOSING, Conn, ENDED, Job, OPEN, type ConnectionServer } from './connection.js';
import { formatHttpDate, httpDateNow } from './http-date.js';
import { DEFAULT_LIMITS, type HttpLimits, type HttpMemory, type HttpStaticServerOptions } from './options.js';
import type { ParsedRequest, ParseResult } from './parser.js';
import { targetToKey } from './path.js';
import { HTTP_ERROR_REASONS, KNOWN_METHODS, STATUS_TEXT, bodyFor } from './status.js';
import type { AcceptHandler, ByteStream, StreamHandler } from '../stream/byte-stream.js';
import { DenseSet } from '../stream/dense-set.js';
import { housekeeping, type HousekeepingTask } from '../util/housekeeping.js';

export interface HttpStaticServerStats {
  cache: CacheStats;
  requests: number;
  /** Responses by status class: '1xx' … '5xx'. */
  responses: Record<string, number>;
  bytesSent: number;
  connectionsOpen: number;
  connectionsTotal: number;
  /** Error counters (reason → count); reasons listed in HTTP_ERROR_REASONS. */
  errors: Record<string, number>;
}

/** Connection header mode of a response: 0 = none (1.1 keep-alive), 1 = close, 2 = keep-alive (1.0). */
const CONN_LINES = ['', 'Connection: close\r\n', 'Connection: keep-alive\r\n'];

/** Cached files up to this size are sent as one prebuilt head+body buffer. */
const SMALL_FILE_BYTES = 16 * 1024;

/** https://<Host without its port>[:port]<path> for a redirect-to-https answer. */
export function httpsLocation(r: Pick<ParsedRequest, 'host' | 'target'>, port: number): string {
  let host = r.host ?? '';
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    host = close > 0 ? host.slice(0, close + 1) : '';
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) host = host.slice(0, colon);
  }
  // Host values are visible ASCII (the parser refuses controls); keep to what a host can be.
  if (!/^[A-Za-z0-9.\-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(host)) host = 'localhost';
  let path = r.target;
  if (!path.startsWith('/')) {
    // absolute-form (http://host/path): keep the path
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*(\/.*)?$/.exec(path);
    path = m?.[1] ?? '/';
  }
  return `https://${host}${port === 443 ? '' : `:${port}`}${path}`;
}

export class HttpStaticServer implements ConnectionServer {
  readonly wwwRoot: string;
  readonly limits: HttpLimits;
  readonly serverName: string;
  readonly cache: FileCache;
  readonly accept: AcceptHandler;
  readonly errors: Record<string, number> = {};
  readonly responses: number[] = [0, 0, 0, 0, 0, 0];
  requests = 0;
  bytesSent = 0;
  connectionsTotal = 0;
  readonly streamChunk: number;
  readonly streamHighWater: number;
  readonly pauseBytes: number;
  readonly maxBufferedInput: number;
  readonly memory: HttpMemory | undefined;
  readonly now: () => number;
  /** now() just before the server started: connections keep their times relative to it (≥ 1, so 0 stays "none"). */
  readonly epoch: number;
  /** Open connections (a DenseSet, not a Set: see dense-set.ts). */
  private readonly conns = new DenseSet<Conn>();
  /** request-target → key, for targets seen recently (bounded; cleared when full). */
  private readonly keyMemo = new Map<string, ReturnType<typeof targetToKey>>();
  private readonly sweepTimer: HousekeepingTask;
  private readonly serverLine: string;
  private closed = false;

  constructor(opts: HttpStaticServerOptions) {
    this.wwwRoot = opts.wwwRoot;
    this.limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
    this.memory = opts.memory;
    this.now = opts.now ?? Date.now;
    const t0 = this.now();
    this.epoch = Number.isFinite(t0) ? t0 - 1 : 0;
    this.serverName = opts.serverName ?? `vpp-server/${VERSION}`;
    this.serverLine = `Server: ${this.serverName}\r\n`;
    let root = opts.wwwRoot;
    while (root.length > 1 && root.endsWith('/')) root = root.slice(0, -1);
    if (root === '/') root = '';
    const cacheSize = Math.max(0, opts.cacheSizeBytes);
    const maxCached = opts.maxCachedFileBytes ?? Math.min(Math.floor(cacheSize / 2), 64 * 1024 * 1024);
    this.cache = new FileCache(root, cacheSize, maxCached, opts.revalidateMs ?? 1000);
    this.streamChunk = opts.streamChunkBytes ?? 256 * 1024;
    this.streamHighWater = opts.streamHighWaterBytes ?? 2 * 1024 * 1024;
    this.pauseBytes = Math.max(this.streamHighWater, 1024 * 1024);
    this.maxBufferedInput = Math.max(1024 * 1024, this.limits.maxHeaderBytes * 4);
    for (const reason of Object.keys(HTTP_ERROR_REASONS)) this.errors[reason] = 0;
    const l = this.limits;
    const revalidateMs = opts.revalidateMs ?? 1000;
    const sweep =
      opts.sweepIntervalMs ?? Math.max(10, Math.min(250, revalidateMs / 4, Math.min(l.headerTimeoutMs, l.idleTimeoutMs) / 4));
    this.sweepTimer = housekeeping.every(sweep, () => this.sweep(this.now()));
    this.accept = this.acceptWith(null);
  }

  /**
   * An AcceptHandler whose connections answer every GET/HEAD with a 301 to the same path over
   * HTTPS on `httpsPort` (`redirect-to-https`); other requests are answered as usual.
   */
  acceptRedirectingTo(httpsPort: number): AcceptHandler {
    return this.acceptWith(httpsPort);
  }

  private acceptWith(redirectPort: number | null): AcceptHandler {
    return (stream: ByteStream): StreamHandler => {
      const c = new Conn(this, stream, this.now());
      c.redirectPort = redirectPort;
      if (this.closed) {
        stream.abort();
        return c;
      }
      this.conns.add(c);
      this.connectionsTotal++;
      return c;
    };
  }

  /** Aborts every connection, stops the sweep timer and empties the cache. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sweepTimer.stop();
    for (const c of [...this.conns]) c.abort();
    this.cache.clear();
  }

  /**
   * Graceful shutdown (SIGTERM): every connection finishes the responses it has queued (a
   * download in flight goes on to its end), then gets a FIN; idle keep-alive connections get
   * their FIN now. The caller stops new connections (TCP unlisten) and waits for
   * `stats().connectionsOpen` to reach 0, then calls close() for what is left.
   */
  drain(): void {
    for (const c of [...this.conns]) c.drain();
  }

  stats(): HttpStaticServerStats {
    const r = this.responses;
    return {
      cache: this.cache.stats(),
      requests: this.requests,
      responses: { '1xx': r[1]!, '2xx': r[2]!, '3xx': r[3]!, '4xx': r[4]!, '5xx': r[5]! },
      bytesSent: this.bytesSent,
      connectionsOpen: this.conns.size,
      connectionsTotal: this.connectionsTotal,
      errors: { ...this.errors },
    };
  }

  count(reason: string): void {
    this.errors[reason] = (this.errors[reason] ?? 0) + 1;
  }

  connectionClosed(c: Conn): void {
    this.conns.delete(c);
  }

  // ---- requests

  handle(c: Conn, r: ParseResult, now: number): void {
    this.requests++;
    if (!r.ok) {
      this.count(r.reason);
      c.state = CLOSING;
      c.respond(this.errorJob(r.status, false, 1, ''));
      return;
    }
    // A client that asks to close sends no further request (RFC 9112 §9.6): see finish().
    c.clientCloses = !r.keepAlive && r.contentLength === 0 && r.transferEncoding === null;
    const isHead = r.method === 'HEAD';
    if (r.method !== 'GET' && !isHead) {
      const known = KNOWN_METHODS.has(r.method);
      this.count(known ? 'method-not-allowed' : 'not-implemented');
      let close = !known || r.transferEncoding !== null || r.contentLength > this.limits.maxBodyBytes || r.expect !== null || !r.keepAlive;
      if (!close && r.contentLength > 0) c.skipBody = r.contentLength;
      if (close) c.state = CLOSING;
      c.respond(this.errorJob(known ? 405 : 501, false, close ? 1 : r.versionMinor === 0 ? 2 : 0, known ? 'Allow: GET, HEAD\r\n' : ''));
      return;
    }
    if (r.transferEncoding !== null) {
      // we accept no bodies; a chunked body has no size we could skip cheaply
      const chunked = r.transferEncoding.toLowerCase().trim().endsWith('chunked');
      this.count(chunked ? 'body-too-large' : 'not-implemented');
      c.state = CLOSING;
      c.respond(this.errorJob(chunked ? 413 : 501, isHead, 1, ''));
      return;
    }
    let keepAlive = r.keepAlive;
    if (r.contentLength > 0) {
      if (r.contentLength > this.limits.maxBodyBytes) {
        this.count('body-too-large');
        c.state = CLOSING;
        c.respond(this.errorJob(413, isHead, 1, ''));
        return;
      }
      // a client waiting for 100-continue may never send the body: answer and close instead
      if (r.expect !== null) keepAlive = false;
      else c.skipBody = r.contentLength;
    }
    const mode = keepAlive ? (r.versionMinor === 0 ? 2 : 0) : 1;
    if (!keepAlive) c.state = CLOSING;

    if (c.redirectPort !== null) {
      this.count('redirect-to-https');
      c.respond(this.errorJob(301, isHead, mode, `Location: ${httpsLocation(r, c.redirectPort)}\r\n`));
      return;
    }
    let path = this.keyMemo.get(r.target);
    if (path === undefined) {
      path = targetToKey(r.target);
      if (this.keyMemo.size >= 1024) this.keyMemo.clear();
      this.keyMemo.set(r.target, path);
    }
    if (!path.ok) {
      this.count(path.reason);
      const close = path.status === 400;
      if (close) c.state = CLOSING;
      c.respond(this.errorJob(path.status, isHead, close ? 1 : mode, ''));
      return;
    }
    const key = path.key;
    if (c.queue.length === 0) {
      const e = this.cache.peek(key, now);
      if (e !== undefined) {
        c.respond(this.entryJob(r, e, mode, now));
        return;
      }
    }
    const job = new Job();
    job.close = mode === 1;
    c.queue.push(job);
    this.cache.resolve(key, now).then(
      (res) => this.fill(c, job, r, key, res, mode),
      () => {
        this.count('io-error');
        this.setError(job, 500, isHead, mode);
        c.pump();
      },
    );
  }

  private fill(c: Conn, job: Job, r: ParsedRequest, key: string, res: Resolution, mode: number): void {
    const isHead = r.method === 'HEAD';
    switch (res.kind) {
      case 'entry': {
        const j = this.entryJob(r, res.entry, mode);
        job.status = j.status;
        job.head = j.head;
        job.body = j.body;
        job.ready = true;
        break;
      }
      case 'redirect': {
        const q = r.target.indexOf('?');
        const location = key.split('/').map(encodeURIComponent).join('/') + '/' + (q >= 0 ? r.target.slice(q) : '');
        this.setError(job, 301, isHead, mode, `Location: ${location}\r\n`);
        break;
      }
      case 'error':
        this.count(res.reason);
        this.setError(job, res.status, isHead, mode);
        break;
      case 'file':
        if (c.state === CLOSED || c.state === ENDED) return;
        this.openForStream(c, job, r, res.realPath, res.contentType, mode);
        return;
    }
    c.pump();
  }

  private openForStream(c: Conn, job: Job, r: ParsedRequest, realPath: string, contentType: string, mode: number): void {
    const isHead = r.method === 'HEAD';
    let fh: FileHandle | null = null;
    open(realPath, OPEN_FLAGS)
      .then(async (h) => {
        fh = h;
        const st = await h.stat();
        if (c.state === CLOSED || c.state === ENDED) {
          await h.close();
          return;
        }
        if (!st.isFile()) {
          await h.close();
          this.count('not-regular-file');
          this.setError(job, 404, isHead, mode);
          c.pump();
          return;
        }
        const info: FileInfo = {
          size: st.size,
          mtimeMs: st.mtimeMs,
          etag: makeEtag(st.mtimeMs, st.size),
          lastModified: formatHttpDate(st.mtimeMs),
          contentType,
        };
        const plan = evaluateConditional(r, info);
        job.status = plan.status;
        if (plan.status === 304) {
          job.head = Buffer.from(this.headFor(304, info, 0, mode, ''), 'latin1');
        } else if (plan.status === 416) {
          job.head = this.errorHead(416, mode, `Content-Range: bytes */${info.size}\r\n`);
          job.body = isHead ? null : bodyFor(416);
          this.count('range-not-satisfiable');
        } else {
          const len = plan.end - plan.start;
          const extra = plan.status === 206 ? `Content-Range: bytes ${plan.start}-${plan.end - 1}/${info.size}\r\n` : '';
          job.head = Buffer.from(this.headFor(plan.status, info, len, mode, extra), 'latin1');
          if (!isHead && len > 0) {
            job.fh = h;
            job.pos = plan.start;
            job.end = plan.end;
          }
        }
        if (job.fh === null) await h.close();
        job.ready = true;
        c.pump();
      })
      .catch(() => {
        if (fh !== null && job.fh === null) fh.close().catch(() => undefined);
        if (c.state === CLOSED || c.state === ENDED) return;
        this.count('not-found');
        this.setError(job, 404, isHead, mode);
        c.pump();
      });
  }

  /** The response for a cached entry: prebuilt heads for the common cases, the body by reference. */
  private entryJob(r: ParsedRequest, e: CacheEntry, mode: number, now: number = this.now()): Job {
    const job = new Job();
    job.ready = true;
    job.close = mode === 1;
    const isHead = r.method === 'HEAD';
    let plan: { status: number; start: number; end: number };
    if (r.ifNoneMatch === null && r.ifModifiedSince === null && r.range === null) plan = { status: 200, start: 0, end: e.size };
    else plan = evaluateConditional(r, e);
    job.status = plan.status;
    if (plan.status === 200 || plan.status === 304) {
      const date = httpDateNow(now);
      if (e.headsDate !== date) {
        e.heads = [];
        e.headsDate = date;
      }
      const withBody = plan.status === 200 && !isHead && e.size > 0;
      if (withBody && e.size <= SMALL_FILE_BYTES) {
        // small files: head and body prebuilt as one buffer, one write, one segment
        let whole = e.heads[6 + mode];
        if (whole === undefined) {
          whole = Buffer.concat([this.entryHead(e, 0, mode), e.body]);
          e.heads[6 + mode] = whole;
        }
        job.head = whole;
      } else {
        job.head = this.entryHead(e, plan.status === 200 ? 0 : 3, mode);
        if (withBody) job.body = e.body;
      }
    } else if (plan.status === 206) {
      const extra = `Content-Range: bytes ${plan.start}-${plan.end - 1}/${e.size}\r\n`;
      job.head = Buffer.from(this.headFor(206, e, plan.end - plan.start, mode, extra), 'latin1');
      job.body = e.body.subarray(plan.start, plan.end);
    } else {
      this.count('range-not-satisfiable');
      job.head = this.errorHead(416, mode, `Content-Range: bytes */${e.size}\r\n`);
      job.body = isHead ? null : bodyFor(416);
    }
    return job;
  }

  /** Cached head of an entry's 200 (kind 0) or 304 (kind 3) response; `heads` was reset for today's Date. */
  private entryHead(e: CacheEntry, kind: number, mode: number): Buffer {
    let head = e.heads[kind + mode];
    if (head === undefined) {
      head = Buffer.from(this.headFor(kind === 0 ? 200 : 304, e, kind === 0 ? e.size : 0, mode, ''), 'latin1');
      e.heads[kind + mode] = head;
    }
    return head;
  }

  private headFor(status: number, info: FileInfo, length: number, mode: number, extra: string): string {
    let h = `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n${this.serverLine}Date: ${httpDateNow()}\r\n`;
    if (status !== 304) h += `Content-Type: ${info.contentType}\r\nContent-Length: ${length}\r\n`;
    h += `Last-Modified: ${info.lastModified}\r\nETag: ${info.etag}\r\n`;
    if (status !== 304) h += 'Accept-Ranges: bytes\r\n';
    return h + extra + CONN_LINES[mode] + '\r\n';
  }

  private errorHead(status: number, mode: number, extra: string): Buffer {
    const body = bodyFor(status);
    return Buffer.from(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n${this.serverLine}Date: ${httpDateNow()}\r\n` +
        `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n${extra}${CONN_LINES[mode]}\r\n`,
      'latin1',
    );
  }

  private errorJob(status: number, isHead: boolean, mode: number, extra: string): Job {
    const job = new Job();
    this.setError(job, status, isHead, mode, extra);
    return job;
  }

  private setError(job: Job, status: number, isHead: boolean, mode: number, extra = ''): void {
    job.status = status;
    job.head = this.errorHead(status, mode, extra);
    job.body = isHead ? null : bodyFor(status);
    job.close = job.close || mode === 1;
    job.ready = true;
  }

  // ---- timers

  /**
   * `now` as a connection keeps it: whole ms since the epoch. Math.floor also makes it a small
   * integer where a plain difference of two epoch-ms HeapNumbers stays a HeapNumber, which would
   * turn the fields into boxed doubles.
   */
  since(now: number): number {
    return Math.floor(now - this.epoch);
  }

  /** The timer sweep (run every sweepIntervalMs; tests with their own clock call it). */
  sweep(now: number): void {
    const l = this.limits;
    this.cache.refreshHot(now);
    const t = this.since(now); // the connections' times are relative to the epoch
    for (const c of this.conns) {
      const q = c.stream.queuedBytes;
      if (q !== c.lastQueued) {
        c.lastQueued = q;
        c.lastProgress = t;
      }
      if (q > 0 && t - c.lastProgress > l.sendTimeoutMs) {
        this.count('send-timeout');
        c.abort();
        continue;
      }
      if (c.floor.check(now, q, c.written - q, l.minSendWindowMs, l.minSendBytes)) {
        this.count('send-rate-too-low');
        c.abort();
        continue;
      }
      c.settleSend();
      // safety net for transports whose onDrain is coarser than our high-water marks
      const head = c.queue[0];
      if (head !== undefined && head.fh !== null && head.ready && head.head === null && !head.reading && q < this.streamHighWater) {
        c.onDrain();
      } else if (c.state === OPEN && c.iend > c.istart && c.queue.length === 0) {
        c.processBuffered();
      }
      if (c.state === CLOSED) continue;
      if (c.state === ENDED) {
        if (q === 0 && t - Math.max(c.endedAt, c.lastProgress) > Math.max(l.idleTimeoutMs, l.headerTimeoutMs)) {
          this.count('linger-timeout');
          c.abort();
        }
        continue;
      }
      if (c.state !== OPEN || c.queue.length > 0) {
        c.idleSince = 0;
        continue;
      }
      if (c.headStart !== 0) {
        if (t - c.headStart > l.headerTimeoutMs) {
          this.count('header-timeout');
          if (c.gotHeadBytes || c.skipBody > 0) {
            c.state = CLOSING;
            c.respond(this.errorJob(408, false, 1, ''));
          } else {
            c.finish();
          }
        }
        continue;
      }
      if (q > 0) {
        c.idleSince = 0;
        continue;
      }
      if (c.idleSince === 0) {
        c.idleSince = t;
        // Idle from here on: the transport can shrink what it holds (memory per idle connection).
        c.stream.compact?.();
        // And so does the job list: a response that went through the async path (a cold or
        // expired cache entry) grew its store (17 slots, ~150 B), which shift() keeps. Dropping it
        // is the point here (idle; review r/perf), unlike clearArray on per-vector lists.
        if (c.queue.length === 0) c.queue.length = 0;
      } else if (t - c.idleSince >= l.idleTimeoutMs) {
        this.count('idle-timeout');
        c.finish();
      }
    }
  }
}
