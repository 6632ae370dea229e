/**
 * HTTP/2 for the static server: Node's `http2` (nghttp2) does the framing, HPACK and flow
 * control; every request goes through the same static-file logic as HTTP/1.1 (path safety,
 * the FileCache, ETag/304, Range/206/416, MIME, error bodies), so both protocols answer alike.
 *
 * Sessions come in over any Duplex: a TLSSocket that negotiated ALPN `h2`, or a cleartext
 * connection that opened with the HTTP/2 preface (h2c prior knowledge, see cleartext.ts).
 *
 * Abuse defences (counted under node `http2-static-server` in `show errors`):
 * - concurrent streams and header list size are limited in our SETTINGS;
 * - rapid reset (CVE-2023-44487): streams the client resets before their response are counted
 *   per session; beyond `maxResetsPerWindow` within `resetWindowMs` the session gets GOAWAY
 *   ENHANCE_YOUR_CALM and is closed (nghttp2's own reset rate limit stays behind it);
 * - CONTINUATION flood: nghttp2 refuses more than a few CONTINUATION frames per header block
 *   and ends the session; we count it;
 * - invalid frames / refused streams: Node's maxSessionInvalidFrames / maxSessionRejectedStreams.
 */
import http2, { constants as h2c, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { OPEN_FLAGS, makeEtag, type CacheEntry, type FileInfo } from './cache.js';
import { evaluateConditional, type ConditionalRequest } from './conditional.js';
import { formatHttpDate } from './http-date.js';
import { targetToKey } from './path.js';
import { HttpStaticServer } from './server.js';
import { KNOWN_METHODS, bodyFor } from './status.js';

export const HTTP2_STATIC_SERVER_NODE = 'http2-static-server';

export const HTTP2_ERROR_REASONS: Readonly<Record<string, string>> = {
  'rapid-reset': 'sessions closed for resetting streams too fast (CVE-2023-44487)',
  'stream-reset-early': 'streams reset by the client before their response',
  'continuation-flood': 'sessions closed for too many CONTINUATION frames',
  'session-error': 'sessions closed for another protocol error',
  'idle-timeout': 'HTTP/2 sessions idle too long',
};

export interface Http2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS. Default 128. */
  maxConcurrentStreams: number;
  /**
   * SETTINGS_MAX_HEADER_LIST_SIZE, bytes: the hard stop, beyond which nghttp2 resets the stream.
   * Default twice HTTP/1.1's maxHeaderBytes, so that a head HTTP/1.1 answers with 431 gets the
   * same 431 here (checked against the HTTP/1.1 limits in onStream).
   */
  maxHeaderListSize: number;
  /** Header fields per request (pseudo-headers included), the hard stop. Default 2 × maxHeaderCount + 8. */
  maxHeaderListPairs: number;
  /** Client resets of unanswered streams tolerated per window. Default 200. */
  maxResetsPerWindow: number;
  resetWindowMs: number;
  /** A session with no frames for this long is closed (GOAWAY). Default 30 s. */
  idleTimeoutMs: number;
}

export const DEFAULT_HTTP2_LIMITS: Readonly<Http2Limits> = {
  maxConcurrentStreams: 128,
  maxHeaderListSize: 16 * 1024,
  maxHeaderListPairs: 128,
  maxResetsPerWindow: 200,
  resetWindowMs: 10_000,
  idleTimeoutMs: 30_000,
};

export interface Http2Stats {
  sessionsOpen: number;
  sessionsTotal: number;
  streams: number;
  errors: Record<string, number>;
}

interface SessionState {
  resets: number;
  windowStart: number;
  /** File streams open now (see MAX_FILE_STREAMS_PER_SESSION). */
  files: number;
}

export class Http2StaticServer {
  readonly limits: Http2Limits;
  readonly errors: Record<string, number> = {};
  sessionsTotal = 0;
  streams = 0;
  private readonly h2: http2.Http2Server;
  private readonly sessions = new Map<Http2Session, SessionState>();
  private readonly now: () => number;

  constructor(
    readonly http: HttpStaticServer,
    limits: Partial<Http2Limits> = {},
    now: () => number = () => performance.now(),
  ) {
    this.limits = { ...DEFAULT_HTTP2_LIMITS, maxHeaderListSize: 2 * http.limits.maxHeaderBytes, maxHeaderListPairs: 2 * http.limits.maxHeaderCount + 8, ...limits };
    this.now = now;
    for (const reason of Object.keys(HTTP2_ERROR_REASONS)) this.errors[reason] = 0;
    const l = this.limits;
    this.h2 = http2.createServer({
      settings: { maxConcurrentStreams: l.maxConcurrentStreams, maxHeaderListSize: l.maxHeaderListSize, enablePush: false },
      maxHeaderListPairs: l.maxHeaderListPairs,
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
      maxOutstandingPings: 10,
      maxSettings: 32,
    });
    this.h2.on('session', (session: Http2Session) => this.onSession(session));
    // Errors of a session that is being set up: counted in onSession's handler as well.
    this.h2.on('sessionError', () => undefined);
  }

  /** Runs an HTTP/2 session over `socket` (a TLSSocket with ALPN h2, or a cleartext Duplex). */
  attach(socket: Duplex): void {
    this.h2.emit('connection', socket);
  }

  stats(): Http2Stats {
    return { sessionsOpen: this.sessions.size, sessionsTotal: this.sessionsTotal, streams: this.streams, errors: { ...this.errors } };
  }

  /** Graceful: GOAWAY to every session; streams under way finish. */
  drain(): void {
    for (const s of this.sessions.keys()) if (!s.closed) s.close();
  }

  close(): void {
    for (const s of [...this.sessions.keys()]) s.destroy();
    this.sessions.clear();
  }

  private count(reason: string): void {
    this.errors[reason] = (this.errors[reason] ?? 0) + 1;
  }

  private onSession(session: Http2Session): void {
    this.sessionsTotal++;
    const st: SessionState = { resets: 0, windowStart: this.now(), files: 0 };
    this.sessions.set(session, st);
    session.setTimeout(this.limits.idleTimeoutMs, () => {
      this.count('idle-timeout');
      session.close();
      session.destroy();
    });
    session.on('error', (err: Error) => {
      if (/CONTINUATION/i.test(err.message)) this.count('continuation-flood');
      else this.count('session-error');
    });
    session.on('close', () => this.sessions.delete(session));
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => this.onStream(session, stream, headers, raw));
  }

  /** A client reset a stream: the rapid-reset pattern, when it repeats fast. */
  private earlyReset(session: Http2Session): void {
    this.count('stream-reset-early');
    const st = this.sessions.get(session);
    if (st === undefined) return;
    const now = this.now();
    if (now - st.windowStart > this.limits.resetWindowMs) {
      st.windowStart = now;
      st.resets = 0;
    }
    if (++st.resets === this.limits.maxResetsPerWindow + 1) {
      this.count('rapid-reset');
      // GOAWAY ENHANCE_YOUR_CALM, flushed, then the session goes (its streams with it).
      session.goaway(h2c.NGHTTP2_ENHANCE_YOUR_CALM);
      setImmediate(() => session.destroy());
    }
  }

  private onStream(session: Http2Session, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, raw: string[]): void {
    this.streams++;
    const s = this.http;
    s.requests++;
    stream.on('error', () => undefined);
    // A stream that closes with an error code we did not send was reset by the client; the
    // rapid-reset pattern resets right after HEADERS, before (or while) the answer goes out.
    stream.on('close', () => {
      // Closed before we finished answering and not by us: the client reset it, whatever the code
      // (RST_STREAM(NO_ERROR) included, so that code cannot dodge the rapid-reset count).
      if (!answered.has(stream) && !ourReset.has(stream)) this.earlyReset(session);
    });
    if (gone(stream)) return; // reset in the same read as its HEADERS
    const method = String(headers[':method'] ?? '');
    const target = String(headers[':path'] ?? '');
    const isHead = method === 'HEAD';
    // The HTTP/1.1 limits, in the order its parser meets them, on the head as HTTP/1.1 would
    // carry it: the request line, then the header block.
    const limits = s.limits;
    if (method.length + target.length + 10 > limits.maxRequestLine) {
      s.count('uri-too-long');
      this.sendError(stream, 414, false);
      return;
    }
    const head = http1HeadSize(method, target, raw);
    if (head.fields > limits.maxHeaderCount || head.bytes > limits.maxHeaderBytes) {
      s.count(head.fields > limits.maxHeaderCount ? 'too-many-headers' : 'headers-too-large');
      this.sendError(stream, 431, false);
      return;
    }
    if (method !== 'GET' && !isHead) {
      const known = KNOWN_METHODS.has(method);
      s.count(known ? 'method-not-allowed' : 'not-implemented');
      this.sendError(stream, known ? 405 : 501, false, known ? { allow: 'GET, HEAD' } : {});
      return;
    }
    // A body is read and dropped up to maxBodyBytes (nghttp2 does that here); a larger one is
    // refused, as HTTP/1.1 refuses it.
    const declared = Number(header(headers, 'content-length') ?? 0);
    if (declared > limits.maxBodyBytes) {
      s.count('body-too-large');
      this.sendError(stream, 413, isHead);
      return;
    }
    const path = targetToKey(target);
    if (!path.ok) {
      s.count(path.reason);
      this.sendError(stream, path.status, isHead);
      return;
    }
    const req: ConditionalRequest = {
      method,
      ifNoneMatch: header(headers, 'if-none-match'),
      ifModifiedSince: header(headers, 'if-modified-since'),
      range: header(headers, 'range'),
      ifRange: header(headers, 'if-range'),
    };
    const now = Date.now();
    const hit = s.cache.peek(path.key, now);
    if (hit !== undefined) {
      this.sendEntry(stream, req, hit);
      return;
    }
    s.cache.resolve(path.key, now).then(
      (res) => {
        if (gone(stream)) return;
        switch (res.kind) {
          case 'entry':
            this.sendEntry(stream, req, res.entry);
            return;
          case 'redirect': {
            const q = target.indexOf('?');
            const location = path.key.split('/').map(encodeURIComponent).join('/') + '/' + (q >= 0 ? target.slice(q) : '');
            this.sendError(stream, 301, isHead, { location });
            return;
          }
          case 'error':
            s.count(res.reason);
            this.sendError(stream, res.status, isHead);
            return;
          case 'file':
            this.sendFile(stream, req, res.realPath, res.contentType);
            return;
        }
      },
      () => {
        s.count('io-error');
        this.sendError(stream, 500, isHead);
      },
    );
  }

  private baseHeaders(status: number, info: FileInfo, length: number): http2.OutgoingHttpHeaders {
    const h: http2.OutgoingHttpHeaders = { ':status': status, server: this.http.serverName };
    if (status !== 304) {
      h['content-type'] = info.contentType;
      h['content-length'] = length;
    }
    h['last-modified'] = info.lastModified;
    h['etag'] = info.etag;
    if (status !== 304) h['accept-ranges'] = 'bytes';
    return h;
  }

  private sendEntry(stream: ServerHttp2Stream, req: ConditionalRequest, e: CacheEntry): void {
    const s = this.http;
    const isHead = req.method === 'HEAD';
    const plan = evaluateConditional(req, e);
    if (plan.status === 416) {
      s.count('range-not-satisfiable');
      this.sendError(stream, 416, isHead, { 'content-range': `bytes */${e.size}` });
      return;
    }
    const len = plan.end - plan.start;
    const h = this.baseHeaders(plan.status, e, plan.status === 304 ? 0 : len);
    if (plan.status === 206) h['content-range'] = `bytes ${plan.start}-${plan.end - 1}/${e.size}`;
    const body = plan.status === 304 || isHead || len === 0 ? null : plan.start === 0 && plan.end === e.size ? e.body : e.body.subarray(plan.start, plan.end);
    this.finish(stream, plan.status, h, body);
  }

  private sendFile(stream: ServerHttp2Stream, req: ConditionalRequest, realPath: string, contentType: string): void {
    const s = this.http;
    const isHead = req.method === 'HEAD';
    const st = this.sessions.get(stream.session as Http2Session);
    if (st !== undefined && st.files >= MAX_FILE_STREAMS_PER_SESSION) {
      // A client cannot hold more than this many file handles and chunks; it may retry the stream.
      this.count('file-streams-refused');
      ourReset.add(stream);
      if (!gone(stream)) stream.close(h2c.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (st !== undefined) st.files++;
    let counted = st !== undefined;
    let fh: FileHandle | null = null;
    const closeFile = (): void => {
      if (counted) {
        counted = false;
        st!.files--;
      }
      const f = fh;
      fh = null;
      f?.close().catch(() => undefined);
    };
    open(realPath, OPEN_FLAGS)
      .then(async (h) => {
        fh = h;
        const st = await h.stat();
        if (gone(stream)) return closeFile();
        if (!st.isFile()) {
          closeFile();
          s.count('not-regular-file');
          return this.sendError(stream, 404, isHead);
        }
        const info: FileInfo = { size: st.size, mtimeMs: st.mtimeMs, etag: makeEtag(st.mtimeMs, st.size), lastModified: formatHttpDate(st.mtimeMs), contentType };
        const plan = evaluateConditional(req, info);
        if (plan.status === 416) {
          closeFile();
          s.count('range-not-satisfiable');
          return this.sendError(stream, 416, isHead, { 'content-range': `bytes */${info.size}` });
        }
        const len = plan.end - plan.start;
        const headers = this.baseHeaders(plan.status, info, plan.status === 304 ? 0 : len);
        if (plan.status === 206) headers['content-range'] = `bytes ${plan.start}-${plan.end - 1}/${info.size}`;
        if (plan.status === 304 || isHead || len === 0) {
          closeFile();
          return this.finish(stream, plan.status, headers, null);
        }
        s.responses[(plan.status / 100) | 0]!++;
        stream.respond(headers);
        stream.on('close', closeFile);
        await this.pumpFile(stream, h, plan.start, plan.end);
        closeFile();
      })
      .catch(() => {
        closeFile();
        if (gone(stream)) return;
        if (stream.headersSent) {
          s.count('io-error');
          ourReset.add(stream);
          stream.close(h2c.NGHTTP2_INTERNAL_ERROR);
          return;
        }
        s.count('not-found');
        this.sendError(stream, 404, isHead);
      });
  }

  /**
   * Streams [pos, end) of the file, waiting for 'drain' when nghttp2's buffer is full. A stream
   * that makes no progress for the send timeout is cancelled: PINGs keep a session alive, so the
   * session's idle timeout alone would let a reader that never opens its window pin the file
   * handle and the chunk.
   */
  private async pumpFile(stream: ServerHttp2Stream, fh: FileHandle, pos: number, end: number): Promise<void> {
    const s = this.http;
    const chunkSize = Math.min(s.streamChunk, H2_FILE_CHUNK);
    while (pos < end && !gone(stream)) {
      const n = Math.min(chunkSize, end - pos);
      const chunk = Buffer.allocUnsafeSlow(n);
      const { bytesRead } = await fh.read(chunk, 0, n, pos);
      if (gone(stream)) return;
      if (bytesRead === 0) throw new Error('file shrank');
      pos += bytesRead;
      s.bytesSent += bytesRead;
      const more = stream.write(bytesRead === n ? chunk : chunk.subarray(0, bytesRead));
      if (!more && pos < end) {
        const drained = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => finish(false), s.limits.sendTimeoutMs);
          const finish = (ok: boolean): void => {
            clearTimeout(timer);
            stream.off('drain', onDrain);
            stream.off('close', onClose);
            resolve(ok);
          };
          const onDrain = (): void => finish(true);
          const onClose = (): void => finish(true);
          stream.on('drain', onDrain);
          stream.on('close', onClose);
        });
        if (!drained) {
          s.count('send-timeout');
          ourReset.add(stream);
          if (!gone(stream)) stream.close(h2c.NGHTTP2_CANCEL);
          return;
        }
      }
    }
    if (!gone(stream)) {
      stream.end();
      answered.add(stream);
    }
  }

  private sendError(stream: ServerHttp2Stream, status: number, isHead: boolean, extra: http2.OutgoingHttpHeaders = {}): void {
    const body = bodyFor(status);
    const h: http2.OutgoingHttpHeaders = {
      ':status': status,
      server: this.http.serverName,
      'content-type': 'text/plain; charset=utf-8',
      'content-length': body.length,
      ...extra,
    };
    this.finish(stream, status, h, isHead ? null : body);
  }

  private finish(stream: ServerHttp2Stream, status: number, headers: http2.OutgoingHttpHeaders, body: Buffer | null): void {
    if (gone(stream) || stream.headersSent) return;
    const s = this.http;
    try {
      if (body === null) {
        stream.respond(headers, { endStream: true });
      } else {
        stream.respond(headers);
        s.bytesSent += body.length;
        stream.end(body);
      }
      answered.add(stream);
      s.responses[(status / 100) | 0]!++;
    } catch {
      // The stream went away between the check and the call (a reset in the same read): nothing to answer.
      this.count('stream-gone');
    }
  }
}

/** Streams we reset ourselves (not the client's doing). */
const ourReset = new WeakSet<ServerHttp2Stream>();
/** Streams whose answer we finished (END_STREAM sent): a close after that is no reset. */
const answered = new WeakSet<ServerHttp2Stream>();

/**
 * A stream we must not answer any more: destroyed, or closed by the client. A client's
 * RST_STREAM (with any code, NO_ERROR included) closes the stream before Node destroys it;
 * respond() on it throws synchronously, which inside the 'stream' event would be uncaught.
 */
function gone(stream: ServerHttp2Stream): boolean {
  return stream.destroyed || stream.closed;
}

/** Most file streams (files too big for the cache) open at once per session, and the chunk each reads. */
const MAX_FILE_STREAMS_PER_SESSION = 16;
const H2_FILE_CHUNK = 64 * 1024;

/**
 * The size of this request's head as HTTP/1.1 would send it ("GET /p HTTP/1.1\r\n", a line per
 * field, :authority as Host, the blank line) and its field count, for HTTP/1.1's limits.
 */
function http1HeadSize(method: string, target: string, raw: string[]): { bytes: number; fields: number } {
  let bytes = method.length + target.length + 12 + 2;
  let fields = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 0x3a /* : */ && name !== ':authority') continue;
    fields++;
    bytes += (name === ':authority' ? 4 : name.length) + 2 + raw[i + 1]!.length + 2;
  }
  return { bytes, fields };
}

function header(headers: IncomingHttpHeaders, name: string): string | null {
  const v = headers[name];
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}
