/** Helpers shared by the http-*.test.ts files: a server over Node's net, real curl, raw sockets. */
import { execFile } from 'node:child_process';
import net from 'node:net';
import type { HttpStaticServerOptions } from '../../src/http/options.js';
import { HttpStaticServer } from '../../src/http/server.js';
import { listenNet, type NetListener } from '../../src/http/node-net-adapter.js';

export interface Running {
  server: HttpStaticServer;
  listener: NetListener;
  port: number;
  base: string;
  stop(): Promise<void>;
}

export async function startServer(opts: HttpStaticServerOptions): Promise<Running> {
  const server = new HttpStaticServer(opts);
  const listener = await listenNet(server.accept, 0, '127.0.0.1');
  return {
    server,
    listener,
    port: listener.port,
    base: `http://127.0.0.1:${listener.port}`,
    async stop() {
      server.close();
      await listener.close();
    },
  };
}

export interface CurlResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs curl (silent, --path-as-is so that it sends the path exactly as given). */
export function curl(args: string[], timeoutMs = 10_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-sS', '--path-as-is', '--max-time', String(timeoutMs / 1000), ...args],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
        resolve({ code, stdout, stderr: stderr.toString('utf8') });
      },
    );
  });
}

export interface Response {
  status: number;
  statusLine: string;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Splits a byte stream into HTTP responses framed by Content-Length. `heads[i]` true means the
 * i-th response answers a HEAD request (no body). Returns the complete responses found.
 */
export function parseResponses(buf: Buffer, heads: boolean[] = []): Response[] {
  const out: Response[] = [];
  let p = 0;
  while (p < buf.length) {
    const he = buf.indexOf('\r\n\r\n', p);
    if (he < 0) break;
    const lines = buf.toString('latin1', p, he).split('\r\n');
    const statusLine = lines[0]!;
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
    }
    const status = Number(statusLine.split(' ')[1]);
    const isHead = heads[out.length] === true;
    const len = isHead || status === 304 ? 0 : Number(headers['content-length'] ?? 0);
    if (he + 4 + len > buf.length) break;
    out.push({ status, statusLine, headers, body: buf.subarray(he + 4, he + 4 + len) });
    p = he + 4 + len;
  }
  return out;
}

export interface RawResult {
  data: Buffer;
  /** The server sent FIN (or reset) before `until` was satisfied or the deadline passed. */
  closed: boolean;
  /** ms from connect to close (if closed). */
  closedAfterMs: number;
  socket: net.Socket;
}

/**
 * Connects, writes `chunks` (strings or Buffers, written back to back), and collects the answer
 * until `until(data)` is true, the server closes, or `timeoutMs` passes. The socket is left open
 * when `until` was satisfied (caller destroys it), destroyed otherwise.
 */
export function raw(
  port: number,
  chunks: (string | Buffer)[],
  opts: { until?: (data: Buffer) => boolean; timeoutMs?: number; keepOpen?: boolean } = {},
): Promise<RawResult> {
  const { until, timeoutMs = 5000 } = opts;
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let acc = Buffer.allocUnsafe(64 * 1024);
    let len = 0;
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const data = acc.subarray(0, len);
      if (!opts.keepOpen || closed) socket.destroy();
      resolve({ data, closed, closedAfterMs: Date.now() - start, socket });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (d: Buffer) => {
      if (len + d.length > acc.length) {
        const bigger = Buffer.allocUnsafe(Math.max(acc.length * 2, len + d.length));
        acc.copy(bigger, 0, 0, len);
        acc = bigger;
      }
      d.copy(acc, len);
      len += d.length;
      if (until !== undefined && until(acc.subarray(0, len))) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (e) => {
      if (!done && len === 0 && (e as NodeJS.ErrnoException).code === 'ECONNREFUSED') reject(e);
      else finish(true);
    });
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
    });
  });
}

/** Polls `pred` every 10 ms until true or the deadline; throws with `what` on timeout. */
export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A simple GET request head. */
export function get(path: string, extra = '', method = 'GET'): string {
  return `${method} ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;
}
