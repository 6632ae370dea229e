/**
 * Resolution of cache keys to files under www-root, and the in-memory LRU cache of their contents.
 *
 * Every resolution goes through realpath() and checks that the result is www-root's real path or
 * below it, so symlinks that leave the root are refused; only regular files are served
 * (directories resolve to their index.html). Files up to `maxEntryBytes` are read whole and kept
 * in the cache until evicted (least recently used first) to keep the total within `capacity`;
 * bigger files resolve to `{ kind: 'file' }` and are streamed by the server. A cached entry is
 * trusted for `revalidateMs` after it was last checked. Entries in use are re-checked in the
 * background before they expire (`refreshHot`, driven by the server's sweep timer), so traffic on
 * hot files never waits for a stat; otherwise the next request after expiry re-resolves
 * the path and stats the file (two async syscalls), and reloads it if size, mtime, ctime, inode or
 * real path changed, or drops it if it is gone. Concurrent requests for the same key share one
 * load or revalidation.
 */
import { constants as fsConstants, type Stats } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { contentType as mimeContentType } from 'mime-types';
import { formatHttpDate } from './http-date.js';

/** Bytes charged per cache entry on top of its body, so that empty files cannot fill memory. */
export const ENTRY_OVERHEAD_BYTES = 256;

export interface FileInfo {
  size: number;
  mtimeMs: number;
  /** Strong validator: "<mtime µs hex>-<size hex>". */
  etag: string;
  /** IMF-fixdate of mtime. */
  lastModified: string;
  contentType: string;
}

export class CacheEntry implements FileInfo {
  size: number;
  mtimeMs: number;
  etag: string;
  lastModified: string;
  checkedAt: number;
  /** When a request last used it (ms). */
  lastUsed: number;
  revalidating: Promise<Resolution> | null = null;
  /** Response heads built by the server for this entry; valid while `headsDate` is current. */
  heads: (Buffer | undefined)[] = [];
  headsDate = '';
  prev: CacheEntry | null = null;
  next: CacheEntry | null = null;
  linked = false;

  constructor(
    readonly key: string,
    readonly realPath: string,
    readonly body: Buffer,
    readonly contentType: string,
    readonly ino: number,
    readonly ctimeMs: number,
    mtimeMs: number,
    now: number,
  ) {
    this.size = body.length;
    this.mtimeMs = mtimeMs;
    this.etag = makeEtag(mtimeMs, body.length);
    this.lastModified = formatHttpDate(mtimeMs);
    this.checkedAt = now;
    this.lastUsed = now;
  }
}

export type Resolution =
  | { kind: 'entry'; entry: CacheEntry }
  /** Too big for the cache: the server opens and streams it. */
  | { kind: 'file'; realPath: string; contentType: string }
  /** A directory asked for without its trailing slash. */
  | { kind: 'redirect' }
  | { kind: 'error'; status: number; reason: string };

export interface CacheStats {
  entries: number;
  bytes: number;
  capacity: number;
  hits: number;
  misses: number;
  evictions: number;
}

/** Strong validator from mtime (microseconds) and size: "<mtime µs hex>-<size hex>". */
export function makeEtag(mtimeMs: number, size: number): string {
  return `"${Math.floor(mtimeMs * 1000).toString(16)}-${size.toString(16)}"`;
}

const typeByExt = new Map<string, string>();

/** Content-Type for a file name (text types get charset=utf-8), application/octet-stream if unknown. */
export function contentTypeFor(name: string): string {
  const slash = name.lastIndexOf('/');
  const dot = name.lastIndexOf('.');
  const ext = dot > slash + 1 ? name.slice(dot + 1).toLowerCase() : '';
  let t = typeByExt.get(ext);
  if (t === undefined) {
    t = (ext !== '' && mimeContentType(ext)) || 'application/octet-stream';
    if (typeByExt.size < 1000) typeByExt.set(ext, t);
  }
  return t;
}

const NOT_FOUND: Resolution = { kind: 'error', status: 404, reason: 'not-found' };
const SYMLINK_ESCAPE: Resolution = { kind: 'error', status: 404, reason: 'symlink-escape' };
const NOT_REGULAR: Resolution = { kind: 'error', status: 404, reason: 'not-regular-file' };
const REDIRECT: Resolution = { kind: 'redirect' };

/** Flags for opening files to serve: never follow a final symlink, never block on a FIFO. */
export const OPEN_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;

type Located = { realPath: string; st: Stats } | Resolution;

export class FileCache {
  private readonly map = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Resolution>>();
  /** LRU list: head = most recently used. */
  private head: CacheEntry | null = null;
  private tail: CacheEntry | null = null;
  private cost = 0;
  private bodyBytes = 0;
  private realRoot: string | null = null;
  private realRootAt = 0;
  hits = 0;
  misses = 0;
  evictions = 0;

  constructor(
    /** www-root without a trailing slash. */
    private readonly root: string,
    readonly capacity: number,
    private readonly maxEntryBytes: number,
    private readonly revalidateMs = 1000,
  ) {}

  stats(): CacheStats {
    return {
      entries: this.map.size,
      bytes: this.bodyBytes,
      capacity: this.capacity,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
    };
  }

  /** A cached entry checked less than revalidateMs ago (counted as a hit), else undefined. */
  peek(key: string, now: number): CacheEntry | undefined {
    const e = this.map.get(key);
    if (e === undefined || now - e.checkedAt >= this.revalidateMs) return undefined;
    this.hits++;
    e.lastUsed = now;
    if (e !== this.head) this.touch(e);
    return e;
  }

  /** Resolves a key, from the cache when it is still valid, else from the file system. */
  resolve(key: string, now: number): Promise<Resolution> {
    const e = this.map.get(key);
    if (e !== undefined) {
      if (now - e.checkedAt < this.revalidateMs) {
        this.hits++;
        e.lastUsed = now;
        this.touch(e);
        return Promise.resolve({ kind: 'entry', entry: e });
      }
      return this.startRevalidation(e, true);
    }
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = this.load(key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  /** The cached entries, most recently used first. */
  *entries(): IterableIterator<CacheEntry> {
    for (let e = this.head; e !== null; e = e.next) yield e;
  }

  clear(): void {
    this.map.clear();
    this.head = this.tail = null;
    this.cost = 0;
    this.bodyBytes = 0;
  }

  /** realpath + containment check + stat; directories → their index.html. */
  async locate(key: string): Promise<Located> {
    // www-root's own real path, refreshed at most once per revalidation period (it may be a
    // symlink that is switched to a new directory, as Kubernetes volume updates do)
    let rootReal = this.realRoot;
    const now = Date.now();
    if (rootReal === null || now - this.realRootAt >= this.revalidateMs) {
      try {
        rootReal = await realpath(this.root === '' ? '/' : this.root);
      } catch {
        this.realRoot = null;
        return NOT_FOUND;
      }
      this.realRoot = rootReal;
      this.realRootAt = now;
    }
    let real: string;
    let st: Stats;
    try {
      real = await realpath(this.root + key);
    } catch {
      return NOT_FOUND;
    }
    if (!isInside(real, rootReal)) return SYMLINK_ESCAPE;
    try {
      st = await stat(real);
      if (st.isDirectory()) {
        if (!key.endsWith('/')) return REDIRECT;
        real = await realpath(real + '/index.html');
        if (!isInside(real, rootReal)) return SYMLINK_ESCAPE;
        st = await stat(real);
      }
    } catch {
      return NOT_FOUND;
    }
    if (!st.isFile()) return NOT_REGULAR;
    return { realPath: real, st };
  }

  private async load(key: string): Promise<Resolution> {
    const loc = await this.locate(key);
    if ('kind' in loc) return loc;
    this.misses++;
    const type = contentTypeFor(key.endsWith('/') ? 'index.html' : key);
    if (loc.st.size > this.maxEntryBytes || loc.st.size + ENTRY_OVERHEAD_BYTES > this.capacity) {
      return { kind: 'file', realPath: loc.realPath, contentType: type };
    }
    let fh;
    try {
      fh = await open(loc.realPath, OPEN_FLAGS);
    } catch {
      return NOT_FOUND;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) return NOT_REGULAR;
      if (st.size > this.maxEntryBytes || st.size + ENTRY_OVERHEAD_BYTES > this.capacity) {
        return { kind: 'file', realPath: loc.realPath, contentType: type };
      }
      const body = Buffer.allocUnsafeSlow(st.size);
      let got = 0;
      while (got < st.size) {
        const { bytesRead } = await fh.read(body, got, st.size - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      const entry = new CacheEntry(
        key,
        loc.realPath,
        got === st.size ? body : body.subarray(0, got),
        type,
        st.ino,
        st.ctimeMs,
        st.mtimeMs,
        Date.now(),
      );
      this.insert(entry);
      return { kind: 'entry', entry };
    } catch {
      return { kind: 'error', status: 500, reason: 'io-error' };
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  private startRevalidation(e: CacheEntry, countHit: boolean): Promise<Resolution> {
    if (e.revalidating === null) {
      e.revalidating = this.revalidate(e, countHit).finally(() => {
        e.revalidating = null;
      });
    }
    return e.revalidating;
  }

  /**
   * Re-checks, in the background, entries used within the last two revalidation periods whose
   * check is older than half a period (most recently used first, at most `max`), so that they
   * are fresh again before they would expire. Call it at least every revalidateMs / 4.
   */
  refreshHot(now: number, max = 64): void {
    const half = this.revalidateMs / 2;
    let n = 0;
    for (let e = this.head; e !== null && n < max; e = e.next) {
      if (now - e.lastUsed > 2 * this.revalidateMs) break;
      if (e.revalidating !== null || now - e.checkedAt < half) continue;
      n++;
      this.startRevalidation(e, false).catch(() => undefined);
    }
  }

  private async revalidate(e: CacheEntry, countHit = true): Promise<Resolution> {
    const loc = await this.locate(e.key);
    if (this.map.get(e.key) !== e) return this.resolve(e.key, Date.now());
    if (!('kind' in loc)) {
      const st = loc.st;
      if (
        loc.realPath === e.realPath &&
        st.size === e.size &&
        st.mtimeMs === e.mtimeMs &&
        st.ctimeMs === e.ctimeMs &&
        st.ino === e.ino
      ) {
        e.checkedAt = Date.now();
        if (countHit) {
          e.lastUsed = e.checkedAt;
          this.hits++;
        }
        this.touch(e);
        return { kind: 'entry', entry: e };
      }
    }
    this.remove(e);
    if ('kind' in loc) return loc;
    return this.resolve(e.key, Date.now());
  }

  private insert(e: CacheEntry): void {
    const old = this.map.get(e.key);
    if (old !== undefined) this.remove(old);
    const cost = e.size + ENTRY_OVERHEAD_BYTES;
    while (this.cost + cost > this.capacity && this.tail !== null) {
      this.remove(this.tail);
      this.evictions++;
    }
    this.map.set(e.key, e);
    this.cost += cost;
    this.bodyBytes += e.size;
    this.linkHead(e);
  }

  private remove(e: CacheEntry): void {
    if (this.map.get(e.key) === e) this.map.delete(e.key);
    if (!e.linked) return;
    this.unlink(e);
    this.cost -= e.size + ENTRY_OVERHEAD_BYTES;
    this.bodyBytes -= e.size;
  }

  private touch(e: CacheEntry): void {
    if (e === this.head || !e.linked) return;
    this.unlink(e);
    this.linkHead(e);
  }

  private linkHead(e: CacheEntry): void {
    e.prev = null;
    e.next = this.head;
    if (this.head !== null) this.head.prev = e;
    this.head = e;
    if (this.tail === null) this.tail = e;
    e.linked = true;
  }

  private unlink(e: CacheEntry): void {
    if (e.prev !== null) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = null;
    e.linked = false;
  }
}

export function isInside(real: string, root: string): boolean {
  if (real === root) return true;
  if (root === '/') return real.startsWith('/');
  return real.length > root.length && real.charCodeAt(root.length) === 0x2f && real.startsWith(root);
}
