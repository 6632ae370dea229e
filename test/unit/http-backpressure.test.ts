/**
 * HTTP applies backpressure to TCP (issue 9 "Memory accounting"): a client that pipelines
 * requests without reading its responses makes the HTTP connection pause() the stream, so our
 * TCP holds what arrives and its advertised window closes; HTTP's own input buffer stays small.
 * And the minimum send rate: a reader below the floor is dropped within one window (injected
 * clock), one at the floor is not.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TcpStack } from '../../src/tcp/stack.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import { MEM_PIPELINE, MEM_RECV, MEM_SEND, MemoryBudget } from '../../src/tcp/budget.js';
import { QueueSink, moveSegments, type Wire } from '../helpers/tcp-wire.js';
import type { ByteStream, StreamHandler } from '../../src/stream/byte-stream.js';
import type { HttpMemory } from '../../src/http/options.js';
import { HttpStaticServer } from '../../src/http/server.js';
import { SendFloor } from '../../src/http/send-floor.js';
import { get, parseResponses } from './http-harness.js';

const tmp = mkdtempSync(join(tmpdir(), 'http-backpressure-test-'));
const FILE = Buffer.alloc(16 * 1024, 0x62);
before(() => {
  writeFileSync(join(tmp, 'index.html'), 'Welcome\n');
  writeFileSync(join(tmp, 'f16k.bin'), FILE);
  writeFileSync(join(tmp, 'big.bin'), Buffer.alloc(4 * 1024 * 1024, 0x63));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const SERVER_IP = 0xc0a87b96;
const CLIENT_IP = 0xc0a87b0a;

function httpMemory(mem: MemoryBudget): HttpMemory {
  return mem.forApplication();
}

async function until(cond: () => boolean, pump: () => void, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    pump();
    await new Promise((r) => setImmediate(r));
  }
}

/** A server stack (with the budget) and a client stack joined in memory, and the pump that moves segments. */
function pair(http: HttpStaticServer, mem: MemoryBudget): { server: TcpStack; client: TcpStack; pump: () => void } {
  const queue: Wire[] = [];
  const sa = new QueueSink(queue);
  const sb = new QueueSink(queue);
  const server = new TcpStack(sa, { secret: Buffer.alloc(32, 3), memory: mem });
  const client = new TcpStack(sb, { secret: Buffer.alloc(32, 4) });
  sa.peer = client;
  sb.peer = server;
  server.listen(SERVER_IP, 80, http.accept);
  const pump = () => moveSegments(queue, Date.now(), [server, client]);
  return { server, client, pump };
}

function open(client: TcpStack, port: number): { stream: ByteStream; chunks: Buffer[]; closed: () => boolean } {
  const chunks: Buffer[] = [];
  let stream: ByteStream | undefined;
  let closed = false;
  client.connect(CLIENT_IP, port, SERVER_IP, 80, (s): StreamHandler => {
    stream = s;
    return {
      onData: (b, o, l) => chunks.push(Buffer.from(b.subarray(o, o + l))),
      onDrain() {},
      onEnd: () => stream?.end(),
      onClose() {
        closed = true;
      },
    };
  }, Date.now());
  return { stream: stream!, chunks, closed: () => closed };
}

describe('HTTP pauses TCP when requests back up', () => {
  test('a streamed file is charged as send while unacknowledged; everything is released at the end', async () => {
    const mem = new MemoryBudget();
    const http = new HttpStaticServer({ wwwRoot: tmp, cacheSizeBytes: 64 * 1024, streamChunkBytes: 64 * 1024, streamHighWaterBytes: 256 * 1024, memory: httpMemory(mem) });
    const { client, pump } = pair(http, mem);
    try {
      const a = open(client, 40001);
      a.stream.write(Buffer.from(get('/big.bin', 'Connection: close\r\n')));
      let got = Buffer.alloc(0);
      let maxSend = 0;
      await until(
        () => {
          maxSend = Math.max(maxSend, mem.used[MEM_SEND]);
          got = Buffer.concat([got, ...a.chunks.splice(0)]);
          return parseResponses(got).length === 1;
        },
        pump,
        'the 4 MB response',
      );
      assert.equal(parseResponses(got)[0]!.body.length, 4 * 1024 * 1024);
      assert.ok(maxSend >= 64 * 1024 && maxSend <= 512 * 1024, `send charge bounded by the high-water mark (max ${maxSend})`);
      await until(() => a.closed() && http.stats().connectionsOpen === 0, pump, 'the close');
      for (let i = 0; i < 4; i++) assert.equal(mem.used[i], 0, `kind ${i} released`);
    } finally {
      http.close();
    }
  });

  test('pipelined requests without reading: the server window closes, the HTTP buffer stays small, all answered later', async () => {
    const mem = new MemoryBudget();
    const http = new HttpStaticServer({ wwwRoot: tmp, cacheSizeBytes: 1024 * 1024, memory: httpMemory(mem) });
    const { server, client, pump } = pair(http, mem);
    try {
      let got = Buffer.alloc(0);
      const { stream, chunks } = open(client, 40000);
      stream.pause!(); // the client reads nothing
      const N = 400;
      const pad = `X-Pad: ${'p'.repeat(1000)}\r\n`;
      stream.write(Buffer.from(get('/f16k.bin', pad).repeat(N)));
      const sc = () => server.find(SERVER_IP, 80, CLIENT_IP, 40000) as TcpConnection | undefined;
      let maxPipelined = 0;
      await until(
        () => {
          maxPipelined = Math.max(maxPipelined, mem.used[MEM_PIPELINE]);
          const c = sc();
          return c !== undefined && c.rcvQueued > 0 && ((c.rcvAdvRight - c.rcvNxt) | 0) <= 0;
        },
        pump,
        'the server to advertise a zero window',
      );
      const c = sc()!;
      console.log(`server window closed: ${c.rcvQueued} bytes held by TCP, HTTP input buffer ${mem.used[MEM_PIPELINE]} bytes (max ${maxPipelined}), ${http.requests} of ${N} requests parsed`);
      assert.ok(http.requests < N, 'parsing stopped while the responses were backed up');
      assert.ok(maxPipelined <= 64 * 1024, `HTTP's input buffer stayed small (${maxPipelined})`);
      // The rest waits in TCP: most of the 400 requests, far more than HTTP's input buffer (how many HTTP parsed before it paused depends on when the cached answers completed).
      assert.ok(c.rcvQueued >= 128 * 1024, `TCP holds the rest (${c.rcvQueued} bytes)`);
      assert.equal(http.errors['pipeline-overflow'], 0);
      // HTTP's buffer counts for the client's address too, with what TCP holds for it.
      assert.equal(mem.sources.get(CLIENT_IP)?.bytes, mem.used[MEM_PIPELINE] + mem.used[MEM_RECV]);
      // The client reads again: everything is answered, in order.
      stream.resume!();
      await until(
        () => {
          got = Buffer.concat([got, ...chunks.splice(0)]);
          return parseResponses(got).length === N;
        },
        pump,
        'all responses',
        30_000,
      );
      const rs = parseResponses(got);
      assert.ok(rs.every((r) => r.status === 200 && r.body.length === FILE.length));
      assert.equal(http.requests, N);
    } finally {
      http.close();
    }
  });
});

/** A ByteStream whose queue the test drains by hand. */
class FakeStream implements ByteStream {
  queued = 0;
  aborted = false;
  readonly remote = '10.0.0.9:5555';
  write(chunk: Buffer): void {
    this.queued += chunk.length;
  }
  get queuedBytes(): number {
    return this.queued;
  }
  end(): void {}
  abort(): void {
    this.aborted = true;
  }
}

describe('minimum send rate', () => {
  test('SendFloor: the deadline follows progress, one window at most; a burst buys no more', () => {
    const f = new SendFloor();
    const W = 10_000;
    const MIN = 1000;
    assert.equal(f.check(0, 0, 0, W, MIN), false);
    assert.equal(f.deadline, Infinity, 'nothing queued: no deadline');
    assert.equal(f.check(0, 5000, 0, W, MIN), false);
    assert.equal(f.deadline, W);
    f.check(1000, 5000, 1_000_000, W, MIN); // a burst
    assert.equal(f.deadline, 1000 + W, 'capped at now + window');
    // Exactly at the floor: 100 bytes per second keeps the deadline one window ahead.
    for (let t = 2000; t <= 60_000; t += 1000) assert.equal(f.check(t, 5000, 1_000_000 + ((t - 1000) / 1000) * 100, W, MIN), false, `t=${t}`);
    // One byte every 10 s from t = 60 s: below the floor, caught within one window.
    let t = 60_000;
    let acked = 1_000_000 + 5900;
    while (!f.check(t, 5000, acked, W, MIN)) {
      t += 250;
      if (t % 10_000 === 0) acked++;
      assert.ok(t < 60_000 + W + 1000, 'caught within one window');
    }
    assert.ok(t > 60_000 + W - 100, `not before the window has passed (${t})`);
    assert.equal(f.check(t, 0, acked, W, MIN), false, 'the queue emptied: no deadline');
    assert.equal(f.check(t, 0, acked, W, 0), false, 'off');
  });

  test('the server drops a reader taking one byte per 10 s within the window, counted; a fast one is kept', async () => {
    let now = 1_000_000;
    const http = new HttpStaticServer({
      wwwRoot: tmp,
      cacheSizeBytes: 8 * 1024 * 1024,
      limits: { minSendBytes: 4096, minSendWindowMs: 5000, sendTimeoutMs: 60_000 },
      sweepIntervalMs: 1e9,
      now: () => now,
    });
    try {
      const slow = new FakeStream();
      const fast = new FakeStream();
      const hs = http.accept(slow);
      const hf = http.accept(fast);
      const req = Buffer.from(get('/big.bin'));
      hs.onData(req, 0, req.length);
      hf.onData(req, 0, req.length);
      const deadline = Date.now() + 10_000;
      while (slow.queued === 0 || fast.queued === 0) {
        if (Date.now() > deadline) throw new Error('no response written');
        await new Promise((r) => setTimeout(r, 5));
      }
      // The slow reader took its first bytes quickly, then one byte per 10 s; the other 32 KB/s.
      slow.queued -= 64 * 1024;
      const t0 = now;
      while (!slow.aborted) {
        now += 250;
        if ((now - t0) % 10_000 === 0) slow.queued -= 1;
        fast.queued -= 8000;
        http.sweep(now);
        assert.ok(now - t0 <= 5000 + 2 * 250, `dropped within the window and two sweeps (${now - t0} ms)`);
      }
      assert.equal(http.errors['send-rate-too-low'], 1);
      assert.equal(http.errors['send-timeout'], 0);
      assert.equal(fast.aborted, false);
      for (let i = 0; i < 100; i++) {
        now += 250;
        fast.queued -= 8000;
        http.sweep(now);
      }
      assert.equal(fast.aborted, false, 'a reader above the floor is kept');
    } finally {
      http.close();
    }
  });
});
