/**
 * Review H1 (node engine) and M3: a TLS client over our TCP that pipelines GETs for a cached file
 * and never reads. Per engine, the server's queue per connection stays bounded (the node engine used
 * to encrypt every cached answer whole into TCP's send queue: 33 MB per connection with 4 pipelined
 * 8 MB GETs), the ciphertext TCP holds is charged to the TCP memory budget as 'send' (M3: it was
 * not, so 200 non-reading TLS connections held 50 MB the budget did not see), and once the client
 * reads, every answer arrives intact and the charge is released.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { TcpStack } from '../../src/tcp/stack.js';
import { MEM_SEND } from '../../src/tcp/budget.js';
import { QueueSink, type Wire } from '../helpers/tcp-wire.js';
import { HttpStaticServer } from '../../src/http/server.js';
import { TlsListener } from '../../src/http/tls-listener.js';
import { ByteStreamDuplex } from '../../src/http/duplex.js';
import { selfSignedPair } from '../../src/http/tls-credentials.js';

const tmp = mkdtempSync(join(tmpdir(), 'https-nonreader-'));
const SIZE = 4 * 1024 * 1024;
const pair = selfSignedPair({ names: ['192.168.123.150'] });
before(() => writeFileSync(join(tmp, 'big.bin'), randomBytes(SIZE)));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SERVER_IP = 0xc0a87b96;
const CLIENT_IP = 0xc0a87b0a;
const CONNS = 2;
const PIPELINED = 4;

for (const engine of ['node', 'native'] as const) {
  test(`${engine} engine: non-reading clients of a cached file: bounded send queue per connection, then intact`, async () => {
    const queue: Wire[] = [];
    const sa = new QueueSink(queue);
    const sb = new QueueSink(queue);
    const server = new TcpStack(sa, { secret: Buffer.alloc(32, 3) });
    const http = new HttpStaticServer({ wwwRoot: tmp, cacheSizeBytes: 64 << 20, memory: server.mem.forApplication() });
    const tlsl = new TlsListener(http, null, { pair, engine, watch: false });
    const client = new TcpStack(sb, { secret: Buffer.alloc(32, 4) });
    sa.peer = client;
    sb.peer = server;
    server.listen(SERVER_IP, 443, tlsl.accept);
    const pump = async (until: () => boolean, ms: number): Promise<void> => {
      const end = Date.now() + ms;
      while (!until() && Date.now() < end) {
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
    const sockets: tls.TLSSocket[] = [];
    for (let i = 0; i < CONNS; i++) {
      let duplex: ByteStreamDuplex | undefined;
      client.connect(CLIENT_IP, 40001 + i, SERVER_IP, 443, (stream) => (duplex = new ByteStreamDuplex(stream, { readableHighWaterMark: 16 * 1024 })), Date.now());
      const s = tls.connect({ socket: duplex!, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
      s.on('error', () => undefined);
      sockets.push(s);
    }
    let secure = 0;
    for (const s of sockets) s.once('secureConnect', () => secure++);
    await pump(() => secure === CONNS, 20_000);
    assert.equal(secure, CONNS);
    // Warm the cache first so that every answer below comes from it.
    sockets[0]!.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    let warm = 0;
    const onWarm = (b: Buffer): void => void (warm += b.length);
    sockets[0]!.on('data', onWarm);
    await pump(() => warm > SIZE, 20_000);
    sockets[0]!.off('data', onWarm);
    assert.ok(warm > SIZE, `warm-up read ${warm}`);
    const received = sockets.map(() => 0);
    for (const s of sockets) {
      s.pause();
      s.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(PIPELINED));
    }
    await pump(() => false, 2000);
    const queues = [...server.sessions()].map((x) => x.sendQueue);
    assert.equal(queues.length, CONNS);
    for (const q of queues) assert.ok(q < 1024 * 1024, `${engine}: server send queue ${q} B for a client that does not read (before: the whole answers)`);
    tlsl.sweepHandshakes();
    const held = queues.reduce((a, b) => a + b, 0);
    const charged = server.mem.used[MEM_SEND]!;
    assert.ok(held > 100_000, `send queues ${held}`);
    assert.ok(charged >= held, `${engine}: 'send' charged ${charged} B, TCP holds ${held} B of ciphertext`);
    assert.ok(charged < held + 2 * 1024 * 1024, `${engine}: 'send' charged ${charged} B, TCP holds ${held} B`);
    // Now read: every answer arrives.
    sockets.forEach((s, i) => {
      s.on('data', (b: Buffer) => (received[i]! += b.length));
      s.resume();
    });
    await pump(() => received.every((n) => n >= PIPELINED * SIZE), 60_000);
    for (const n of received) assert.ok(n >= PIPELINED * SIZE, `received ${n} of ${PIPELINED * SIZE}+`);
    await pump(() => server.mem.used[MEM_SEND]! === 0, 2000);
    tlsl.sweepHandshakes();
    assert.ok(server.mem.used[MEM_SEND]! < 64 * 1024, `${engine}: 'send' still charged ${server.mem.used[MEM_SEND]} B once everything is read`);
    for (const s of sockets) s.destroy();
    await pump(() => false, 100);
    tlsl.close();
  });
}
