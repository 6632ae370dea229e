/**
 * HTTP/1.1 request-head parsing (RFC 9112 §2–§5), byte-level, no regular expressions.
 *
 * A connection keeps one `RequestHeadScanner`: `scan()` is called each time bytes arrive and
 * resumes where it stopped (a client sending one byte at a time costs O(1) per byte), enforcing
 * the request-line, head-size and header-count limits before the head is complete. Once it
 * reports a complete head, `parseRequestHead()` makes one pass over it and extracts only the
 * fields the static server uses.
 */

export interface HeadLimits {
  /** Longest request line (method, target, version), bytes without CRLF → 414 beyond. */
  maxRequestLine: number;
  /** Longest head (request line + header lines + blank line) → 431 beyond. */
  maxHeaderBytes: number;
  /** Most header lines → 431 beyond. */
  maxHeaderCount: number;
}

export interface ParsedRequest {
  ok: true;
  method: string;
  /** The request-target exactly as sent (visible ASCII only). */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 (and 1.x, x > 1). */
  versionMinor: number;
  /** Whether the connection may stay open after this request (version default + Connection). */
  keepAlive: boolean;
  /** Number of Host header lines (1.1 requires exactly one). */
  hostCount: number;
  /** The Host header's value (trimmed), null when absent. */
  host: string | null;
  ifNoneMatch: string | null;
  ifModifiedSince: string | null;
  range: string | null;
  ifRange: string | null;
  /** Declared body length, 0 when absent. */
  contentLength: number;
  transferEncoding: string | null;
  expect: string | null;
}

export interface ParseFailure {
  ok: false;
  status: number;
  /** Error counter name, e.g. 'bad-request'. */
  reason: string;
}

export type ParseResult = ParsedRequest | ParseFailure;

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

/** tchar (RFC 9110 §5.6.2) lookup. */
const TCHAR = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;

/** Allowed in a field value: HTAB, SP, VCHAR, obs-text. */
const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[HT] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE[c] = 1;

export function fail(status: number, reason: string): ParseFailure {
  return { ok: false, status, reason };
}

/** Incremental search for the end of a request head, with limits. */
export class RequestHeadScanner {
  /** Offset (from the head's start) of the first line not yet seen complete. */
  private scanned = 0;
  /** Complete lines seen so far (request line included). */
  private lines = 0;
  failure: ParseFailure | null = null;

  constructor(private readonly limits: HeadLimits) {}

  reset(): void {
    this.scanned = 0;
    this.lines = 0;
    this.failure = null;
  }

  /**
   * Looks for the blank line ending the head that starts at buf[start] (which must not be CR or
   * LF: the caller skips empty lines before a request). Returns the head's length including the
   * blank line, 0 if more bytes are needed, or -1 on a limit violation (see `failure`).
   */
  scan(buf: Buffer, start: number, end: number): number {
    const { maxRequestLine, maxHeaderBytes, maxHeaderCount } = this.limits;
    let pos = start + this.scanned;
    for (;;) {
      let nl = pos < end ? buf.indexOf(LF, pos) : -1;
      if (nl >= end) nl = -1;
      if (nl < 0) {
        const total = end - start;
        if (this.lines === 0 && total > maxRequestLine + 1) return this.limit(414, 'uri-too-long');
        if (total > maxHeaderBytes) return this.limit(431, 'headers-too-large');
        this.scanned = pos - start;
        return 0;
      }
      if (this.lines === 0) {
        let lineLen = nl - start;
        if (lineLen > 0 && buf[nl - 1] === CR) lineLen--;
        if (lineLen > maxRequestLine) return this.limit(414, 'uri-too-long');
      } else if (nl === pos || (nl === pos + 1 && buf[pos] === CR)) {
        const headLen = nl + 1 - start;
        if (headLen > maxHeaderBytes) return this.limit(431, 'headers-too-large');
        return headLen;
      }
      this.lines++;
      if (this.lines - 1 > maxHeaderCount) return this.limit(431, 'too-many-headers');
      if (nl + 1 - start > maxHeaderBytes) return this.limit(431, 'headers-too-large');
      pos = nl + 1;
    }
  }

  private limit(status: number, reason: string): number {
    this.failure = fail(status, reason);
    return -1;
  }
}

/** Case-insensitive compare of buf[off, off+name.length) with a lower-case ASCII name. */
function nameIs(buf: Buffer, off: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    if ((buf[off + i]! | 0x20) !== name.charCodeAt(i)) return false;
  }
  return true;
}

function bytesAre(buf: Buffer, off: number, len: number, s: string): boolean {
  if (len !== s.length) return false;
  for (let i = 0; i < len; i++) if (buf[off + i] !== s.charCodeAt(i)) return false;
  return true;
}

/**
 * Request-target strings, remembered in a small direct-mapped table so that a repeated target
 * (the common case on keep-alive connections) is one byte comparison instead of a new string,
 * and the same string instance keeps its hash for the cache lookups that follow.
 */
const TARGETS = 256;
const targetTable: string[] = new Array<string>(TARGETS).fill('');

function targetString(buf: Buffer, a: number, b: number): string {
  const len = b - a;
  if (len > 128) return buf.toString('latin1', a, b);
  const h = (len * 31 + buf[b - 1]! * 7 + buf[a + (len >> 1)]! * 3 + buf[a + (len >> 2)]!) & (TARGETS - 1);
  const cached = targetTable[h]!;
  if (cached.length === len) {
    let i = 0;
    while (i < len && cached.charCodeAt(i) === buf[a + i]) i++;
    if (i === len) return cached;
  }
  const s = buf.toString('latin1', a, b);
  targetTable[h] = s;
  return s;
}

function validValue(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (FIELD_VALUE[buf[i]!] !== 1) return false;
  return true;
}

/** Splits a comma-separated token list (lower-cased) and reports close / keep-alive. */
function connectionTokens(value: string): number {
  let flags = 0;
  const v = value.toLowerCase();
  let i = 0;
  while (i <= v.length) {
    let j = v.indexOf(',', i);
    if (j < 0) j = v.length;
    let a = i;
    let b = j;
    while (a < b && (v.charCodeAt(a) === SP || v.charCodeAt(a) === HT)) a++;
    while (b > a && (v.charCodeAt(b - 1) === SP || v.charCodeAt(b - 1) === HT)) b--;
    const len = b - a;
    if (len === 5 && v.startsWith('close', a)) flags |= 1;
    else if (len === 10 && v.startsWith('keep-alive', a)) flags |= 2;
    i = j + 1;
  }
  return flags;
}

/** Parses a complete head buf[start, start+len) found by RequestHeadScanner. */
export function parseRequestHead(buf: Buffer, start: number, len: number): ParseResult {
  const end = start + len;
  // ---- request line: method SP request-target SP HTTP-version
  let lineEnd = buf.indexOf(LF, start);
  if (lineEnd < 0 || lineEnd >= end) return fail(400, 'bad-request');
  let lineStop = lineEnd;
  if (lineStop > start && buf[lineStop - 1] === CR) lineStop--;

  let p = start;
  while (p < lineStop && TCHAR[buf[p]!] === 1) p++;
  if (p === start || p >= lineStop || buf[p] !== SP) return fail(400, 'bad-request');
  const methodEnd = p;
  const targetStart = p + 1;
  p = targetStart;
  while (p < lineStop) {
    const c = buf[p]!;
    if (c === SP) break;
    if (c < 0x21 || c > 0x7e) return fail(400, 'bad-request');
    p++;
  }
  if (p === targetStart || p >= lineStop) return fail(400, 'bad-request');
  const targetEnd = p;
  const vStart = p + 1;
  // HTTP-version = "HTTP/" DIGIT "." DIGIT
  if (
    lineStop - vStart !== 8 ||
    buf[vStart] !== 0x48 ||
    buf[vStart + 1] !== 0x54 ||
    buf[vStart + 2] !== 0x54 ||
    buf[vStart + 3] !== 0x50 ||
    buf[vStart + 4] !== 0x2f ||
    buf[vStart + 6] !== 0x2e
  ) {
    return fail(400, 'bad-request');
  }
  const major = buf[vStart + 5]! - 0x30;
  const minor = buf[vStart + 7]! - 0x30;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return fail(400, 'bad-request');
  if (major !== 1) return fail(505, 'version-not-supported');

  let method: string;
  const mlen = methodEnd - start;
  if (bytesAre(buf, start, mlen, 'GET')) method = 'GET';
  else if (bytesAre(buf, start, mlen, 'HEAD')) method = 'HEAD';
  else method = buf.toString('latin1', start, methodEnd);
  const target = targetString(buf, targetStart, targetEnd);

  const req: ParsedRequest = {
    ok: true,
    method,
    target,
    versionMinor: minor === 0 ? 0 : 1,
    keepAlive: minor !== 0,
    hostCount: 0,
    host: null,
    ifNoneMatch: null,
    ifModifiedSince: null,
    range: null,
    ifRange: null,
    contentLength: 0,
    transferEncoding: null,
    expect: null,
  };

  // ---- header fields: field-name ":" OWS field-value OWS
  let contentLengthSeen = false;
  let connFlags = 0;
  let next = lineEnd + 1;
  while (next < end) {
    const ls = next;
    lineEnd = buf.indexOf(LF, ls);
    next = lineEnd + 1;
    if (lineEnd < 0 || lineEnd >= end) return fail(400, 'bad-request');
    lineStop = lineEnd;
    if (lineStop > ls && buf[lineStop - 1] === CR) lineStop--;
    if (lineStop === ls) break; // the blank line
    let q = ls;
    while (q < lineStop && TCHAR[buf[q]!] === 1) q++;
    // no name, whitespace before the colon, or an obs-fold continuation line
    if (q === ls || q >= lineStop || buf[q] !== 0x3a) return fail(400, 'bad-request');
    const nameLen = q - ls;
    // field values: no control characters but HTAB (NUL, bare CR, …)
    if (!validValue(buf, q + 1, lineStop)) return fail(400, 'bad-request');
    // only the fields we use are trimmed and turned into strings
    switch (nameLen) {
      case 4:
        if (nameIs(buf, ls, 'host')) {
          if (++req.hostCount > 1) return fail(400, 'bad-host');
          break;
        }
        continue;
      case 5:
      case 6:
      case 8:
      case 10:
      case 13:
      case 14:
      case 17:
        break;
      default:
        continue;
    }
    let vs = q + 1;
    let ve = lineStop;
    while (vs < ve && (buf[vs] === SP || buf[vs] === HT)) vs++;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;

    switch (nameLen) {
      case 4:
        req.host = buf.toString('latin1', vs, ve);
        break;
      case 5:
        if (nameIs(buf, ls, 'range')) req.range = buf.toString('latin1', vs, ve);
        break;
      case 6:
        if (nameIs(buf, ls, 'expect')) req.expect = buf.toString('latin1', vs, ve);
        break;
      case 8:
        if (nameIs(buf, ls, 'if-range')) req.ifRange = buf.toString('latin1', vs, ve);
        break;
      case 10:
        if (nameIs(buf, ls, 'connection')) connFlags |= connectionTokens(buf.toString('latin1', vs, ve));
        break;
      case 13:
        if (nameIs(buf, ls, 'if-none-match')) {
          const v = buf.toString('latin1', vs, ve);
          req.ifNoneMatch = req.ifNoneMatch === null ? v : `${req.ifNoneMatch}, ${v}`;
        }
        break;
      case 14:
        if (nameIs(buf, ls, 'content-length')) {
          if (vs === ve || ve - vs > 15) return fail(vs === ve ? 400 : 413, vs === ve ? 'bad-request' : 'body-too-large');
          let n = 0;
          for (let i = vs; i < ve; i++) {
            const d = buf[i]! - 0x30;
            if (d < 0 || d > 9) return fail(400, 'bad-request');
            n = n * 10 + d;
          }
          if (contentLengthSeen && n !== req.contentLength) return fail(400, 'bad-request');
          contentLengthSeen = true;
          req.contentLength = n;
        }
        break;
      case 17:
        if (nameIs(buf, ls, 'if-modified-since')) req.ifModifiedSince = buf.toString('latin1', vs, ve);
        else if (nameIs(buf, ls, 'transfer-encoding')) {
          const v = buf.toString('latin1', vs, ve);
          req.transferEncoding = req.transferEncoding === null ? v : `${req.transferEncoding}, ${v}`;
        }
        break;
    }
  }

  if (req.versionMinor === 1 && req.hostCount === 0) return fail(400, 'bad-host');
  if (req.transferEncoding !== null && contentLengthSeen) return fail(400, 'bad-request');
  if (connFlags & 1) req.keepAlive = false;
  else if (connFlags & 2) req.keepAlive = true;
  return req;
}
