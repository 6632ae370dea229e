/**
 * The bench's loss row in miniature, in process and deterministic: our TCP stack as server and as
 * client over a simulated link that drops a share of the packets each way (seeded), 1 MiB
 * downloads, one per seed. Prints per seed the time taken and what recovery did (timeouts, tail
 * loss probes, fast recoveries, retransmissions, undos). A tool to compare recovery changes with
 * the same losses, not a test; the real judge is `node dist/bench/bench.js --only loss` (Linux as
 * the client, nginx beside us).
 *
 *   node dist/bench/loss-sim.js            (env: CC=cubic|newreno, DELAY=one-way ms (10),
 *                                            LOSS=0.05, SIZE=bytes, SEEDS=1,2,…)
 */
import { MemorySink } from '../src/tcp/testing.js';
import { TcpStack, type TcpOptions } from '../src/tcp/index.js';
import type { StreamHandler } from '../src/stream/byte-stream.js';
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
        const drop = this.rnd() < (this.link.loss ?? 0);
        if (drop) {
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


const cc = (process.env.CC ?? 'cubic') as 'cubic' | 'newreno';
const delay = Number(process.env.DELAY ?? 10);
const size = Number(process.env.SIZE ?? (1 << 20));
const tot = { ms: 0, timeouts: 0, tailLossProbes: 0, fastRecoveries: 0, retransmits: 0, undoDsack: 0, undoEifel: 0, undoFrto: 0 };
for (const seed of (process.env.SEEDS ?? '1,2,3,4,5,6,7,8').split(',').map(Number)) {
  const r = download({ delay, loss: Number(process.env.LOSS ?? 0.05), seed }, size, { congestionControl: cc });
  const c = r.net.b.counters;
  if (!r.got.equals(r.data)) throw new Error(`seed ${seed}: the download arrived corrupted`);
  tot.ms += r.net.now;
  tot.timeouts += c.timeouts;
  tot.tailLossProbes += c.tailLossProbes;
  tot.fastRecoveries += c.fastRetransmits;
  tot.retransmits += c.retransmits;
  tot.undoDsack += c.undoDsack;
  tot.undoEifel += c.undoEifel;
  tot.undoFrto += c.undoFrto;
  console.log(`seed ${seed}: ${r.net.now.toFixed(1)} ms, timeouts ${c.timeouts}, tail loss probes ${c.tailLossProbes}, fast recoveries ${c.fastRetransmits}, retransmits ${c.retransmits}, undone (dsack/eifel/frto) ${c.undoDsack}/${c.undoEifel}/${c.undoFrto}`);
}
console.log(`${cc}, one-way delay ${delay} ms: ${JSON.stringify({ ...tot, ms: Math.round(tot.ms) })}`);
