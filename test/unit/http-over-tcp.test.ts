/**
 * The HTTP server over the project's own TCP stack, in memory: a client stack and a server stack
 * exchange segments through two queues (no kernel, no root). Checks that the ByteStream contract
 * works end to end: requests in, responses out by reference, backpressure with onDrain for a
 * streamed file, FIN after Connection: close.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TcpStack } from '../../src/tcp/stack.js';
import { QueueSink, type Wire } from '../helpers/tcp-wire.js';
import type { ByteStream, StreamHandler } from '../../src/stream/byte-stream.js';
import { HttpStaticServer } from '../../src/http/server.js';
import { get, parseResponses } from './http-harness.js';

const tmp = mkdtempSync(join(tmpdir(), 'http-over-tcp-test-'));
const big = randomBytes(5 * 1024 * 1024 + 123);
before(() => {
  writeFileSync(join(tmp, 'index.html'), 'Welcome\n');
  writeFileSync(join(tmp, 'big.bin'), big);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const SERVER_IP = 0xc0a87b96; // 192.168.123.150
const CLIENT_IP = 0xc0a87b0a; // 192.168.123.10


class Net {
  readonly queue: Wire[] = [];
  readonly server: TcpStack;
  readonly client: TcpStack;
  private nextPort = 40000;
  constructor(http: HttpStaticServer) {
    const sa = new QueueSink(this.queue);
    const sb = new QueueSink(this.queue);
    const secret = Buffer.alloc(32, 3);
    this.server = new TcpStack(sa, { secret });
    this.client = new TcpStack(sb, { secret: Buffer.alloc(32, 4) });
    sa.peer = this.client;
    sb.peer = this.server;
    this.server.listen(SERVER_IP, 80, http.accept);
  }

  /** Opens a client connection; returns its stream and what it has received so far. */
  connect(): { stream: ByteStream; got: { data: Buffer; ended: boolean; closed: boolean } } {
    const got = { data: Buffer.alloc(0), ended: false, closed: false };
    let acc = Buffer.allocUnsafe(64 * 1024);
    let len = 0;
    let stream: ByteStream | undefined;
    this.client.connect(CLIENT_IP, this.nextPort++, SERVER_IP, 80, (s): StreamHandler => {
      stream = s;
      return {
        onData(buf, off, n) {
          if (len + n > acc.length) {
            const bigger = Buffer.allocUnsafe(Math.max(acc.length * 2, len + n));
            acc.copy(bigger, 0, 0, len);
            acc = bigger;
          }
          buf.copy(acc, len, off, off + n);
          len += n;
          got.data = acc.subarray(0, len);
        },
        onDrain() {},
        onEnd() {
          got.ended = true;
        },
        onClose() {
          got.closed = true;
        },
      };
    }, Date.now());
    return { stream: stream!, got };
  }

  /** Moves segments and runs timers until `until()` holds, yielding to the event loop for file IO. */
  async run(until: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!until()) {
      if (Date.now() > deadline) throw new Error('timed out');
      const now = Date.now();
      let n = 0;
      while (this.queue.length > 0 && n++ < 5000) {
        const w = this.queue.shift()!;
        w.to.input(w.src, w.dst, w.bytes, 0, w.bytes.length, now);
      }
      this.server.tick(now);
      this.client.tick(now);
      this.server.flush(now);
      this.client.flush(now);
      if (this.queue.length === 0) await new Promise((r) => setImmediate(r));
    }
  }
}

test('GET, pipelining and Connection: close over our own TCP', async () => {
  const http = new HttpStaticServer({ wwwRoot: tmp, cacheSizeBytes: 1024 * 1024 });
  try {
    const net = new Net(http);
    const a = net.connect();
    a.stream.write(Buffer.from(get('/index.html')));
    await net.run(() => parseResponses(a.got.data).length === 1);
    assert.equal(parseResponses(a.got.data)[0]!.body.toString(), 'Welcome\n');

    let reqs = '';
    for (let i = 0; i < 100; i++) reqs += get(i % 3 === 0 ? `/missing${i}` : '/index.html');
    const b = net.connect();
    b.stream.write(Buffer.from(reqs));
    await net.run(() => parseResponses(b.got.data).length === 100);
    const rs = parseResponses(b.got.data);
    for (let i = 0; i < 100; i++) assert.equal(rs[i]!.status, i % 3 === 0 ? 404 : 200, `#${i}`);

    const c = net.connect();
    c.stream.write(Buffer.from(get('/index.html', 'Connection: close\r\n')));
    await net.run(() => c.got.ended);
    assert.equal(parseResponses(c.got.data)[0]!.headers['connection'], 'close');
    c.stream.end();
    await net.run(() => c.got.closed);
  } finally {
    http.close();
  }
});

test('a 5 MB file streamed with backpressure over our own TCP arrives intact', async () => {
  const http = new HttpStaticServer({ wwwRoot: tmp, cacheSizeBytes: 256 * 1024, streamChunkBytes: 64 * 1024, streamHighWaterBytes: 256 * 1024 });
  try {
    const net = new Net(http);
    const a = net.connect();
    a.stream.write(Buffer.from(get('/big.bin') + get('/index.html')));
    await net.run(() => parseResponses(a.got.data).length === 2, 20_000);
    const rs = parseResponses(a.got.data);
    assert.equal(rs[0]!.body.length, big.length);
    assert.equal(createHash('sha256').update(rs[0]!.body).digest('hex'), createHash('sha256').update(big).digest('hex'));
    assert.equal(rs[1]!.body.toString(), 'Welcome\n');
  } finally {
    http.close();
  }
});

test('after the client asked to close, bytes it still sends get a RST; after a close the server chose, they are read and dropped', async () => {
  const http = new HttpStaticServer({ wwwRoot: tmp, cacheSizeBytes: 1024 * 1024 });
  try {
    const net = new Net(http);
    // The client asked: the server closes fully (RFC 9293 §3.6.1), so late bytes are not ACKed.
    const a = net.connect();
    a.stream.write(Buffer.from(get('/index.html', 'Connection: close\r\n')));
    await net.run(() => a.got.ended);
    assert.equal(parseResponses(a.got.data)[0]!.body.toString(), 'Welcome\n');
    a.stream.write(Buffer.from('late bytes'));
    await net.run(() => a.got.closed);
    assert.equal(net.server.errors['data-after-close'], 1);
    assert.equal(net.client.errors['connection-reset'], 1);

    // The server chose (a malformed request: 400 and close): it lingers, a half close.
    const b = net.connect();
    b.stream.write(Buffer.from('NOT HTTP\r\n\r\n'));
    await net.run(() => b.got.ended);
    assert.equal(parseResponses(b.got.data)[0]!.status, 400);
    b.stream.write(Buffer.from('more bytes'));
    await net.run(() => b.stream.queuedBytes === 0);
    assert.equal(b.got.closed, false, 'no RST');
    assert.equal(net.server.errors['data-after-close'], 1);
    b.stream.end();
    await net.run(() => b.got.closed);
    assert.equal(net.client.errors['connection-reset'], 1);
  } finally {
    http.close();
  }
});
