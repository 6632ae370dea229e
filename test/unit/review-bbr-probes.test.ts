/**
 * Review probes (r/bbr): adversarial checks of the bbr merge. Each `it` states what a sound
 * implementation should do; the ones named "FINDING" are expected to FAIL on the reviewed code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bbr, BBR_PROBE_BW, BBR_PROBE_RTT } from '../../src/tcp/bbr.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import { SackRecovery } from '../../src/tcp/recovery-sack.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.js';

import { download, HMSS, open } from '../helpers/bbr-probe.js';

const A = TCP_ACK;
describe('review probes: bbr pacer', () => {
  it('finding 4 (fixed): an inflated handshake RTT (timestamp echo from 3000 s ago) does not stall the pacer', () => {
    const h = open(10, { ts: true, tsBack: 3_000_000 });
    const c = h.conn!;
    assert.equal(c.cc.name, 'bbr');
    const rate0 = c.cc.pacingRate;
    c.write(Buffer.alloc(2 << 20, 1));
    const r = download(h, 2000, 10);
    const bbr = c.cc as Bbr;
    console.log(`  srtt ${c.srtt.toFixed(0)} ms, initial pacing ${rate0.toFixed(4)} B/ms; after 2 s: ${r.bytes} bytes delivered in ${r.segs} segments, pacing now ${bbr.pacingRate.toFixed(0)} B/ms, paceAt in ${(c.paceAt - h.now).toFixed(0)} ms`);
    assert.ok(c.srtt < 100, `handshake RTT sample from an echo older than our SYN-ACK: srtt ${c.srtt}`);
    assert.ok(r.bytes > 100 * HMSS, `2 s on a 10 ms path delivered only ${r.bytes} bytes: the pacer's schedule was set from the first rate and not recomputed`);
  });

  it('after idle: a restart burst is bounded by the 2 ms credit plus a quantum (as documented)', () => {
    const h = open(10);
    const c = h.conn!;
    c.write(Buffer.alloc(4 << 20, 1));
    download(h, 3000, 10);
    // let everything drain and go idle
    const before = (c.cc as Bbr).describe();
    c.write(Buffer.alloc(0));
    const r = download(h, 3000, 10);
    void r;
    void before;
    // now idle 1 s, then write again
    h.advance(1000);
    c.write(Buffer.alloc(1 << 20, 2));
    const bbr = c.cc as Bbr;
    const out = h.flush().filter((s) => s.payload.length > 0);
    const burst = out.reduce((n, s) => n + s.payload.length, 0);
    console.log(`  ${bbr.describe()}; restart burst ${burst} bytes = ${(burst / bbr.btlBw).toFixed(2)} ms at BtlBw; cwnd ${c.cwnd}`);
    assert.ok(burst <= bbr.pacingRate * 2 + bbr.quantum + 2 * HMSS, `restart burst ${burst}`);
  });

  it('ACK division (each segment ACKed in 8 pieces) does not inflate BtlBw or cwnd beyond an honest receiver', () => {
    const h1 = open(10);
    h1.conn!.write(Buffer.alloc(8 << 20, 1));
    const r1 = download(h1, 1500, 10);
    const h2 = open(10);
    h2.conn!.write(Buffer.alloc(8 << 20, 1));
    const r2 = download(h2, 1500, 10, { split: 8 });
    const b1 = h1.conn!.cc as Bbr;
    const b2 = h2.conn!.cc as Bbr;
    console.log(`  honest: ${b1.describe()} cwnd ${h1.conn!.cwnd} bytes ${r1.bytes}\n  split8: ${b2.describe()} cwnd ${h2.conn!.cwnd} bytes ${r2.bytes}`);
    assert.ok(b2.btlBw <= b1.btlBw * 1.3 + 1);
    assert.ok(h2.conn!.cwnd <= h1.conn!.cwnd * 1.3 + 4 * HMSS);
  });
});

describe('bbr pacer: the wait and the header charge (review findings 4, 6)', () => {
  it('finding 4 (fixed): a deadline set at an old, far lower rate is cut to ~2 quanta at the current rate', () => {
    const h = open(10);
    const c = h.conn!;
    c.write(Buffer.alloc(1 << 20, 1));
    h.flush();
    const rate = (c.rec as unknown as { rate: { paceNext: number } }).rate;
    rate.paceNext = h.now + 100_000; // as after one segment at 0.014 B/ms
    h.advance(0.001);
    const wait = c.paceAt - h.now;
    const most = (2 * c.cc.quantum) / c.cc.pacingRate;
    assert.ok(wait > 0 && wait <= most + 0.01, `pacer waits ${wait.toFixed(3)} ms (at most ${most.toFixed(3)})`);
  });

  it('finding 6 (fixed): an IPv6 segment is charged 60 bytes of headers, IPv4 40 (+12 with timestamps)', () => {
    const hdr = (ip6: boolean, ts: boolean) => {
      const rec = { remoteIp: ip6 ? 0xf0000005 : 0x0a000002, tsOk: ts, sndUna: 0, cc: { modelBased: false }, stack: { now: 0 } };
      return (new SackRecovery(rec as unknown as TcpConnection) as unknown as { segHeaders: number }).segHeaders;
    };
    assert.equal(hdr(false, false), 40);
    assert.equal(hdr(false, true), 52);
    assert.equal(hdr(true, false), 60);
    assert.equal(hdr(true, true), 72);
  });
});

describe('review probes: bbr state machine', () => {
  it('finding 5 (fixed): onIdle in PROBE_RTT judges the 200 ms at the clock (now), not the last ACK\'s time', () => {
    const b = new Bbr(() => 0.5);
    const hh = { cwnd: 10 * 1000, ssthresh: 0x7fffffff, sndMss: 1000, srtt: 10, cwndLimited: true, minRtt: Infinity };
    b.init(hh, 0);
    // Put it in PROBE_RTT with the 200 ms deadline already set at t = 100 (last ACK at t = 100).
    b.mode = BBR_PROBE_RTT;
    b.probeRttDoneAt = 300;
    b.fullBwReached = true;
    // The application sends again 5 s later, nothing in flight: Linux checks probe_rtt_done at tcp_jiffies32 (now).
    b.onIdle(hh, 200);
    assert.equal(b.mode, BBR_PROBE_RTT, 'at t = 200 the 200 ms of PROBE_RTT are not over');
    b.onIdle(hh, 5100);
    assert.equal(b.mode, BBR_PROBE_BW, 'after 5 s idle, PROBE_RTT (200 ms) is over at restart');
  });
});

describe('review probes: idle restart', () => {
  it('finding 3 (fixed): a bbr connection in PROBE_BW idle for > RTO keeps its cwnd (Linux skips RFC 5681 §4.1\'s restart for cong_control modules) and paces at BtlBw', () => {
    const h = open(10);
    const c = h.conn!;
    const bbr = c.cc as Bbr;
    // A model as after a transfer on a 100 Mbit/s, 10 ms path (12.5 kB/ms, BDP 125 kB).
    c.write(Buffer.alloc(64 << 10, 1));
    download(h, 200, 10);
    bbr.fullBwReached = true;
    bbr.mode = BBR_PROBE_BW;
    (bbr as unknown as { bw0: number }).bw0 = 12_500;
    c.cwnd = bbr.target();
    const before = c.cwnd;
    h.advance(1000); // idle > RTO (keep-alive between two responses)
    c.write(Buffer.alloc(1 << 20, 2));
    h.flush();
    console.log(`  cwnd before idle ${before}, at restart ${c.cwnd} (IW ${c.iw()}), model target ${bbr.target()}`);
    assert.ok(c.cwnd >= before, `cwnd cut from ${before} to ${c.cwnd} after 1 s idle`);
  });
});

/** A lossless path: a bottleneck of `rate` bytes/ms (unbounded queue), `delay` ms each way; ACK per segment. */
class Path {
  linkFree = 0;
  arrivals: { at: number; e: number }[] = [];
  acks: { at: number; ack: number }[] = [];
  got = 0;
  maxQueue = 0;
  constructor(
    readonly h: TcpHarness,
    readonly rate: number,
    readonly delay: number,
  ) {
    this.linkFree = h.now;
  }
  private send(out: { seq: number; payload: Buffer }[]): void {
    const base = this.h.seq();
    for (const s of out) {
      if (s.payload.length === 0) continue;
      const q = Math.max(0, this.linkFree - this.h.now) * this.rate;
      if (q > this.maxQueue) this.maxQueue = q;
      this.linkFree = Math.max(this.linkFree, this.h.now) + s.payload.length / this.rate;
      this.arrivals.push({ at: this.linkFree + this.delay, e: ((s.seq - base) | 0) + s.payload.length });
    }
  }
  /** Runs until `bytes` (offset from the start) are delivered; returns the time it took. */
  until(bytes: number, limit = 20_000): number {
    const h = this.h;
    const c = h.conn!;
    const t0 = h.now;
    this.send(h.flush());
    while ((this.got < bytes || this.acks.length > 0 || this.arrivals.length > 0) && h.now - t0 < limit) {
      const next = Math.min(this.arrivals[0]?.at ?? Infinity, this.acks[0]?.at ?? Infinity, c.paceAt, h.now + 1);
      if (next > h.now) this.send(h.advance(next - h.now));
      while (this.arrivals.length > 0 && this.arrivals[0].at <= h.now) {
        const a = this.arrivals.shift()!;
        if (a.e > this.got) this.got = a.e;
        this.acks.push({ at: h.now + this.delay, ack: (this.h.seq() + this.got) | 0 });
      }
      while (this.acks.length > 0 && this.acks[0].at <= h.now) {
        const k = this.acks.shift()!;
        this.send(h.in({ flags: A, seq: h.pseq(), ack: k.ack, window: 65535 }));
      }
    }
    return h.now - t0;
  }
}

describe('review probes: idle restart cost on a bottleneck', () => {
  const took: number[] = [];
  for (const linuxLike of [false, true]) {
    it(`keep-alive: a 1 MB response after 1 s idle, 50 Mbit/s 20 ms path (${linuxLike ? 'restart skipped, as Linux for bbr' : 'as merged'})`, () => {
      const h = open(20);
      const c = h.conn!;
      const p = new Path(h, 6250, 10);
      c.write(Buffer.alloc(8 << 20, 1));
      p.until(8 << 20);
      const bbr = c.cc as Bbr;
      const cw = c.cwnd;
      h.advance(1000);
      p.linkFree = h.now;
      if (linuxLike) c.lastSendAt = h.now; // no RFC 5681 restart
      c.write(Buffer.alloc(1 << 20, 2));
            const t = p.until((8 << 20) + (1 << 20));
      console.log(`  ${linuxLike ? 'linux-like' : 'merged    '}: ${bbr.describe()}; cwnd before idle ${cw}, max queue ${(p.maxQueue/1460).toFixed(0)} segs; 1 MB took ${t.toFixed(1)} ms (line-rate floor ${((1 << 20) / 6250 + 20).toFixed(1)} ms)`);
      took.push(t);
      // finding 3 (fixed): the restart costs what it costs Linux (no RFC 5681 restart for bbr).
      if (took.length === 2) assert.ok(took[0] <= took[1] * 1.02, `after idle 1 MB took ${took[0].toFixed(1)} ms, ${took[1].toFixed(1)} ms without the restart`);
    });
  }
});

/**
 * The sender's event loop runs once every `w` ms (a loaded dataplane: one RX vector, the timers
 * and one flush per turn). A 100 Mbit/s bottleneck (unbounded queue), 20 ms RTT, 12 MB.
 */
function loadedLoop(w: number | (() => number), ms: number, cc: 'bbr' | 'cubic' = 'bbr'): { mbit: number; btlBw: number; desc: string } {
  const h = new TcpHarness({ congestionControl: cc, rcvBuf: 4 << 20 });
  {
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: HMSS, sackOk: true, window: 65535, wscale: 7 })[0];
    h.iss = sa.seq;
    h.now += 20;
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 65535 });
  }
  const c = h.conn!;
  const rate = 12_500;
  const delay = 10;
  let linkFree = h.now;
  const arrivals: { at: number; e: number }[] = [];
  const acks: { at: number; ack: number }[] = [];
  let got = 0;
  const base = h.seq();
  const send = (out: { seq: number; payload: Buffer }[]) => {
    for (const s of out) {
      if (s.payload.length === 0) continue;
      linkFree = Math.max(linkFree, h.now) + s.payload.length / rate;
      arrivals.push({ at: linkFree + delay, e: ((s.seq - base) | 0) + s.payload.length });
    }
  };
  c.write(Buffer.alloc(160 << 20, 1));
  send(h.flush());
  const t0 = h.now;
  let at1 = 0;
  let got1 = 0;
  while (h.now - t0 < ms) {
    // The receiver side runs exactly (its ACKs leave when the data arrives).
    const turn = h.now + (typeof w === 'number' ? w : w());
    while (arrivals.length > 0 && arrivals[0].at <= turn) {
      const a = arrivals.shift()!;
      if (a.e > got) got = a.e;
      acks.push({ at: a.at + delay, ack: (base + got) | 0 });
    }
    h.now = turn;
    h.stack.tick(h.now);
    while (acks.length > 0 && acks[0].at <= h.now) {
      const k = acks.shift()!;
      h.in({ flags: A, seq: h.pseq(), ack: k.ack, window: 65535 }, false);
    }
    h.stack.flush(h.now);
    send(h.sink.take());
    if (at1 === 0 && h.now - t0 >= ms / 2) {
      at1 = h.now;
      got1 = got;
    }
  }
  const bbr = c.cc as Bbr;
  const desc = cc === 'bbr' ? bbr.describe() : `cubic cwnd ${c.cwnd}`;
  return { mbit: ((got - got1) * 8) / (h.now - at1) / 1000, btlBw: cc === 'bbr' ? (bbr.btlBw * 8) / 1000 : 0, desc };
}

describe('review probes: a loaded event loop (one turn every w ms)', () => {
  it('finding 1 (fixed): bbr goodput on a 100 Mbit/s path in the second half of 8 s, by loop period', () => {
    const rows: string[] = [];
    const res: Record<number, number> = {};
    for (const w of [0.25, 1, 2, 3, 5, 8]) {
      const r = loadedLoop(w, 8000);
      const cu = loadedLoop(w, 8000, 'cubic');
      res[w] = r.mbit;
      rows.push(`  w ${w} ms: bbr goodput ${r.mbit.toFixed(1)} Mbit/s (${r.desc}); cubic ${cu.mbit.toFixed(1)} Mbit/s`);
    }
    console.log(rows.join('\n'));
    for (const w of [1, 2, 3, 5, 8]) assert.ok(res[w] >= 0.8 * res[0.25], `a ${w} ms loop gets ${res[w].toFixed(1)} of ${res[0.25].toFixed(1)} Mbit/s`);
  });
});

describe('review probes: a jittery loaded loop', () => {
  it('turns spaced uniformly in [0.2, 5] ms (mean 2.6 ms): bbr vs cubic goodput', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
    const b = loadedLoop(() => 0.2 + 4.8 * rnd(), 8000);
    seed = 7;
    const cu = loadedLoop(() => 0.2 + 4.8 * rnd(), 8000, 'cubic');
    console.log(`  jitter [0.2, 5] ms: bbr ${b.mbit.toFixed(1)} Mbit/s (${b.desc}); cubic ${cu.mbit.toFixed(1)} Mbit/s`);
    assert.ok(b.mbit >= 0.8 * cu.mbit, `bbr ${b.mbit.toFixed(1)} vs cubic ${cu.mbit.toFixed(1)} Mbit/s`);
  });
});
