/**
 * Congestion control arithmetic against its RFCs: CUBIC (RFC 9438: W_cubic, K, β = 0.7, C = 0.4,
 * fast convergence, the Reno-friendly region, the 1.5·cwnd cap, timeouts, undo) and NewReno
 * (RFC 5681 / RFC 3465). The clock is injected: every call gets `now` in ms.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, Cubic, NewReno, createCongestionControl, type CongestionHost } from '../../src/tcp/congestion.js';

const MSS = 1000;
const host = (cwndSegs: number, ssthreshSegs = Infinity, srtt = 0): CongestionHost => ({
  cwnd: cwndSegs * MSS,
  ssthresh: ssthreshSegs === Infinity ? 0x7fffffff : ssthreshSegs * MSS,
  sndMss: MSS,
  srtt,
  minRtt: Infinity,
  cwndLimited: true,
});
const near = (a: number, b: number, eps: number, what: string) => assert.ok(Math.abs(a - b) <= eps, `${what}: ${a} vs ${b}`);

/** ACKs one cwnd worth of data, one MSS per ACK, all at time `now`. */
function ackRound(cc: Cubic | NewReno, h: CongestionHost, now: number): void {
  const n = Math.floor(h.cwnd / MSS);
  for (let i = 0; i < n; i++) cc.onAck(h, MSS, 0, now);
}

describe('CUBIC (RFC 9438)', () => {
  it('uses the RFC constants: C = 0.4, β = 0.7, α = 3(1−β)/(1+β)', () => {
    assert.equal(CUBIC_C, 0.4);
    assert.equal(CUBIC_BETA, 0.7);
    near(CUBIC_ALPHA, 0.9 / 1.7, 1e-12, 'alpha');
    assert.equal(createCongestionControl('cubic').name, 'cubic');
    assert.equal(createCongestionControl('newreno').name, 'newreno');
  });

  it('a loss sets ssthresh = β·cwnd and W_max = cwnd; the epoch then starts with K = ∛(W_max(1−β)/C)', () => {
    const cc = new Cubic();
    const h = host(100, 50);
    cc.onLoss(h, 100 * MSS, 0);
    assert.equal(h.ssthresh, 70 * MSS);
    assert.equal(cc.wMax, 100);
    h.cwnd = h.ssthresh; // recovery ends at ssthresh
    cc.onAck(h, MSS, 0, 1000); // first ACK in congestion avoidance starts the epoch
    assert.equal(cc.epochStart, 1000);
    near(cc.k, Math.cbrt((100 * (1 - 0.7)) / 0.4), 1e-9, 'K'); // ∛75 ≈ 4.217 s
  });

  it('W_cubic(t) = C(t−K)³ + W_max: below W_max before K (concave), W_max at K, above after (convex)', () => {
    const cc = new Cubic();
    const h = host(100, 50);
    cc.onLoss(h, 0, 0);
    h.cwnd = h.ssthresh;
    cc.onAck(h, MSS, 0, 0);
    const K = cc.k;
    near(cc.wCubic(0), 70, 1e-9, 'W_cubic(0) = β·W_max');
    near(cc.wCubic(K), 100, 1e-9, 'W_cubic(K)');
    near(cc.wCubic(K + 2), 100 + 0.4 * 8, 1e-9, 'W_cubic(K+2)');
    near(cc.wCubic(K - 1), 100 - 0.4, 1e-9, 'W_cubic(K−1)');
  });

  it('follows W_cubic one RTT ahead: cwnd tracks the curve towards W_max and plateaus there', () => {
    const cc = new Cubic();
    const srtt = 100; // ms: with a long RTT the cubic region dominates the Reno-friendly one
    const h = host(100, 50, srtt);
    cc.onLoss(h, 0, 0);
    h.cwnd = h.ssthresh;
    let now = 0;
    const seen: number[] = [];
    for (let r = 0; r < 80; r++) {
      ackRound(cc, h, now);
      seen.push(h.cwnd / MSS);
      now += srtt;
    }
    const K = cc.k;
    // Each round grows by (target − cwnd) with target = W_cubic(t + RTT): cwnd stays close to the curve.
    for (const r of [10, 20, 30]) near(seen[r], cc.wCubic((r * srtt) / 1000 + srtt / 1000), 3, `round ${r}`);
    // Concave: growth slows as W_max approaches (≈ K = 4.2 s = 42 rounds).
    assert.ok(seen[10] - seen[5] > seen[40] - seen[35], `concave: ${seen[10] - seen[5]} > ${seen[40] - seen[35]}`);
    near(cc.wCubic(K), 100, 1e-9, 'plateau at W_max');
    assert.ok(seen[42] > 98 && seen[42] < 103, `near W_max at K: ${seen[42]}`);
    // Convex beyond K: growth speeds up again.
    assert.ok(seen[79] - seen[74] > seen[46] - seen[41], `convex: ${seen[79] - seen[74]} > ${seen[46] - seen[41]}`);
  });

  it('caps the target at 1.5·cwnd per RTT', () => {
    const cc = new Cubic();
    const h = host(10, 5, 100);
    cc.wMax = 1000; // far above: W_cubic(t + RTT) ≫ 1.5·cwnd
    cc.onLoss(h, 0, 0);
    cc.wMax = 1000;
    h.cwnd = 10 * MSS;
    cc.onAck(h, MSS, 0, 0);
    cc.k = 0; // pretend the curve is already past K: a huge target
    cc.wMax = 1000;
    const before = h.cwnd / MSS;
    ackRound(cc, h, 0);
    // (1.5·cw − cw)/cw per acked segment over cw segments ≈ +0.5·cw at most.
    assert.ok(h.cwnd / MSS <= before * 1.5 + 1e-9, `${h.cwnd / MSS} ≤ 1.5 × ${before}`);
    assert.ok(h.cwnd / MSS > before * 1.3, 'and it does grow fast');
  });

  it('in the Reno-friendly region (short RTT) cwnd follows W_est: α_cubic segments per RTT, then 1 past cwnd_prior', () => {
    const cc = new Cubic();
    const h = host(100, 50, 0.05); // 50 µs RTT: W_cubic hardly moves per RTT
    cc.onLoss(h, 0, 0);
    h.cwnd = h.ssthresh; // 70
    let now = 0;
    ackRound(cc, h, now); // starts the epoch at 70
    const start = h.cwnd / MSS;
    for (let r = 0; r < 10; r++) ackRound(cc, h, (now += 0.05));
    const grown = h.cwnd / MSS - start;
    near(grown, 10 * CUBIC_ALPHA, 1, 'ten RTTs of α_cubic');
    assert.ok(cc.wCubic((now - cc.epochStart) / 1000) < cc.wEst, 'W_cubic < W_est: Reno-friendly region');
    // Past cwnd_prior (100) α becomes 1.
    cc.wEst = 101;
    h.cwnd = 101 * MSS;
    const w0 = cc.wEst;
    ackRound(cc, h, (now += 0.05));
    near(cc.wEst - w0, 1, 0.05, 'α = 1 once W_est ≥ cwnd_prior');
  });

  it('fast convergence: a loss below the previous W_max remembers W_max = cwnd·(1+β)/2', () => {
    const cc = new Cubic();
    const h = host(100);
    cc.onLoss(h, 0, 0);
    assert.equal(cc.wMax, 100);
    h.cwnd = 80 * MSS; // lost again before reaching 100
    cc.onLoss(h, 0, 1000);
    near(cc.wMax, 80 * 0.85, 1e-9, 'W_max');
    assert.equal(h.ssthresh, 56 * MSS);
    h.cwnd = 120 * MSS; // above the old maximum: plain W_max = cwnd
    cc.onLoss(h, 0, 2000);
    assert.equal(cc.wMax, 120);
  });

  it('ssthresh never falls below 2 segments', () => {
    const cc = new Cubic();
    const h = host(2);
    cc.onLoss(h, 0, 0);
    assert.equal(h.ssthresh, 2 * MSS);
  });

  it('slow start below ssthresh: cwnd grows by the bytes acknowledged', () => {
    const cc = new Cubic();
    const h = host(10, 100);
    cc.onAck(h, 3 * MSS, 0, 0);
    assert.equal(h.cwnd, 13 * MSS);
    assert.equal(cc.epochStart, -1, 'no epoch in slow start');
  });

  it('a timeout sets cwnd to 1 MSS, ssthresh = β·cwnd, and the next epoch has K = 0 and W_max = cwnd at its start (§4.8)', () => {
    const cc = new Cubic();
    const h = host(50);
    cc.onRto(h, 50 * MSS, true, 0);
    assert.equal(h.cwnd, MSS);
    assert.equal(h.ssthresh, 35 * MSS);
    cc.onRto(h, MSS, false, 500); // a second timeout of the same segment keeps ssthresh
    assert.equal(h.ssthresh, 35 * MSS);
    h.cwnd = 35 * MSS; // slow start reached ssthresh
    cc.onAck(h, MSS, 0, 1000);
    assert.equal(cc.k, 0);
    near(cc.wMax, 35, 1e-9, 'W_max = cwnd at the start of congestion avoidance');
  });

  it('undo restores cwnd, ssthresh, W_max, K and the epoch of before the reduction (§4.9)', () => {
    const cc = new Cubic();
    const h = host(100, 50, 10);
    cc.onLoss(h, 0, 0);
    h.cwnd = h.ssthresh;
    for (let i = 0; i < 50; i++) ackRound(cc, h, i * 10);
    const before = { cwnd: h.cwnd, ssthresh: h.ssthresh, wMax: cc.wMax, k: cc.k, epoch: cc.epochStart, wEst: cc.wEst };
    cc.onLoss(h, 0, 600);
    h.cwnd = h.ssthresh;
    assert.notEqual(cc.wMax, before.wMax);
    cc.undo(h);
    assert.deepEqual({ cwnd: h.cwnd, ssthresh: h.ssthresh, wMax: cc.wMax, k: cc.k, epoch: cc.epochStart, wEst: cc.wEst }, before);
    // A second undo without a snapshot changes nothing.
    h.cwnd = 5 * MSS;
    cc.undo(h);
    assert.equal(h.cwnd, 5 * MSS);
  });

  it('an idle restart starts a new epoch', () => {
    const cc = new Cubic();
    const h = host(20, 10);
    cc.onAck(h, MSS, 0, 0);
    assert.equal(cc.epochStart, 0);
    cc.onIdle(h, 100);
    assert.equal(cc.epochStart, -1);
    cc.onAck(h, MSS, 0, 5000);
    assert.equal(cc.epochStart, 5000);
  });
});

describe('NewReno (RFC 5681, RFC 3465)', () => {
  it('slow start by acknowledged bytes, then one MSS per cwnd of acknowledged bytes', () => {
    const cc = new NewReno();
    const h = host(10, 12);
    cc.onAck(h, 2 * MSS, 0, 0);
    assert.equal(h.cwnd, 12 * MSS);
    ackRound(cc, h, 0);
    assert.equal(h.cwnd, 13 * MSS, 'one MSS after a whole cwnd acknowledged');
    for (let i = 0; i < 12; i++) cc.onAck(h, MSS, 0, 0);
    assert.equal(h.cwnd, 13 * MSS, 'not before');
    cc.onAck(h, MSS, 0, 0);
    assert.equal(h.cwnd, 14 * MSS);
  });

  it('a loss sets ssthresh = max(FlightSize/2, 2·MSS); a timeout also sets cwnd = 1 MSS (first timeout only for ssthresh)', () => {
    const cc = new NewReno();
    const h = host(40);
    cc.onLoss(h, 30 * MSS, 0);
    assert.equal(h.ssthresh, 15 * MSS);
    cc.onLoss(h, 3 * MSS, 0);
    assert.equal(h.ssthresh, 2 * MSS);
    cc.onRto(h, 40 * MSS, true, 0);
    assert.deepEqual([h.cwnd, h.ssthresh], [MSS, 20 * MSS]);
    cc.onRto(h, MSS, false, 0);
    assert.equal(h.ssthresh, 20 * MSS);
  });

  it('undo brings back the larger cwnd and ssthresh of before the reduction', () => {
    const cc = new NewReno();
    const h = host(40, 30);
    cc.onRto(h, 40 * MSS, true, 0);
    cc.undo(h);
    assert.deepEqual([h.cwnd, h.ssthresh], [40 * MSS, 30 * MSS]);
  });
});

describe('congestion control: growth only when cwnd limited the sender', () => {
  it('an application-limited ACK (flight well below cwnd, not cwnd-limited) grows nothing', () => {
    for (const cc of [new Cubic(), new NewReno()]) {
      const h = { ...host(20), cwndLimited: false }; // slow start: any growth shows
      cc.onAck(h, MSS, 5 * MSS, 0);
      assert.equal(h.cwnd, 20 * MSS, cc.name);
      cc.onAck(h, MSS, 19 * MSS, 0); // the flight filled cwnd
      assert.ok(h.cwnd > 20 * MSS, cc.name);
    }
  });
});

