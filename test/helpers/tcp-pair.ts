/**
 * Two TcpStack instances over a simulated link, in memory and deterministic: a seeded share of the
 * packets is dropped or duplicated each way, each is delayed (with optional jitter, which
 * reorders), and a fake clock jumps from event to event. Used by the loopback tests
 * (test/unit/tcp-loopback.test.ts), the D-SACK tests and the bench's loss simulator
 * (bench/loss-sim.ts).
 *
 * Stack `a` is the client (CLIENT), `b` the server (SERVER). `download` runs the usual transfer:
 * the server sends `size` bytes with backpressure and ends, the client reads to the end and ends.
 */
import type { StreamHandler } from '../../src/stream/byte-stream.js';
import { TcpStack, type TcpConnection, type TcpOptions } from '../../src/tcp/index.js';
import { MemorySink } from '../../src/tcp/testing.js';

export const SERVER = 0x0a000001;
export const CLIENT = 0x0a000002;

/** A small seeded PRNG (mulberry32): uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LinkOpts {
  /** Share of the packets dropped, each way. */
  loss?: number;
  /** Share of the packets delivered twice. */
  dup?: number;
  /** One-way delay, ms (default 5). */
  delay?: number;
  /** Up to this many ms added to each packet's delay (uniform): reorders. */
  jitter?: number;
  seed?: number;
  /**
   * Shapes single packets after the random loss/duplication (which it does not change): returns
   * the extra delay in ms for this copy of a packet (0 = as the link decides), or null to drop it.
   * `toB` is the direction (client to server), `n` counts the packets sent so far.
   */
  shape?: (p: { toB: boolean; bytes: Buffer; n: number }) => number | null;
}

/** The link and the two stacks (a: client, b: server). */
export class TcpPair {
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
        const sentBefore = this.sent++;
        if (this.rnd() < (this.link.loss ?? 0)) {
          this.dropped++;
          continue;
        }
        const copies = this.rnd() < (this.link.dup ?? 0) ? 2 : 1;
        for (let i = 0; i < copies; i++) {
          let t = this.now + (this.link.delay ?? 5) + (this.link.jitter ?? 0) * this.rnd();
          if (this.link.shape !== undefined) {
            const extra = this.link.shape({ toB, bytes: s.bytes, n: sentBefore });
            if (extra === null) {
              this.dropped++;
              continue;
            }
            t += extra;
          }
          this.q.push({ t, toB, bytes: s.bytes, n: this.n++ });
        }
      }
    }
  }

  /** Runs the clock until done() or nothing is left to do (or maxMs passed). */
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

/** `n` bytes of a recognisable pattern. */
export function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >>> 9)) & 255;
  return b;
}

/** Server on B sends `size` bytes in 64 KiB chunks with backpressure, then ends; the client on A reads and ends on EOF. */
export function download(
  link: LinkOpts,
  size: number,
  opts: Partial<TcpOptions> = {},
): { net: TcpPair; data: Buffer; got: Buffer; ev: string[]; client: TcpConnection } {
  const net = new TcpPair(link, opts);
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
  const client = net.a.connect(
    CLIENT,
    40000,
    SERVER,
    80,
    (s): StreamHandler => {
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
    },
    net.now,
  );
  net.run(() => ev.includes('client-close') && ev.includes('server-close'));
  return { net, data, got: Buffer.concat(got), ev, client };
}
