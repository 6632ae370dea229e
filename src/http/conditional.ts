/**
 * Conditional and range requests (RFC 9110 §13, §14): If-None-Match, If-Modified-Since,
 * If-Range and a single-range Range decide between 200, 206, 304 and 416, for HTTP/1.1
 * (server.ts) and HTTP/2 (h2.ts) alike.
 */
import type { FileInfo } from './cache.js';
import { parseHttpDate } from './http-date.js';
import type { ParsedRequest } from './parser.js';

/** What evaluateConditional() needs of a request: its method and its conditional and range headers (HTTP/1.1 or HTTP/2). */
export type ConditionalRequest = Pick<ParsedRequest, 'method' | 'ifNoneMatch' | 'ifModifiedSince' | 'range' | 'ifRange'>;

/** Decides 200 / 206 / 304 / 416 and the byte span [start, end). */
export function evaluateConditional(r: ConditionalRequest, info: FileInfo): { status: number; start: number; end: number } {
  const size = info.size;
  if (r.ifNoneMatch !== null) {
    if (etagMatches(r.ifNoneMatch, info.etag)) return { status: 304, start: 0, end: 0 };
  } else if (r.ifModifiedSince !== null) {
    const ims = parseHttpDate(r.ifModifiedSince);
    if (ims === ims && Math.floor(info.mtimeMs / 1000) * 1000 <= ims) return { status: 304, start: 0, end: 0 };
  }
  if (r.range !== null && r.method === 'GET') {
    let useRange = true;
    if (r.ifRange !== null) {
      const v = r.ifRange.trim();
      if (v.startsWith('"') || v.startsWith('W/')) useRange = v === info.etag;
      else useRange = parseHttpDate(v) === Math.floor(info.mtimeMs / 1000) * 1000;
    }
    if (useRange) {
      const range = parseRange(r.range, size);
      if (range === -1) return { status: 416, start: 0, end: 0 };
      if (range !== null) return { status: 206, start: range[0], end: range[1] + 1 };
    }
  }
  return { status: 200, start: 0, end: size };
}

function etagMatches(list: string, etag: string): boolean {
  if (list === etag) return true;
  let i = 0;
  const n = list.length;
  while (i < n) {
    let j = list.indexOf(',', i);
    if (j < 0) j = n;
    let a = i;
    let b = j;
    while (a < b && (list.charCodeAt(a) === 32 || list.charCodeAt(a) === 9)) a++;
    while (b > a && (list.charCodeAt(b - 1) === 32 || list.charCodeAt(b - 1) === 9)) b--;
    if (b - a === 1 && list.charCodeAt(a) === 42 /* * */) return true;
    if (list.startsWith('W/', a)) a += 2;
    if (b - a === etag.length && list.startsWith(etag, a)) return true;
    i = j + 1;
  }
  return false;
}

/** Parses a single "bytes=" range against size: [start, end] inclusive, null = ignore, -1 = unsatisfiable. */
export function parseRange(value: string, size: number): [number, number] | null | -1 {
  if (value.length < 7 || value.slice(0, 6).toLowerCase() !== 'bytes=') return null;
  const spec = value.slice(6).trim();
  if (spec.indexOf(',') >= 0) return null; // several ranges: send the whole representation
  const dash = spec.indexOf('-');
  if (dash < 0) return null;
  const a = spec.slice(0, dash).trim();
  const b = spec.slice(dash + 1).trim();
  const num = (s: string): number => {
    if (s.length === 0 || s.length > 15) return s.length === 0 ? -1 : Number.MAX_SAFE_INTEGER;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) return -2;
    }
    return Number(s);
  };
  const first = num(a);
  const last = num(b);
  if (first === -2 || last === -2) return null;
  if (first === -1) {
    if (last <= 0) return last === 0 ? -1 : null; // "-0" unsatisfiable, "-" invalid
    if (size === 0) return -1;
    return [Math.max(0, size - last), size - 1];
  }
  if (last !== -1 && last < first) return null;
  if (first >= size) return -1;
  return [first, last === -1 || last >= size ? size - 1 : last];
}
