/**
 * Two TcpStack instances over a simulated link with delay, loss, duplication and reordering:
 * whole transfers must arrive byte-exact and both sides must close cleanly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemorySink } from '../../src/tcp/testing.js';
import { TcpStack, type TcpConnection, type TcpOptions } from '../../src/tcp/index.js';
import type { StreamHandler } from '../../src/stream/byte-stream.js';

const SERVER = 0x0a000001;
const CLIENT = 0x0a000002;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface LinkOpts {
  loss?: number;
  dup?: number;
  delay?: number;
  jitter?: number;
  seed?: number;
}

class Net {
  now = 0;
  readonly sa = new MemorySink();
  readonly sb = new MemorySink();
  readonly a: TcpStack;
  readonly b: TcpStack;
  private q: { t: number; toB: boolean; bytes: Buffer; n: number }[] = [];
  private n = 0;
  private rnd: () => number;
  sent = 0;
  dropped = 0;

  constructor(
    private link: LinkOpts,
    opts: Partial<TcpOptions> = {},
  ) {
    this.rnd = prng(link.seed ?? 1);
    this.a = new TcpStack(this.sa, opts);
    this.b = new TcpStack(this.sb, opts);
  }

  private pump(): void {
    for (const [sink, toB] of [[this.sa, true], [this.sb, false]] as const) {
      for (const s of sink.take()) {
        this.sent++;
        if (this.rnd() < (this.link.loss ?? 0)) {
          this.dropped++;
          continue;
        }
        const copies = this.rnd() < (this.link.dup ?? 0) ? 2 : 1;
        for (let i = 0; i < copies; i++) {
          const t = this.now + (this.link.delay ?? 5) + (this.link.jitter ?? 0) * this.rnd();
          this.q.push({ t, toB, bytes: s.bytes, n: this.n++ });
        }
      }
    }
  }

  run(done: () => boolean, maxMs = 600_000): void {
    const end = this.now + maxMs;
    for (;;) {
      this.pump();
      if (done()) return;
      let next = Math.min(this.a.nextDeadline(), this.b.nextDeadline());
      for (const p of this.q) if (p.t < next) next = p.t;
      if (next === Infinity || next > end) return;
      this.now = Math.max(this.now, next);
      this.q.sort((x, y) => x.t - y.t || x.n - y.n);
      while (this.q.length > 0 && this.q[0].t <= this.now) {
        const p = this.q.shift()!;
        if (p.toB) this.b.input(CLIENT, SERVER, p.bytes, 0, p.bytes.length, this.now);
        else this.a.input(SERVER, CLIENT, p.bytes, 0, p.bytes.length, this.now);
      }
      this.a.flush(this.now);
      this.b.flush(this.now);
      this.a.tick(this.now);
      this.b.tick(this.now);
      this.a.flush(this.now);
      this.b.flush(this.now);
    }
  }
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >>> 9)) & 255;
  return b;
}

/** Server on B sends `size` bytes in 64 KiB chunks with backpressure, then ends; the client on A reads and ends on EOF. */
function download(link: LinkOpts, size: number, opts: Partial<TcpOptions> = {}) {
  const net = new Net(link, opts);
  const data = pattern(size);
  const got: Buffer[] = [];
  const ev: string[] = [];
  net.b.listen(SERVER, 80, (s): StreamHandler => {
    let off = 0;
    const pushMore = () => {
      while (off < data.length && s.queuedBytes < 256 * 1024) {
        const n = Math.min(65536, data.length - off);
        s.write(data.subarray(off, off + n));
        off += n;
      }
      if (off >= data.length) s.end();
    };
    pushMore();
    return { onData: () => {}, onDrain: pushMore, onEnd: () => ev.push('server-end'), onClose: () => ev.push('server-close') };
  });
  const client = net.a.connect(CLIENT, 40000, SERVER, 80, (s): StreamHandler => {
    s.write(Buffer.from('GET'));
    return {
      onData: (b, o, l) => got.push(Buffer.from(b.subarray(o, o + l))),
      onDrain: () => {},
      onEnd: () => {
        ev.push('client-end');
        s.end();
      },
      onClose: () => ev.push('client-close'),
    };
  }, net.now);
  net.run(() => ev.includes('client-close') && ev.includes('server-close'));
  return { net, data, got: Buffer.concat(got), ev, client };
}

describe('tcp two stacks over a simulated link', () => {
  it('clean link: 1 MB arrives intact and both sides close (active close on the server)', () => {
    const r = download({ delay: 5 }, 1 << 20);
    assert.equal(r.got.length, r.data.length);
    assert.ok(r.got.equals(r.data));
    assert.deepEqual(r.ev.sort(), ['client-close', 'client-end', 'server-close', 'server-end']);
    assert.equal(r.net.b.counters.retransmits, 0);
    assert.equal(r.net.a.counters.established, 0);
    assert.equal(r.net.b.counters.timeWait, 1, 'the side that closed first waits in TIME_WAIT');
    // The transfer took a reasonable number of round trips (slow start, not stop-and-wait).
    assert.ok(r.net.now < 2000, `took ${r.net.now} ms`);
  });

  for (const [name, opts] of [
    ['SACK + timestamps', {}],
    ['NewReno, no SACK, no timestamps', { sack: false, timestamps: false }],
  ] as const) {
    for (const seed of [1, 2, 3]) {
      it(`5% loss both ways (${name}, seed ${seed}): 1 MB arrives intact`, () => {
        const r = download({ delay: 10, loss: 0.05, seed }, 1 << 20, opts);
        assert.equal(r.got.length, r.data.length, `got ${r.got.length} after ${r.net.now} ms`);
        assert.ok(r.got.equals(r.data));
        assert.ok(r.ev.includes('client-close') && r.ev.includes('server-close'));
        assert.ok(r.net.b.counters.retransmits > 0);
      });
    }
  }

  it('5% loss both ways with SACK: RACK, TLP and PRR keep RTO timeouts rare (1 MB)', () => {
    // Before RACK/TLP (RFC 6675 alone) these seeds cost 11 to 21 timeouts of ≥ 200 ms each.
    let total = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = download({ delay: 10, loss: 0.05, seed }, 1 << 20);
      assert.ok(r.got.equals(r.data));
      const c = r.net.b.counters;
      assert.ok(c.timeouts <= 4, `seed ${seed}: ${c.timeouts} timeouts`);
      assert.ok(c.tailLossProbes > 0 && c.rackLost > 0);
      total += c.timeouts;
    }
    assert.ok(total <= 10, `${total} timeouts in 5 MB`);
  });

  it('every packet duplicated and reordered by jitter: intact', () => {
    const r = download({ delay: 5, jitter: 8, dup: 1, seed: 9 }, 300_000);
    assert.ok(r.got.equals(r.data));
    assert.ok(r.ev.includes('client-close') && r.ev.includes('server-close'));
  });

  it('heavy loss (20%) with a small receive buffer still completes', () => {
    const r = download({ delay: 3, loss: 0.2, seed: 5 }, 100_000, { rcvBuf: 16384, maxRetries: 15 });
    assert.ok(r.got.equals(r.data));
  });

  it('simultaneous open: both sides connect to each other and establish', () => {
    const net = new Net({ delay: 5 });
    const ev: string[] = [];
    const h = (name: string) => (s: unknown): StreamHandler => {
      (s as TcpConnection).write(Buffer.from(name));
      return {
        onData: (b, o, l) => ev.push(`${name} got ${b.subarray(o, o + l).toString()}`),
        onDrain: () => {},
        onEnd: () => {},
        onClose: () => {},
      };
    };
    net.a.connect(CLIENT, 5000, SERVER, 6000, h('a'), 0);
    net.b.connect(SERVER, 6000, CLIENT, 5000, h('b'), 0);
    net.run(() => ev.length === 2, 10_000);
    assert.deepEqual(ev.sort(), ['a got b', 'b got a']);
    assert.equal([...net.a.sessions()][0].state, 'ESTABLISHED');
    assert.equal([...net.b.sessions()][0].state, 'ESTABLISHED');
  });

  it('connect() to a closed port is refused', () => {
    const net = new Net({ delay: 1 });
    let closed = false;
    net.a.connect(CLIENT, 1234, SERVER, 81, () => ({ onData() {}, onDrain() {}, onEnd() {}, onClose: () => (closed = true) }), 0);
    net.run(() => closed, 10_000);
    assert.equal(closed, true);
    assert.equal(net.a.errors['connection-refused'], 1);
  });
});
