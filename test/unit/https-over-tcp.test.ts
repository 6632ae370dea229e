/**
 * HTTPS over the project's own TCP stack, in memory: a client TcpStack and a server TcpStack
 * exchange segments through a queue (no kernel). The client is Node's tls over a
 * ByteStreamDuplex too, so both directions of duplex.ts's backpressure are exercised against our
 * TCP: a client that stops reading makes its Duplex pause its TCP connection (the receive window
 * closes), the server's TCP queue fills to the Duplex's high-water mark, TLS and then the HTTP
 * server stop producing; when the client reads again the 5 MB file arrives intact.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { TcpStack } from '../../src/tcp/stack.js';
import { QueueSink, type Wire } from '../helpers/tcp-wire.js';
import type { StreamHandler } from '../../src/stream/byte-stream.js';
import { HttpStaticServer } from '../../src/http/server.js';
import { Http2StaticServer } from '../../src/http/h2.js';
import { TlsListener } from '../../src/http/tls-listener.js';
import { ByteStreamDuplex } from '../../src/http/duplex.js';
import { selfSignedPair } from '../../src/http/tls-credentials.js';

const tmp = mkdtempSync(join(tmpdir(), 'https-over-tcp-'));
const big = randomBytes(5 * 1024 * 1024 + 321);
const pair = selfSignedPair({ names: ['192.168.123.150'] });
before(() => {
  writeFileSync(join(tmp, 'index.html'), 'Welcome\n');
  writeFileSync(join(tmp, 'big.bin'), big);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const SERVER_IP = 0xc0a87b96; // 192.168.123.150
const CLIENT_IP = 0xc0a87b0a; // 192.168.123.10


test('a 5 MB download over TLS over our TCP, with a client that stops reading: bounded queues, then intact', async () => {
  const http = new HttpStaticServer({ wwwRoot: tmp, cacheSizeBytes: 1 << 20 }); // big.bin is streamed from the file
  const h2 = new Http2StaticServer(http);
  const tlsl = new TlsListener(http, h2, { pair });
  const queue: Wire[] = [];
  const sa = new QueueSink(queue);
  const sb = new QueueSink(queue);
  const server = new TcpStack(sa, { secret: Buffer.alloc(32, 3) });
  const client = new TcpStack(sb, { secret: Buffer.alloc(32, 4) });
  sa.peer = client;
  sb.peer = server;
  server.listen(SERVER_IP, 443, tlsl.accept);
  const pump = async (until: () => boolean, timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!until()) {
      if (Date.now() > deadline) throw new Error(`timed out: received ${received}, sessions ${JSON.stringify([...server.sessions(), ...client.sessions()].map((x) => [x.state, x.sendQueue, x.recvQueue, x.rcvWnd]))}`);
      const now = Date.now();
      let n = 0;
      while (queue.length > 0 && n++ < 5000) {
        const w = queue.shift()!;
        w.to.input(w.src, w.dst, w.bytes, 0, w.bytes.length, now);
      }
      server.tick(now);
      client.tick(now);
      server.flush(now);
      client.flush(now);
      await new Promise((r) => setImmediate(r));
    }
  };

  const chunks: Buffer[] = [];
  let received = 0;
  let duplex: ByteStreamDuplex | undefined;
  client.connect(CLIENT_IP, 40001, SERVER_IP, 443, (stream): StreamHandler => {
    // a small readable buffer so that an application that stops reading pauses TCP quickly
    duplex = new ByteStreamDuplex(stream, { readableHighWaterMark: 16 * 1024 });
    return duplex;
  }, Date.now());
  const socket = tls.connect({ socket: duplex!, ca: pair.certPem, servername: undefined, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] });
  let secure = false;
  socket.once('secureConnect', () => (secure = true));
  await pump(() => secure);
  assert.equal(socket.getProtocol(), 'TLSv1.3');


  let pausedOnce = false;
  socket.on('data', (d: Buffer) => {
    chunks.push(d);
    received += d.length;
    if (received > 1024 * 1024 && !pausedOnce) {
      pausedOnce = true;
      socket.pause(); // stop reading for a while
    }
  });
  socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await pump(() => socket.isPaused());

  // Let the queues settle with the reader stopped.
  const serverConn = () => [...server.sessions()].find((s) => s.state === 'ESTABLISHED' || s.state === 'CLOSE_WAIT');
  let stable = 0;
  let lastSend = -1;
  await pump(() => {
    const s = serverConn();
    if (s === undefined) return false;
    stable = s.sendQueue === lastSend ? stable + 1 : 0;
    lastSend = s.sendQueue;
    return stable > 50;
  });
  const s = serverConn()!;
  const clientRecv = [...client.sessions()].find((x) => x.localPort === 40001)!;
  // The client's TCP holds what its paused reader did not take, and advertises no more room.
  assert.ok(clientRecv.rcvWnd < 64 * 1024, `client window ${clientRecv.rcvWnd}`);
  // The server's TCP queue stays near the Duplex's high-water mark (256 KiB) plus what TLS wrote in one go.
  assert.ok(s.sendQueue < 1024 * 1024, `server TCP send queue ${s.sendQueue}`);
  assert.ok(received < big.length, 'the download is held back, not finished');
  const stats = http.stats();
  assert.ok(stats.bytesSent < 4 * 1024 * 1024, `the HTTP server stopped reading the file (sent ${stats.bytesSent})`);

  socket.resume();
  let ended = false;
  socket.on('end', () => (ended = true));
  await pump(() => ended, 30_000);
  const all = Buffer.concat(chunks);
  const headEnd = all.indexOf('\r\n\r\n');
  assert.match(all.subarray(0, headEnd).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*Content-Length: 5243201/);
  const body = all.subarray(headEnd + 4);
  assert.equal(createHash('sha256').update(body).digest('hex'), createHash('sha256').update(big).digest('hex'));
  socket.destroy();
  tlsl.close();
  h2.close();
  http.close();
});
