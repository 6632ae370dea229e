/**
 * Request-target → cache key / file path under www-root, refusing anything that could leave it.
 *
 * The key is a normalised absolute path ("/", "/index.html", "/docs/"): percent-decoded (UTF-8),
 * empty segments collapsed, a trailing slash kept. Refused (404, counted as 'path-escape'):
 * "." and ".." segments (raw or percent-encoded, also double-decoded forms cannot appear since we
 * decode once: "%252e" is the literal file name "%2e"), encoded "/" or "\" (%2f, %5c), NUL
 * (%00), raw backslashes. Malformed targets (bad percent-encoding, invalid UTF-8, control
 * characters, a fragment, forms other than origin-form and http(s) absolute-form) → 400.
 * Symlinks are dealt with later: the resolved real path must stay inside realpath(www-root).
 */

export type PathResult = { ok: true; key: string } | { ok: false; status: number; reason: string };

const BAD_URI: PathResult = { ok: false, status: 400, reason: 'bad-uri' };
const ESCAPE: PathResult = { ok: false, status: 404, reason: 'path-escape' };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a request-target (origin-form or absolute-form) into a cache key. */
export function targetToKey(target: string): PathResult {
  let path: string;
  const c0 = target.charCodeAt(0);
  if (c0 === 0x2f /* / */) {
    path = target;
  } else if (c0 === 0x68 || c0 === 0x48 /* h H */) {
    // absolute-form: http://authority/path or https://authority/path
    const lower = target.slice(0, 8).toLowerCase();
    let rest: string;
    if (lower.startsWith('http://')) rest = target.slice(7);
    else if (lower.startsWith('https://')) rest = target.slice(8);
    else return BAD_URI;
    let slash = rest.length;
    for (let i = 0; i < rest.length; i++) {
      const c = rest.charCodeAt(i);
      if (c === 0x2f || c === 0x3f) {
        slash = i;
        break;
      }
      // userinfo, backslash or percent in the authority: refuse the weirdness
      if (c === 0x40 || c === 0x5c || c === 0x25) return BAD_URI;
    }
    if (slash === 0) return BAD_URI; // empty authority: http:///etc/passwd
    path = slash === rest.length ? '/' : rest.slice(slash);
    if (path.charCodeAt(0) === 0x3f) path = '/' + path;
  } else {
    return BAD_URI; // asterisk-form, authority-form, relative references
  }
  let q = path.indexOf('?');
  if (q >= 0) path = path.slice(0, q);
  if (path.indexOf('#') >= 0) return BAD_URI;
  return pathToKey(path);
}

/** Normalises an absolute path (no query) as described above. */
export function pathToKey(path: string): PathResult {
  if (path.charCodeAt(0) !== 0x2f) return BAD_URI;
  // Fast path: no escapes, no backslash, no empty or dot-leading segments.
  const n = path.length;
  let simple = true;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x25 || c === 0x5c || c < 0x21 || c > 0x7e) {
      simple = false;
      break;
    }
    if (c === 0x2f && i + 1 < n) {
      const d = path.charCodeAt(i + 1);
      if (d === 0x2f || d === 0x2e) {
        simple = false;
        break;
      }
    }
  }
  if (simple) return { ok: true, key: path };
  return slowPathToKey(path);
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function slowPathToKey(path: string): PathResult {
  const bytes = Buffer.allocUnsafe(path.length);
  let n = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x5c) return ESCAPE; // raw backslash
    if (c < 0x21 || c > 0x7e) return BAD_URI;
    if (c === 0x25) {
      if (i + 2 >= path.length) return BAD_URI;
      const h = hexVal(path.charCodeAt(i + 1));
      const l = hexVal(path.charCodeAt(i + 2));
      if (h < 0 || l < 0) return BAD_URI;
      const b = (h << 4) | l;
      if (b === 0 || b === 0x2f || b === 0x5c) return ESCAPE; // %00, %2f, %5c
      if (b < 0x20 || b === 0x7f) return BAD_URI;
      bytes[n++] = b;
      i += 2;
    } else {
      bytes[n++] = c;
    }
  }
  const segments: string[] = [];
  let segStart = 1;
  for (let i = 1; i <= n; i++) {
    if (i === n || bytes[i] === 0x2f) {
      if (i > segStart) {
        let seg: string;
        try {
          seg = utf8.decode(bytes.subarray(segStart, i));
        } catch {
          return BAD_URI;
        }
        if (seg === '.' || seg === '..') return ESCAPE;
        segments.push(seg);
      }
      segStart = i + 1;
    }
  }
  const trailing = n > 1 && bytes[n - 1] === 0x2f && segments.length > 0;
  return { ok: true, key: '/' + segments.join('/') + (trailing ? '/' : '') };
}
