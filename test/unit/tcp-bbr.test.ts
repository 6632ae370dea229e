/**
 * BBR v1 (src/tcp/bbr.ts) with an injected clock: the state machine fed rate samples directly
 * (STARTUP's exit, DRAIN, the PROBE_BW gain cycle, PROBE_RTT, BtlBw's window and app-limited
 * samples, recovery's conservation and restore, the RTO), then the whole connection on the test
 * harness: the pacer's deadlines and bursts, and a simulated bottleneck path with 5% random loss
 * (cwnd stays at the model's target, the model stays at the path's rate).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bbr, BBR_DRAIN, BBR_MIN_CWND_SEGS, BBR_PACING_GAINS, BBR_PROBE_BW, BBR_PROBE_RTT, BBR_STARTUP } from '../../src/tcp/bbr.js';
import type { CongestionHost } from '../../src/tcp/congestion.js';
import { CA_OPEN, CA_RECOVERY, DeliveryRate } from '../../src/tcp/delivery-rate.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import { PACE_CREDIT_MS } from '../../src/tcp/recovery-sack.js';
import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.js';

const MSS = 1000;
type Host = CongestionHost & { cwnd: number; ssthresh: number };
const host = (cwndSegs = 10, srtt = 10): Host => ({ cwnd: cwndSegs * MSS, ssthresh: 0x7fffffff, sndMss: MSS, srtt, cwndLimited: true, minRtt: Infinity });

/** A driver: one rate sample per call, each a new packet-timed round unless `sameRound`. */
class Feed {
  readonly rs = new DeliveryRate();
  now = 1000;
  constructor(
    readonly bbr: Bbr,
    readonly h: Host,
  ) {
    bbr.init(h, this.now);
  }

  /** One round: `bw` bytes/ms measured over `rtt` ms, `inFlight` left after it (default: cwnd). */
  round(bw: number, o: { rtt?: number; appLimited?: boolean; inFlight?: number; losses?: number; ca?: number; dt?: number; sameRound?: boolean } = {}): void {
    const rs = this.rs;
    const rtt = o.rtt ?? 10;
    this.now += o.dt ?? rtt;
    const acked = Math.max(MSS, Math.round(bw * rtt));
    const before = rs.delivered;
    rs.delivered += acked;
    rs.priorDelivered = o.sameRound === true ? this.bbr.nextRoundDelivered - 1 : before;
    rs.sampleDelivered = acked;
    rs.interval = rtt;
    rs.rtt = rtt;
    rs.acked = acked;
    rs.losses = o.losses ?? 0;
    rs.isAppLimited = o.appLimited === true;
    rs.priorInFlight = this.h.cwnd;
    rs.inFlight = o.inFlight ?? this.h.cwnd;
    rs.caState = o.ca ?? CA_OPEN;
    this.bbr.onRateSample(this.h, rs, this.now);
  }
}

/** Startup on a 1000 bytes/ms path with a 10 ms RTprop, to PROBE_BW. */
function toProbeBw(rand = () => 0.5): Feed {
  const f = new Feed(new Bbr(rand), host());
  for (let bw = 100; bw < 1000; bw *= 2) f.round(bw);
  for (let i = 0; i < 3; i++) f.round(1000);
  f.round(1000, { inFlight: 0 }); // drained
  assert.equal(f.bbr.mode, BBR_PROBE_BW);
  return f;
}

describe('BBR v1 state machine (injected clock and samples)', () => {
  it('STARTUP grows cwnd by what is delivered while BtlBw grows, leaves after 3 rounds without +25%, DRAIN until the pipe is one BDP', () => {
    const f = new Feed(new Bbr(() => 0.5), host());
    assert.ok(f.bbr.pacingRate > 0, 'an initial pacing rate from cwnd / SRTT');
    const initial = f.bbr.pacingRate;
    assert.ok(Math.abs(initial - ((10 * MSS) / 10) * 2.886 * 0.99) < 1, `2.886 · cwnd / SRTT · 0.99: ${initial}`);
    let cwnd = f.h.cwnd;
    for (let bw = 100; bw <= 800; bw *= 2) {
      f.round(bw);
      assert.equal(f.bbr.mode, BBR_STARTUP);
      assert.ok(f.h.cwnd > cwnd, 'cwnd grows in STARTUP');
      cwnd = f.h.cwnd;
    }
    f.round(900); // +12%: not growth
    f.round(950);
    assert.equal(f.bbr.mode, BBR_STARTUP, 'two rounds without growth: still STARTUP');
    assert.equal(f.bbr.fullBwReached, false);
    f.round(960);
    assert.equal(f.bbr.fullBwReached, true, 'the third round without 25% growth fills the pipe');
    assert.equal(f.bbr.mode, BBR_DRAIN);
    assert.ok(Math.abs(f.bbr.pacingGain - 1 / 2.885) < 1e-9, 'DRAIN paces at 1/2.885');
    f.round(960, { inFlight: 30 * MSS });
    assert.equal(f.bbr.mode, BBR_DRAIN, 'the pipe is still above one BDP (~9.6 kB + quanta)');
    f.round(960, { inFlight: 10 * MSS });
    assert.equal(f.bbr.mode, BBR_PROBE_BW, 'drained to one BDP: PROBE_BW');
    assert.equal(f.bbr.cwndGain, 2);
  });

  it('app-limited samples do not lower BtlBw; BtlBw forgets a higher rate after 10 rounds of lower ones', () => {
    const f = toProbeBw();
    const bw = f.bbr.btlBw;
    assert.ok(Math.abs(bw - 1000) < 1, `BtlBw ${bw}`);
    for (let i = 0; i < 20; i++) f.round(300, { appLimited: true });
    assert.ok(Math.abs(f.bbr.btlBw - bw) < 1, 'twenty app-limited rounds at 30%: BtlBw unchanged');
    f.round(1200, { appLimited: true });
    assert.ok(Math.abs(f.bbr.btlBw - 1200) < 1, 'an app-limited sample above BtlBw raises it');
    for (let i = 0; i < 12; i++) f.round(500);
    assert.ok(Math.abs(f.bbr.btlBw - 500) < 1, `after 12 rounds at 500 the window forgot 1200: ${f.bbr.btlBw}`);
  });

  it('PROBE_BW cycles 1.25, 0.75, then 1 six times, one phase per RTprop; it never starts at 0.75', () => {
    for (const r of [0, 0.2, 0.5, 0.8, 0.9999]) {
      const f = toProbeBw(() => r);
      assert.notEqual(f.bbr.cycleIdx, 1, `start phase for rand ${r}`);
    }
    const f = toProbeBw(() => 0); // start phase 0: 1.25
    assert.equal(f.bbr.pacingGain, 1.25);
    const gains: number[] = [];
    const target = f.bbr.inflight(f.bbr.btlBw, 1.25);
    for (let i = 0; i < 9; i++) {
      // 1.25 ends once the flight reached 1.25 BDP; 0.75 once it is down to 1 BDP (or a phase passed).
      f.round(1000, { dt: 11, inFlight: gains.length === 0 ? target : 5 * MSS });
      f.rs.priorInFlight = target;
      gains.push(f.bbr.pacingGain);
    }
    assert.deepEqual(gains, [0.75, 1, 1, 1, 1, 1, 1, 1.25, 0.75], 'the 8-phase cycle');
    assert.deepEqual([...BBR_PACING_GAINS], [1.25, 0.75, 1, 1, 1, 1, 1, 1]);
    // Within one RTprop the phase stays.
    const idx = f.bbr.cycleIdx;
    f.round(1000, { dt: 2, inFlight: 0 });
    f.round(1000, { dt: 2, inFlight: 0 });
    assert.equal(f.bbr.cycleIdx, idx, 'no new phase within one RTprop');
    assert.ok(Math.abs(f.bbr.pacingRate - f.bbr.btlBw * f.bbr.pacingGain * 0.99) < 1e-6, 'pacing rate = gain · BtlBw · 0.99');
  });

  it('PROBE_RTT after 10 s without a lower RTT: cwnd 4 segments for 200 ms and a round, then PROBE_BW with cwnd restored', () => {
    const f = toProbeBw();
    for (let i = 0; i < 50; i++) f.round(1000, { rtt: 12, dt: 100 }); // 5 s: RTprop (10 ms) not refreshed
    assert.equal(f.bbr.mode, BBR_PROBE_BW);
    const before = f.h.cwnd;
    for (let i = 0; i < 51 && (f.bbr.mode as number) !== BBR_PROBE_RTT; i++) f.round(1000, { rtt: 12, dt: 100 });
    assert.equal(f.bbr.mode, BBR_PROBE_RTT, '10 s without a new minimum');
    assert.ok(f.now - 1000 > 10_000);
    assert.equal(f.h.cwnd, BBR_MIN_CWND_SEGS * MSS, 'cwnd 4 segments');
    assert.equal(f.bbr.minRtt, 12, 'the expired window took the current RTT');
    f.round(1000, { rtt: 11, dt: 5, inFlight: 3 * MSS }); // the flight is down to 4 segments: 200 ms start
    const entered = f.now;
    f.round(1000, { rtt: 11, dt: 100, inFlight: 3 * MSS });
    assert.equal(f.bbr.mode, BBR_PROBE_RTT, '100 ms: still probing');
    f.round(1000, { rtt: 11, dt: 99, inFlight: 3 * MSS });
    assert.equal(f.bbr.mode, BBR_PROBE_RTT, '199 ms: still probing');
    f.round(1000, { rtt: 11, dt: 2, inFlight: 3 * MSS });
    assert.ok(f.now - entered > 200);
    assert.equal(f.bbr.mode, BBR_PROBE_BW, 'after 200 ms and a round: back to PROBE_BW');
    assert.ok(f.h.cwnd >= before, `cwnd restored: ${f.h.cwnd} ≥ ${before}`);
    assert.equal(f.bbr.minRttStamp, f.now, 'RTprop is good for another 10 s');
  });

  it('loss recovery: packet conservation in its first round, cwnd restored when it ends; losses alone do not shrink the model', () => {
    const f = toProbeBw();
    for (let i = 0; i < 3; i++) f.round(1000);
    const model = f.h.cwnd;
    const target = f.bbr.target();
    assert.equal(model, target, 'cwnd at the model target');
    f.bbr.onLoss(f.h, model, f.now);
    f.round(1000, { ca: CA_RECOVERY, inFlight: 8 * MSS, losses: 2 * MSS, sameRound: true });
    assert.equal(f.h.cwnd, 8 * MSS + f.rs.acked, 'conservation: cwnd = pipe + delivered');
    f.round(1000, { ca: CA_RECOVERY, inFlight: 12 * MSS, sameRound: true });
    assert.equal(f.h.cwnd, 12 * MSS + f.rs.acked, 'still the first round: conservation');
    f.round(1000, { ca: CA_RECOVERY, inFlight: 12 * MSS }); // a new round: growth by what is delivered, towards the target
    assert.ok(f.h.cwnd <= target);
    f.round(1000, { ca: CA_OPEN });
    assert.equal(f.h.cwnd, f.bbr.target(), 'recovery over: cwnd restored (to the model target)');
    assert.ok(f.h.cwnd >= model - 2 * MSS, `${f.h.cwnd} vs ${model} before the recovery`);
    assert.ok(Math.abs(f.bbr.btlBw - 1000) < 1, 'BtlBw unchanged by the loss');
  });

  it('an RTO sets cwnd to one segment; it grows by what is delivered back to the model and is restored when the loss state ends', () => {
    const f = toProbeBw();
    const model = f.h.cwnd;
    f.bbr.onRto(f.h, model, true, f.now);
    assert.equal(f.h.cwnd, MSS);
    f.round(100, { ca: 4, inFlight: MSS, rtt: 10 });
    assert.equal(f.h.cwnd, BBR_MIN_CWND_SEGS * MSS, 'grows by what was delivered, at least to 4 segments (as Linux)');
    f.round(300, { ca: 4, inFlight: MSS, rtt: 10 });
    assert.equal(f.h.cwnd, BBR_MIN_CWND_SEGS * MSS + 3000, 'grows by what was delivered');
    f.round(1000, { ca: CA_OPEN });
    assert.ok(f.h.cwnd >= model - 2 * MSS && f.h.cwnd === f.bbr.target(), `the loss state is over: cwnd from before the RTO (${f.h.cwnd}, ${model})`);
  });
});

// ------------------------------------------------------------------ the connection, on the harness

const A = TCP_ACK;
const HMSS = 1460;

function openBbr(rtt: number): TcpHarness {
  const h = new TcpHarness({ congestionControl: 'bbr', rcvBuf: 4 << 20 });
  const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: HMSS, sackOk: true, window: 65535, wscale: 7 })[0];
  h.iss = sa.seq;
  h.now += rtt;
  h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 65535 });
  return h;
}

describe('BBR on a connection: the pacer, and a simulated bottleneck with 5% random loss', () => {
  it('bbr needs SACK: a peer without it gets CUBIC, counted; with SACK the connection runs bbr and shows its model', () => {
    const h = new TcpHarness({ congestionControl: 'bbr' });
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: HMSS, sackOk: false })[0];
    h.iss = sa.seq;
    h.now += 10;
    h.in({ flags: A, seq: h.pseq(), ack: h.seq() });
    assert.equal(h.conn!.cc.name, 'cubic');
    assert.equal(h.stack.counters.bbrWithoutSack, 1);
    const s = openBbr(10);
    assert.equal(s.conn!.cc.name, 'bbr');
    assert.equal(s.stack.counters.bbrWithoutSack, 0);
    const row = [...s.stack.sessions()][0];
    assert.match(row.congestion ?? '', /^bbr startup btlbw [\d.]+Mbps rtprop - pacing [\d.]+Mbps/);
  });

  it('the pacer: sends only when its deadline passed, a burst of at most the credit plus one quantum, at the pacing rate on average', () => {
    const h = openBbr(20);
    const c = h.conn!;
    assert.equal(c.cc.name, 'bbr');
    const rate = c.cc.pacingRate;
    assert.ok(rate > 0);
    c.write(Buffer.alloc(200 * HMSS, 1));
    const first = h.flush().filter((s) => s.payload.length > 0);
    const burst = first.reduce((n, s) => n + s.payload.length, 0);
    assert.ok(burst <= rate * PACE_CREDIT_MS + c.cc.quantum + HMSS, `first burst ${burst} bytes, rate ${rate.toFixed(0)} B/ms`);
    assert.ok(burst < 10 * HMSS, 'the initial window does not go out at once');
    assert.ok(c.paceAt > h.now && c.paceAt !== Infinity, 'the pacer timer is armed');
    // Over 20 ms the timer lets out what the rate allows (cwnd is 10 segments: stop at it).
    const start = h.now;
    let sent = burst;
    const times: number[] = [];
    for (let t = 0; t < 20; t++) {
      const out = h.advance(1).filter((s) => s.payload.length > 0);
      for (const s of out) {
        sent += s.payload.length;
        times.push(h.now - start);
      }
    }
    const allowed = rate * (20 + PACE_CREDIT_MS) + c.cc.quantum;
    assert.ok(sent <= allowed, `${sent} bytes in 20 ms at ${rate.toFixed(0)} B/ms (≤ ${allowed.toFixed(0)})`);
    assert.ok(sent >= Math.min(10 * HMSS, rate * 20 * 0.7), `${sent} bytes in 20 ms: the rate is honoured`);
    assert.ok(h.stack.counters.pacerWaits > 0);
  });

  it('a bottleneck path (10 segments/ms, 10 ms, 5% random loss both ways): the model finds the rate, cwnd stays near its target (CUBIC beside it)', () => {
    const RATE = 1460 * 10; // 14.6 kB/ms ≈ 117 Mbit/s
    const DELAY = 5; // each way
    const bdp = RATE * 2 * DELAY;
    const b = simulate('bbr', RATE, DELAY, 3000);
    const cu = simulate('cubic', RATE, DELAY, 3000);
    const bbr = b.cc as Bbr;
    for (const [name, r] of [['bbr', b], ['cubic', cu]] as const) {
      console.log(`  ${name}: ${r.segs} segments, ${r.drops} dropped at random; delivered ${(r.delivered / 1e6).toFixed(1)} MB in 3 s (${((r.delivered * 8) / 3 / 1e6).toFixed(0)} Mbit/s of ${((RATE * 8) / 1000).toFixed(0)}); cwnd in the last second, BDPs: p10 ${(r.cwnd(0.1) / bdp).toFixed(2)} median ${(r.cwnd(0.5) / bdp).toFixed(2)} p90 ${(r.cwnd(0.9) / bdp).toFixed(2)}; recoveries ${r.recoveries}, timeouts ${r.timeouts}`);
    }
    console.log(`  ${bbr.describe()}`);
    assert.ok(bbr.fullBwReached && (bbr.mode as number) !== BBR_STARTUP, 'out of STARTUP');
    assert.ok(Math.abs(bbr.btlBw - RATE) < 0.15 * RATE, `BtlBw ${bbr.btlBw.toFixed(0)} ≈ ${RATE}`);
    assert.ok(Math.abs(bbr.minRtt - 2 * DELAY) < 1.5, `RTprop ${bbr.minRtt}`);
    assert.ok(b.delivered > 0.8 * RATE * 3000, 'at least 80% of the bottleneck (5% of what it carries are repairs)');
    // Random loss does not shrink the model: cwnd dips only for the first round of each recovery
    // (packet conservation, cwnd = pipe + delivered) and is at least one BDP most of the time.
    assert.ok(b.cwnd(0.5) >= bdp, `median cwnd ${b.cwnd(0.5)} ≥ 1 BDP (${bdp})`);
    assert.ok(b.cwnd(0.9) >= 1.9 * bdp, `cwnd reaches the model's 2 BDP: p90 ${b.cwnd(0.9)}`);
    assert.ok(b.delivered > 2 * cu.delivered, 'CUBIC, which halves per loss, gets far less');
  });
});

interface SimResult {
  cc: unknown;
  segs: number;
  drops: number;
  delivered: number;
  recoveries: number;
  timeouts: number;
  /** cwnd's quantile q over the last third of the run. */
  cwnd(q: number): number;
}

/**
 * A download over a simulated path: a bottleneck of `rate` bytes/ms (an unbounded queue), `delay`
 * ms each way, 5% of the segments and of the ACKs lost at random (seeded). The receiver ACKs every
 * segment with up to three SACK blocks (the highest ranges above its cumulative point).
 */
function simulate(cc: 'bbr' | 'cubic', rate: number, delay: number, ms: number): SimResult {
  const h = new TcpHarness({ congestionControl: cc, rcvBuf: 4 << 20 });
  const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: HMSS, sackOk: true, window: 65535, wscale: 7 })[0];
  h.iss = sa.seq;
  h.now += 2 * delay;
  h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 65535 });
  const c = h.conn!;
  c.write(Buffer.alloc(40 << 20, 2));
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  const base = h.seq();
  const got: [number, number][] = []; // received ranges (offsets from base), merged
  const add = (s: number, e: number) => {
    got.push([s, e]);
    got.sort((x, y) => x[0] - y[0]);
    for (let i = 0; i + 1 < got.length; ) {
      if (got[i + 1][0] <= got[i][1]) {
        got[i][1] = Math.max(got[i][1], got[i + 1][1]);
        got.splice(i + 1, 1);
      } else i++;
    }
  };
  let linkFree = h.now; // when the bottleneck has sent what it holds
  const arrivals: { at: number; s: number; e: number }[] = [];
  const acks: { at: number; ack: number; sack: [number, number][] }[] = [];
  let drops = 0;
  let segs = 0;
  const send = (out: { seq: number; payload: Buffer }[]) => {
    for (const s of out) {
      if (s.payload.length === 0) continue;
      segs++;
      if (rand() < 0.05) {
        drops++;
        continue;
      }
      linkFree = Math.max(linkFree, h.now) + s.payload.length / rate;
      const off = (s.seq - base) | 0;
      arrivals.push({ at: linkFree + delay, s: off, e: off + s.payload.length });
    }
  };
  send(h.flush());
  const cwnds: number[] = [];
  const end = h.now + ms;
  while (h.now < end) {
    const next = Math.min(arrivals[0]?.at ?? Infinity, acks[0]?.at ?? Infinity, c.paceAt, h.now + 1);
    if (next > h.now) send(h.advance(next - h.now));
    while (arrivals.length > 0 && arrivals[0].at <= h.now) {
      const a = arrivals.shift()!;
      add(a.s, a.e);
      const cum = got[0][0] === 0 ? got[0][1] : 0;
      const sack = got
        .filter((r) => r[0] > 0)
        .slice(-3)
        .reverse()
        .map(([s, e]) => [(base + s) | 0, (base + e) | 0] as [number, number]);
      if (rand() >= 0.05) acks.push({ at: h.now + delay, ack: (base + cum) | 0, sack });
    }
    while (acks.length > 0 && acks[0].at <= h.now) {
      const k = acks.shift()!;
      send(h.in({ flags: A, seq: h.pseq(), ack: k.ack, sack: k.sack.length > 0 ? k.sack : undefined, window: 65535 }));
    }
    cwnds.push(c.cwnd);
  }
  const late = cwnds.slice(-Math.floor(cwnds.length / 3)).sort((x, y) => x - y);
  return {
    cc: c.cc,
    segs,
    drops,
    delivered: got[0][0] === 0 ? got[0][1] : 0,
    recoveries: h.stack.counters.fastRetransmits,
    timeouts: h.stack.counters.timeouts,
    cwnd: (q) => late[Math.min(late.length - 1, Math.floor(q * late.length))],
  };
}
