import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import { publicReasons, TCP_PRIVATE_REASONS } from '../../src/tcp/private-reasons.js';

const A = TCP_ACK;

function state(h: TcpHarness): string | undefined {
  return [...h.stack.sessions()][0]?.state;
}

describe('tcp RST for segments without a connection (RFC 9293 §3.10.7.1)', () => {
  it('SYN to a closed port → <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>', () => {
    const h = new TcpHarness({}, false);
    const out = h.in({ flags: TCP_SYN, seq: 4000 });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, TCP_RST | A);
    assert.equal(out[0].seq, 0);
    assert.equal(out[0].ack, 4001);
    assert.equal(out[0].srcPort, 80);
    assert.equal(out[0].dstPort, 40000);
    assert.equal(h.stack.errors['no-listener-rst'], 1);
  });

  it('data+FIN without ACK to a closed port: ACK covers data and FIN', () => {
    const h = new TcpHarness({}, false);
    const out = h.in({ flags: TCP_FIN, seq: 10, data: 'abc' });
    assert.equal(out[0].ack, 14);
  });

  it('ACK to a closed port → <SEQ=SEG.ACK><CTL=RST>', () => {
    const h = new TcpHarness({}, false);
    const out = h.in({ flags: A, seq: 10, ack: 12345, data: 'x' });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, TCP_RST);
    assert.equal(out[0].seq, 12345);
  });

  it('never answers an RST with an RST', () => {
    const h = new TcpHarness({}, false);
    assert.deepEqual(h.in({ flags: TCP_RST, seq: 10 }), []);
    assert.deepEqual(h.in({ flags: TCP_RST | A, seq: 10, ack: 5 }), []);
  });

  it('an ACK to a listener without a connection draws an RST', () => {
    const h = new TcpHarness();
    const out = h.in({ flags: A, seq: 10, ack: 999 });
    assert.equal(out[0].flags, TCP_RST);
    assert.equal(out[0].seq, 999);
  });

  it('unlisten() closes the port for new connections', () => {
    const h = new TcpHarness();
    h.stack.unlisten(h.local, h.lport);
    assert.equal(h.in({ flags: TCP_SYN, seq: 1 })[0].flags, TCP_RST | A);
  });

  it('a wildcard listener (0) accepts on any local address', () => {
    const h = new TcpHarness({}, false);
    h.stack.listen(0, 80, (s) => h.accept(s as never));
    assert.equal(h.in({ flags: TCP_SYN, seq: 1 })[0].flags, TCP_SYN | A);
  });
});

describe('tcp RST and SYN acceptance in synchronized states (RFC 5961)', () => {
  it('RST with SEG.SEQ = RCV.NXT resets the connection', () => {
    const h = new TcpHarness();
    h.open();
    assert.deepEqual(h.in({ flags: TCP_RST, seq: h.pseq() }), []);
    assert.equal(state(h), undefined);
    assert.deepEqual(h.events, ['accept', 'close']);
    assert.equal(h.stack.errors['connection-reset'], 1);
  });

  it('RST in the window but not exact → challenge ACK, connection kept (§3.2)', () => {
    const h = new TcpHarness();
    h.open();
    const out = h.in({ flags: TCP_RST, seq: h.pseq(100) });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(out[0].seq, h.seq());
    assert.equal(out[0].ack, h.pseq());
    assert.equal(state(h), 'ESTABLISHED');
    assert.equal(h.stack.counters.challengeAcks, 1);
  });

  it('RST outside the window is dropped silently', () => {
    const h = new TcpHarness();
    h.open();
    assert.deepEqual(h.in({ flags: TCP_RST, seq: h.pseq() - 10 }), []);
    assert.deepEqual(h.in({ flags: TCP_RST, seq: h.pseq(1 << 20) }), []);
    assert.equal(state(h), 'ESTABLISHED');
    assert.equal(h.stack.errors['rst-out-of-window'], 2);
  });

  it('SYN in ESTABLISHED → challenge ACK, whatever its sequence number (§4.2)', () => {
    const h = new TcpHarness();
    h.open();
    let out = h.in({ flags: TCP_SYN, seq: h.pseq(10) });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(out[0].ack, h.pseq());
    h.now += 500; // the challenge ACKs share the per-connection limit (one per 500 ms)
    out = h.in({ flags: TCP_SYN, seq: h.pIsn });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(state(h), 'ESTABLISHED');
  });

  it('an ACK for data we never sent is dropped with an ACK (§5.2)', () => {
    const h = new TcpHarness();
    h.open();
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(5000), data: 'x' });
    assert.equal(out.length, 1);
    assert.equal(out[0].ack, h.pseq(), 'the data was not accepted');
    assert.equal(h.stack.errors['ack-too-new'], 1);
    assert.deepEqual(h.events, ['accept']);
  });

  it('an ACK too far below SND.UNA (beyond MAX.SND.WND) is dropped (§5.2)', () => {
    const h = new TcpHarness();
    h.open({ window: 1000 });
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(-5000), data: 'x' });
    assert.equal(out.length, 1);
    assert.equal(h.stack.errors['ack-too-old'], 1);
    assert.deepEqual(h.events, ['accept']);
  });

  it('an ACK below our ISN on a fresh connection is too old: nothing acknowledged yet bounds MAX.SND.WND (§5.2, as Linux)', () => {
    const h = new TcpHarness();
    h.open({ window: 65535 });
    let out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(-1), data: 'x' });
    assert.equal(out.length, 1);
    assert.equal(out[0].ack, h.pseq(), 'the data was not taken');
    assert.equal(h.stack.errors['ack-too-old'], 1);
    assert.deepEqual(h.events, ['accept']);
    // With the ACK at SND.UNA the same byte is taken.
    out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'x' });
    assert.deepEqual(h.events, ['accept', 'data:x']);
  });

  it('an old duplicate ACK within the bytes acknowledged is accepted, one beyond them is not, across the 2^32 wrap', () => {
    const ISN = 0xffffffff - 100; // SND.UNA wraps after 100 bytes
    const h = new TcpHarness({ isnFor: () => ISN });
    h.open({ window: 65535 });
    h.conn!.write(Buffer.alloc(300, 0x61));
    const sent = h.flush();
    assert.equal(sent.reduce((n, s) => n + s.payload.length, 0), 300);
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(300) });
    assert.ok(h.seq(300) < 1000, 'SND.UNA wrapped');
    // 300 bytes acknowledged: an ACK 300 below SND.UNA (= our ISN + 1) is a possible old duplicate.
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(0), data: 'a' });
    assert.deepEqual(h.events, ['accept', 'data:a']);
    // One further below (our ISN itself: never acknowledged by the peer) is too old.
    const out = h.in({ flags: A, seq: h.pseq(1), ack: h.seq(-1), data: 'b' });
    assert.equal(out.length, 1);
    assert.equal(out[0].ack, h.pseq(1));
    assert.equal(h.stack.errors['ack-too-old'], 1);
    assert.deepEqual(h.events, ['accept', 'data:a']);
  });

  it('PAWS drops a segment with an old timestamp (RFC 7323 §5)', () => {
    const h = new TcpHarness();
    h.open({ ts: true });
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'new', ts: h.ts(0) });
    const out = h.in({ flags: A, seq: h.pseq(3), ack: h.seq(), data: 'old', ts: [h.pTs - 100, 0] });
    assert.equal(out.length, 1, 'ACKed');
    assert.equal(out[0].ack, h.pseq(3));
    assert.equal(h.received.toString(), 'new');
    assert.equal(h.stack.errors['paws'], 1);
  });

  for (const [what, flags, ack] of [
    ['an in-window RST', TCP_RST, 0],
    ['an in-window SYN', TCP_SYN, 0],
    ['a segment acknowledging unsent data', A, 5000],
  ] as const) {
    it(`${what} with a far-future TSval draws an ACK but does not set TS.Recent (RFC 7323 §5.3 R3 after R2)`, () => {
      const h = new TcpHarness();
      h.open({ ts: true });
      const tsGood = h.pTs + 1;
      h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'abcd', ts: h.ts(0) });
      assert.equal(h.advance(50)[0].ack, h.pseq(4), 'the delayed ACK: Last.ACK.sent = RCV.NXT');
      assert.equal(h.conn!.tsRecent >>> 0, tsGood);
      // In the window and covering RCV.NXT (starts 2 below it, at or below Last.ACK.sent, where
      // R3 would take its TSval), so it passes the window test and draws an ACK; its TSval lies
      // 2^30 ahead.
      const future = (h.pTs + 0x40000000) >>> 0;
      const out = h.in({ flags, seq: h.pseq(2), ack: h.seq(ack), data: 'cdXY', ts: [future, 0] });
      assert.equal(out.length, 1);
      assert.equal(out[0].flags, A);
      assert.equal(out[0].ack, h.pseq(4));
      assert.equal(out[0].tsEcr, tsGood, 'the ACK echoes the last accepted TSval');
      assert.equal(h.conn!.tsRecent >>> 0, tsGood);
      // Genuine segments afterwards still pass PAWS.
      h.in({ flags: A, seq: h.pseq(4), ack: h.seq(), data: 'efgh', ts: h.ts(0) });
      h.in({ flags: A, seq: h.pseq(8), ack: h.seq(), data: 'ijkl', ts: h.ts(0) });
      assert.equal(h.received.toString(), 'abcdefghijkl');
      assert.equal(h.stack.errors['paws'], undefined);
      assert.equal(state(h), 'ESTABLISHED');
    });
  }

  it('echoes the latest in-order TSval (TS.Recent, RFC 7323 §4.3)', () => {
    const h = new TcpHarness();
    h.open({ ts: true });
    h.onData = (c) => c.write(Buffer.from('r'));
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'q', ts: [123456, 0] });
    assert.equal(out[0].tsEcr, 123456);
  });
});

describe('challenge ACKs: one per connection per 500 ms, no stack-wide budget (RFC 5961 §7, CVE-2016-5696)', () => {
  /**
   * The attack from issue 9: an off-path host sends one spoofed in-window RST for connection A
   * (10.0.0.2:1111, which it cannot see), then many SYNs on its own connection B (port 2222) and
   * counts the challenge ACKs B draws. Returns that count.
   */
  function attack(spoofHit: boolean, synsOnB: number): number {
    const h = new TcpHarness();
    h.rport = 1111;
    h.pIsn = 1000;
    h.open();
    const aNxt = h.pseq();
    h.rport = 2222;
    h.pIsn = 900_000;
    h.open();
    const bNxt = h.pseq();
    if (spoofHit) {
      h.rport = 1111;
      const toA = h.in({ flags: TCP_RST, seq: aNxt + 100 });
      assert.equal(toA.length, 1, "A's challenge ACK goes to A's real peer");
      assert.equal(toA[0].dstPort, 1111);
    }
    h.rport = 2222;
    let seen = 0;
    for (let i = 0; i < synsOnB; i++) {
      for (const s of h.in({ flags: TCP_SYN, seq: bNxt + 10 + i })) if (s.dstPort === 2222 && s.flags === A) seen++;
    }
    return seen;
  }

  it("B's challenge ACKs do not depend on whether a spoofed RST hit A", () => {
    const hit = attack(true, 1000);
    const miss = attack(false, 1000);
    assert.equal(hit, miss, 'the count must not reveal the hit');
    assert.equal(hit, 1, 'one challenge ACK per 500 ms on B');
  });

  it('limits challenge ACKs per connection: one per invalidAckIntervalMs (500 ms)', () => {
    const h = new TcpHarness();
    h.open();
    for (let i = 0; i < 5; i++) h.in({ flags: TCP_RST, seq: h.pseq(100 + i) });
    assert.equal(h.stack.counters.challengeAcks, 1);
    assert.equal(h.stack.errors['challenge-ack-limit'], 4);
    h.now += 499;
    assert.deepEqual(h.in({ flags: TCP_SYN, seq: h.pseq(7) }), []);
    h.now += 1;
    const out = h.in({ flags: TCP_SYN, seq: h.pseq(7) });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(h.stack.counters.challengeAcks, 2);
  });

  it('out-of-window SYNs on an established connection draw at most one ACK per 500 ms (Linux: syn_challenge; review-tcp1 F1a)', () => {
    const h = new TcpHarness();
    h.open();
    let acks = 0;
    // far beyond the receive window: RFC 5961 §4.2 "regardless of the sequence number"
    for (let i = 0; i < 20; i++) acks += h.in({ flags: TCP_SYN, seq: h.pseq(10_000_000 + i) }).length;
    assert.equal(acks, 1, `20 spoofed out-of-window SYNs drew ${acks} ACKs`);
    assert.equal(h.stack.errors['syn-challenge'], 20);
    h.now += 500;
    assert.equal(h.in({ flags: TCP_SYN, seq: h.pseq(10_000_000) }).length, 1, 'one again after the interval');
  });

  it('PAWS-failing SYNs draw at most one ACK per 500 ms (review-tcp1 F1b)', () => {
    const h = new TcpHarness();
    h.open({ ts: true });
    let acks = 0;
    for (let i = 0; i < 20; i++) acks += h.in({ flags: TCP_SYN, seq: h.pseq(100 + i), ts: [h.pTs - 1000, 0] }).length;
    assert.equal(acks, 1, `20 PAWS-failing SYNs drew ${acks} ACKs`);
    assert.equal(state(h), 'ESTABLISHED');
  });

  it('an in-window challenge ACK and an out-of-window SYN 1 ms later share one budget (review-tcp1 F1c)', () => {
    const h = new TcpHarness();
    h.open();
    assert.equal(h.in({ flags: TCP_RST, seq: h.pseq(100) }).length, 1);
    h.now += 1;
    assert.equal(h.in({ flags: TCP_SYN, seq: h.pseq(10_000_000) }).length, 0);
  });

  it('out-of-window data without SYN still gets its ACK every time (Linux exempts it too)', () => {
    const h = new TcpHarness();
    h.open();
    let acks = 0;
    for (let i = 0; i < 3; i++) acks += h.in({ flags: A, seq: h.pseq(-100), ack: h.seq(), data: 'old' }).length;
    assert.equal(acks, 3);
  });

  it('unacceptable ACK values (too new, too old) draw rate-limited challenge ACKs, not one per segment (RFC 5961 §5.2; review-tcp1 F2)', () => {
    const h = new TcpHarness();
    h.open();
    let acks = 0;
    for (let i = 0; i < 20; i++) acks += h.in({ flags: A, seq: h.pseq(), ack: h.seq(100_000), data: 'x' }).length;
    assert.equal(acks, 1, `20 segments acknowledging unsent data drew ${acks} ACKs`);
    assert.equal(h.stack.errors['ack-too-new'], 20);
    h.now += 500;
    acks = 0;
    for (let i = 0; i < 20; i++) acks += h.in({ flags: A, seq: h.pseq(), ack: h.seq(-0x40000000), data: 'x' }).length;
    assert.equal(acks, 1, `20 segments with a far too old ACK drew ${acks} ACKs`);
    assert.equal(h.stack.errors['ack-too-old'], 20);
    assert.deepEqual(h.events, ['accept'], 'none of the data was taken');
  });

  it('the interval is a stack option', () => {
    const h = new TcpHarness({ invalidAckIntervalMs: 100 });
    h.open();
    h.in({ flags: TCP_RST, seq: h.pseq(100) });
    h.now += 100;
    assert.equal(h.in({ flags: TCP_RST, seq: h.pseq(100) }).length, 1);
    assert.equal(h.stack.counters.challengeAcks, 2);
  });
});

describe('tcp drop reasons as the management endpoint exports them (review-tcp1 H1/F8)', () => {
  // What /metrics shows for node tcp4-session (metrics.ts folds the source's private reasons).
  const exported = (h: TcpHarness): string => JSON.stringify(publicReasons(h.stack.errors, TCP_PRIVATE_REASONS).sort());

  it('does not depend on whether a spoofed RST hit the window; show errors still tells them apart', () => {
    const probe = (hit: boolean): TcpHarness => {
      const h = new TcpHarness();
      h.open();
      h.in({ flags: TCP_RST, seq: h.pseq(hit ? 1000 : 0x40000000) });
      return h;
    };
    const hit = probe(true);
    const miss = probe(false);
    assert.equal(exported(hit), exported(miss), 'the exported counters tell a hit (rst-challenge) from a miss (rst-out-of-window)');
    assert.equal(hit.stack.errors['rst-challenge'], 1);
    assert.equal(miss.stack.errors['rst-out-of-window'], 1);
  });

  it('nor on whether a spoofed SYN or ACK hit it, nor on whether the 4-tuple has a connection', () => {
    const probe = (kind: number): TcpHarness => {
      const h = new TcpHarness();
      h.open();
      if (kind === 0) h.in({ flags: TCP_SYN, seq: h.pseq(1000) });
      else if (kind === 1) h.in({ flags: A, seq: h.pseq(0x40000000), ack: h.seq() });
      else if (kind === 2) h.in({ flags: A, seq: h.pseq(), ack: h.seq(100_000) });
      else h.in({ flags: TCP_RST, seq: 1, srcPort: 1 + h.rport });
      return h;
    };
    const rows = [0, 1, 2, 3].map((k) => exported(probe(k)));
    for (const r of rows) assert.equal(r, rows[0]);
  });
});

describe('review r/metrics (8): private answers are exception-safe', () => {
  it('a throw in the output path while a private ACK or RST is written leaves nothing marked private, and public frames after it count as public', () => {
    for (const kind of ['challenge-ack', 'no-listener-rst'] as const) {
      const h = new TcpHarness();
      h.open();
      const sink = h.sink as unknown as { begin: (...a: unknown[]) => boolean };
      const begin = sink.begin.bind(h.sink);
      sink.begin = () => {
        throw new Error('injected failure');
      };
      assert.throws(() => (kind === 'challenge-ack' ? h.in({ flags: TCP_RST, seq: h.pseq(1000) }) : h.in({ flags: A, seq: 1, ack: 1, srcPort: 1 + h.rport })), /injected failure/);
      sink.begin = begin;
      assert.equal(h.stack.privateTx, false, `${kind}: the stack is not left private`);
      assert.equal((h.sink as { privateTx?: boolean }).privateTx ?? false, false, `${kind}: the sink is not left private`);
      const before = h.stack.counters.privateSegmentsOut;
      h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'x'.repeat(4000) }); // in order: a public ACK
      assert.equal(h.stack.counters.privateSegmentsOut, before, `${kind}: the next ACK is public`);
    }
  });
});
