/**
 * HTTP/1.1 and HTTP/2 must answer the same requests the same way (issue 11, item 4): one table
 * of requests (the limits: path length, header size and count, body size; methods; Range and
 * the conditionals; path safety) is sent over both, HTTP/1.1 as raw bytes on a kernel TCP
 * socket, HTTP/2 with Node's client (prior knowledge, the same Http2StaticServer that serves
 * ALPN h2 over TLS), and the status and the headers that carry meaning are compared.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleartextAccept } from '../../src/http/cleartext.js';
import { Http2StaticServer } from '../../src/http/h2.js';
import { listenNet, type NetListener } from '../../src/http/node-net-adapter.js';
import { HttpStaticServer } from '../../src/http/server.js';

/** The headers whose values must agree (Date, Server, Connection are per-protocol or per-second). */
const COMPARED = ['content-type', 'content-length', 'etag', 'last-modified', 'content-range', 'accept-ranges', 'allow', 'location'];

interface Answer {
  status: number;
  headers: Record<string, string>;
}

interface Case {
  name: string;
  method?: string;
  path: string;
  headers?: Array<[string, string]>;
  /** Content-Length of a body that is sent with the request. */
  body?: number;
  /** The HTTP/1.1 status the case is about (checked too, so that the table cannot drift). */
  expect: number;
}

const many = (n: number): Array<[string, string]> => Array.from({ length: n }, (_, i) => [`x-h${i}`, 'v'] as [string, string]);
const bulky = (bytes: number): Array<[string, string]> => Array.from({ length: Math.ceil(bytes / 1000) }, (_, i) => [`x-b${i}`, 'v'.repeat(990)] as [string, string]);

const CASES: Case[] = [
  { name: 'a file', path: '/index.html', expect: 200 },
  { name: 'HEAD of a file', method: 'HEAD', path: '/index.html', expect: 200 },
  { name: 'the directory index', path: '/', expect: 200 },
  { name: 'a directory without its slash', path: '/sub?x=1', expect: 301 },
  { name: 'a missing file', path: '/missing', expect: 404 },
  { name: 'a path of 9000 bytes', path: '/' + 'a'.repeat(9000), expect: 414 },
  { name: 'a path of 8100 bytes (fits the request line)', path: '/' + 'a'.repeat(8100), expect: 404 },
  { name: 'a path of 17000 bytes', path: '/' + 'a'.repeat(17000), expect: 414 },
  { name: 'HEAD with a path of 9000 bytes', method: 'HEAD', path: '/' + 'a'.repeat(9000), expect: 414 },
  { name: 'headers of 20 KB', path: '/index.html', headers: bulky(20_000), expect: 431 },
  { name: 'headers of 15 KB', path: '/index.html', headers: bulky(15_000), expect: 200 },
  { name: '101 header fields (Host included)', path: '/index.html', headers: many(100), expect: 431 },
  { name: '101 header fields, big ones', path: '/index.html', headers: many(100).map(([k]) => [k, 'w'.repeat(100)] as [string, string]), expect: 431 },
  { name: '100 header fields (Host included)', path: '/index.html', headers: many(99), expect: 200 },
  { name: 'a body of 9000 bytes on GET', path: '/index.html', body: 9000, expect: 413 },
  { name: 'a body of 100 bytes on GET', path: '/index.html', body: 100, expect: 200 },
  { name: 'POST', method: 'POST', path: '/index.html', expect: 405 },
  { name: 'DELETE', method: 'DELETE', path: '/index.html', expect: 405 },
  { name: 'OPTIONS', method: 'OPTIONS', path: '/index.html', expect: 405 },
  { name: 'an unknown method', method: 'BREW', path: '/index.html', expect: 501 },
  { name: 'a lower-case method', method: 'get', path: '/index.html', expect: 501 },
  { name: 'a Range', path: '/index.html', headers: [['range', 'bytes=2-5']], expect: 206 },
  { name: 'a suffix Range', path: '/index.html', headers: [['range', 'bytes=-3']], expect: 206 },
  { name: 'an open Range', path: '/index.html', headers: [['range', 'bytes=4-']], expect: 206 },
  { name: 'an unsatisfiable Range', path: '/index.html', headers: [['range', 'bytes=500-']], expect: 416 },
  { name: 'two Ranges', path: '/index.html', headers: [['range', 'bytes=0-1,3-4']], expect: 200 },
  { name: 'a malformed Range', path: '/index.html', headers: [['range', 'bytes=x-y']], expect: 200 },
  { name: 'a Range of another unit', path: '/index.html', headers: [['range', 'items=0-1']], expect: 200 },
  { name: 'a Range on HEAD', method: 'HEAD', path: '/index.html', headers: [['range', 'bytes=2-5']], expect: 200 },
  { name: 'a Range on a missing file', path: '/missing', headers: [['range', 'bytes=0-1']], expect: 404 },
  { name: 'If-Range with another ETag', path: '/index.html', headers: [['range', 'bytes=2-5'], ['if-range', '"nope"']], expect: 200 },
  { name: 'If-None-Match *', path: '/index.html', headers: [['if-none-match', '*']], expect: 304 },
  { name: 'If-Modified-Since in the future', path: '/index.html', headers: [['if-modified-since', 'Fri, 01 Jan 2100 00:00:00 GMT']], expect: 304 },
  { name: 'a dot-dot escape', path: '/%2e%2e/etc/passwd', expect: 404 },
  { name: 'a bad percent escape', path: '/a%zz', expect: 400 },
  { name: 'invalid UTF-8', path: '/%c0%ae', expect: 400 },
  { name: 'an encoded slash', path: '/a%2fb', expect: 404 },
];

describe('HTTP/1.1 and HTTP/2 answer alike', () => {
  const dir = mkdtempSync(join(tmpdir(), 'h2-parity-'));
  let http: HttpStaticServer;
  let h2: Http2StaticServer;
  let server: NetListener;

  before(async () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'index.html'), 'Hello, parity\n');
    writeFileSync(join(dir, 'sub', 'index.html'), 'sub\n');
    http = new HttpStaticServer({ wwwRoot: dir, cacheSizeBytes: 1 << 20 });
    h2 = new Http2StaticServer(http);
    server = await listenNet(cleartextAccept(http, h2), 0);
  });
  after(async () => {
    h2.close();
    http.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * One request on its own HTTP/1.1 connection, read until its body is complete (no
   * Connection: close, which would be one more field than the HTTP/2 request carries).
   */
  function overHttp1(c: Case): Promise<Answer> {
    const method = c.method ?? 'GET';
    const lines = [`${method} ${c.path} HTTP/1.1`, 'Host: parity', ...(c.headers ?? []).map(([k, v]) => `${k}: ${v}`)];
    if (c.body !== undefined) lines.push(`Content-Length: ${c.body}`);
    const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
    return new Promise((resolve, reject) => {
      const s = net.connect(server.port, '127.0.0.1');
      let got = Buffer.alloc(0);
      let answer: Answer | null = null;
      let bodyStart = 0;
      const done = (): void => {
        s.destroy();
        if (answer === null) reject(new Error(`no HTTP/1.1 answer to ${c.name}: ${JSON.stringify(got.toString('latin1').slice(0, 200))}`));
        else resolve(answer);
      };
      s.on('connect', () => {
        s.write(head);
        if (c.body !== undefined) s.write(Buffer.alloc(c.body, 0x61));
      });
      s.on('data', (b: Buffer) => {
        got = Buffer.concat([got, b]);
        if (answer === null) {
          const text = got.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          if (end < 0) return;
          const [status, ...fields] = text.slice(0, end).split('\r\n');
          const headers: Record<string, string> = {};
          for (const f of fields) {
            const i = f.indexOf(':');
            headers[f.slice(0, i).toLowerCase()] = f.slice(i + 1).trim();
          }
          answer = { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(status!)?.[1]), headers };
          bodyStart = end + 4;
        }
        const bodyLen = method === 'HEAD' || answer.status === 304 ? 0 : Number(answer.headers['content-length'] ?? 0);
        if (got.length - bodyStart >= bodyLen) done();
      });
      s.on('error', () => undefined); // a reset after the answer (the server closes on 4xx limits)
      s.on('close', done);
    });
  }

  /** The same request as one HTTP/2 stream on a fresh session. */
  function overHttp2(c: Case): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://127.0.0.1:${server.port}`, { maxHeaderListPairs: 1000 });
      session.on('error', reject);
      const h: http2.OutgoingHttpHeaders = { ':method': c.method ?? 'GET', ':path': c.path, ':authority': 'parity' };
      for (const [k, v] of c.headers ?? []) h[k] = v;
      if (c.body !== undefined) h['content-length'] = String(c.body);
      const r = session.request(h, { endStream: c.body === undefined });
      if (c.body !== undefined) r.end(Buffer.alloc(c.body, 0x61));
      r.on('response', (rh) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(rh)) if (!k.startsWith(':')) headers[k] = String(v);
        r.resume();
        r.on('close', () => session.close());
        resolve({ status: Number(rh[':status']), headers });
      });
      r.on('error', (err) => {
        session.destroy();
        reject(new Error(`HTTP/2 stream for ${c.name}: ${err.message}`));
      });
    });
  }

  for (const c of CASES) {
    it(`${c.name}: ${c.expect} over both`, async () => {
      const a = await overHttp1(c);
      const b = await overHttp2(c);
      assert.equal(a.status, c.expect, `HTTP/1.1 status of ${c.name}`);
      assert.equal(b.status, a.status, `HTTP/2 status of ${c.name}`);
      for (const k of COMPARED) assert.equal(b.headers[k], a.headers[k], `${k} of ${c.name}`);
    });
  }
});
