/**
 * The management endpoint: a plain Node `http` server (the kernel's TCP, not the dataplane's) on
 * the pod's own network, serving /healthz, /readyz and /metrics.
 *
 * vpp.conf: `vpp-server { management 0.0.0.0:9100 }` (`off` or absent: no endpoint). The rendered pod
 * uses 0.0.0.0: `[::]` would also answer on macvlan0's kernel link-local (docs/deploy.md). `[::]`
 * is one dual-stack socket, falling back to 0.0.0.0 where the kernel has no IPv6.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, statSync, type Stats } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { CheckResult } from './health.js';

export interface ManagementAddress {
  host: string;
  port: number;
}

export const DEFAULT_MANAGEMENT_PORT = 9100;

/**
 * Parses the `management` value: `off`, `<port>`, `<ipv4>:<port>`, `[<ipv6>]:<port>` or `<ipv4>`
 * (port 9100). Returns null for `off`; throws with what is valid otherwise.
 */
export function parseManagementAddress(value: string): ManagementAddress | null {
  const v = value.trim();
  if (v === 'off' || v === 'disable' || v === 'none') return null;
  const bad = () =>
    new Error(`management ${value}: expected off, <port>, <ipv4>:<port> or [<ipv6>]:<port> (e.g. management 0.0.0.0:${DEFAULT_MANAGEMENT_PORT})`);
  let host: string;
  let portText: string;
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(v);
  if (v6 !== null) {
    host = v6[1];
    portText = v6[2] ?? String(DEFAULT_MANAGEMENT_PORT);
  } else if (/^\d+$/.test(v)) {
    host = '0.0.0.0';
    portText = v;
  } else {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3}|localhost)(?::(\d+))?$/.exec(v);
    if (m === null) throw bad();
    host = m[1];
    portText = m[2] ?? String(DEFAULT_MANAGEMENT_PORT);
    if (host !== 'localhost' && host.split('.').some((o) => Number(o) > 255)) throw bad();
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw bad();
  return { host, port };
}

export interface ManagementHandlers {
  live(): CheckResult;
  ready(): CheckResult;
  /** A registry, or the main thread's view over every thread's registries (worker threads). */
  metrics: Pick<Registry, 'metrics' | 'contentType'>;
}

/**
 * The bearer token /metrics asks for (`vpp-server { metrics-token-file <path> }`): the file's
 * content, surrounding white space trimmed. Read when the endpoint starts (a missing, unreadable
 * or empty file is a configuration error) and again when the file changed (a rotated Secret).
 */
export class MetricsToken {
  private digest: Buffer;
  /** Which file the token was read from, and which version of it: re-read when any of these moves. */
  private version: FileVersion;
  /**
   * The file's token has white space inside it (after trimming the ends): a bearer token is one
   * word (`Bearer <token>` matches `\S+`), so no request can ever match it. The engine warns at
   * config load; the endpoint still starts (refusing every scrape, as configured).
   */
  readonly hasInnerWhitespace: boolean;

  constructor(readonly file: string) {
    const r = MetricsToken.read(file);
    this.digest = r.digest;
    this.version = r.version;
    this.hasInnerWhitespace = r.innerWhitespace;
  }

  private static read(file: string): { digest: Buffer; version: FileVersion; innerWhitespace: boolean } {
    let text: string;
    let st: Stats;
    try {
      // One open file, its stat and its content both taken from the descriptor: a Secret swap (the
      // kubelet renames ..data to a new directory) landing between the two cannot pair the old
      // content with the new file's stat, which would pin the old token (review r/metrics2 R2-3).
      const fd = openSync(file, 'r');
      try {
        st = fstatSync(fd);
        text = readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      throw new Error(`metrics-token-file ${file}: ${(err as Error).message}`);
    }
    const token = text.trim();
    if (token === '') throw new Error(`metrics-token-file ${file} is empty`);
    return { digest: createHash('sha256').update(token).digest(), version: versionOf(st), innerWhitespace: /\s/.test(token) };
  }

  /** Whether an Authorization header carries the token (constant time: SHA-256 digests compared with timingSafeEqual). */
  accepts(authorization: string | undefined): boolean {
    this.refresh();
    if (authorization === undefined) return false;
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (m === null) return false;
    return timingSafeEqual(createHash('sha256').update(m[1]).digest(), this.digest);
  }

  /**
   * Re-reads the file when it changed: another file behind the path (device, inode: a swapped
   * symlink, a Secret's new directory), or the same file rewritten (size, mtime, ctime). Keeps the
   * last good token if it cannot.
   */
  private refresh(): void {
    const st = statSyncSafe(this.file);
    if (st === undefined || sameVersion(versionOf(st), this.version)) return;
    try {
      const r = MetricsToken.read(this.file);
      this.digest = r.digest;
      this.version = r.version;
    } catch {
      // (a Secret being swapped: the symlink may point nowhere for an instant) keep the last token
    }
  }
}

interface FileVersion {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

function versionOf(st: Stats): FileVersion {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

function sameVersion(a: FileVersion, b: FileVersion): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

function statSyncSafe(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}

/** The routes `served` counts (anything else is `other`: never a key per client-chosen path). */
const ROUTES: ReadonlySet<string> = new Set(['/healthz', '/livez', '/readyz', '/metrics', '/']);

export class ManagementServer {
  private server: Server | null = null;
  /**
   * Requests answered, by route (/healthz /livez /readyz /metrics /, anything else `other`; for
   * tests and `show management`). Counted before routing and authentication, so never keyed by the
   * client's path: 20,000 distinct paths once cost 136 MiB of heap (review r/metrics2 R2-2).
   */
  readonly served: Record<string, number> = {};

  constructor(
    readonly address: ManagementAddress,
    private readonly handlers: ManagementHandlers,
    /** When set, /metrics needs `Authorization: Bearer <token>` (401 otherwise); /healthz, /livez and /readyz stay open for the kubelet's probes. */
    private readonly metricsToken: MetricsToken | null = null,
  ) {}

  /**
   * Set when the address was `::` and the pod's kernel has no IPv6 (EAFNOSUPPORT, EADDRNOTAVAIL):
   * the endpoint then listens on 0.0.0.0 instead, and the caller says so in the log.
   */
  fellBackToIpv4 = false;

  /**
   * Listens; rejects with the listen error (EADDRINUSE, EADDRNOTAVAIL, EACCES …). `::` is one
   * dual-stack socket (Node leaves IPV6_V6ONLY off), so the kubelet's probes reach it over the pod
   * network's IPv4 or IPv6, whichever the cluster runs; a kernel without IPv6 gets 0.0.0.0.
   */
  async listen(): Promise<AddressInfo> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    const listenOn = (host: string) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.address.port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    try {
      await listenOn(this.address.host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (this.address.host !== '::' || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw err;
      this.fellBackToIpv4 = true;
      await listenOn('0.0.0.0');
    }
    // Probes must never keep the process alive on their own.
    server.unref();
    this.server = server;
    return server.address() as AddressInfo;
  }

  get listening(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null) ?? null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const route = ROUTES.has(path) ? path : 'other';
    this.served[route] = (this.served[route] ?? 0) + 1;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    try {
      if (path === '/healthz' || path === '/livez') {
        this.check(res, this.handlers.live(), req.method === 'HEAD');
      } else if (path === '/readyz') {
        this.check(res, this.handlers.ready(), req.method === 'HEAD');
      } else if (path === '/metrics') {
        if (this.metricsToken !== null && !this.metricsToken.accepts(req.headers.authorization)) {
          res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="vpp-server metrics"', 'Content-Type': 'text/plain' }).end('unauthorized: /metrics needs Authorization: Bearer <token> (vpp-server { metrics-token-file })\n');
          return;
        }
        const body = await this.handlers.metrics.metrics();
        res.writeHead(200, { 'Content-Type': this.handlers.metrics.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      } else if (path === '/') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('vpp-server management: /healthz /readyz /metrics\n');
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try /healthz, /readyz or /metrics\n');
      }
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`internal error: ${(err as Error).message}\n`);
    }
  }

  private check(res: ServerResponse, result: CheckResult, head: boolean): void {
    const body = JSON.stringify(result.ok ? { status: 'ok' } : { status: 'unavailable', reasons: result.reasons });
    res.writeHead(result.ok ? 200 : 503, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(head ? undefined : `${body}\n`);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
