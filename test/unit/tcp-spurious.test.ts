/**
 * The detectors of spurious retransmissions, as state machines: D-SACK recognition (RFC 2883 §4),
 * DSACK-based undo (RFC 3708), Eifel detection (RFC 3522) and F-RTO (RFC 5682, SACK-enhanced).
 * How the connection responds to them is tested segment by segment in tcp-undo.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DsackUndo, EifelDetector, FRTO_NONE, FRTO_REAL, FRTO_SEND_NEW, FRTO_SPURIOUS, Frto, isDsack } from '../../src/tcp/spurious.js';

describe('D-SACK recognition (RFC 2883 §4)', () => {
  it('a first block at or below the cumulative ACK is a D-SACK', () => {
    assert.equal(isDsack(5000, [3000, 4000], 1), true, 'below (§4.1.1: the duplicate of acknowledged data)');
    assert.equal(isDsack(5000, [4000, 5000], 1), true, 'ending at the ACK');
    assert.equal(isDsack(5000, [6000, 7000], 1), false, 'above: an ordinary SACK block');
  });

  it('a first block inside the second is a D-SACK (§4.1.2: a duplicate of out-of-order data)', () => {
    assert.equal(isDsack(5000, [7000, 8000, 6000, 9000], 2), true);
    assert.equal(isDsack(5000, [7000, 8000, 9000, 10000], 2), false, 'disjoint blocks');
    assert.equal(isDsack(5000, [7000, 9500, 6000, 9000], 2), false, 'overlapping but not inside');
  });

  it('works across the sequence wrap, and ignores empty or missing blocks', () => {
    assert.equal(isDsack(0x100, [0xffffff00, 0x50], 1), true, 'below an ACK that wrapped');
    assert.equal(isDsack(0xffffff00, [0x10, 0x20], 1), false, 'above, across the wrap');
    assert.equal(isDsack(5000, [4000, 4000], 1), false, 'empty block');
    assert.equal(isDsack(5000, [], 0), false);
  });
});

describe('DSACK-based undo (RFC 3708)', () => {
  it('declares the episode spurious when every retransmission came back as a duplicate', () => {
    const u = new DsackUndo();
    u.begin(1000);
    u.onRetransmit();
    u.onRetransmit();
    assert.equal(u.onDsack(1000, 2000, 1), false, 'one of two');
    assert.equal(u.onDsack(2000, 3000, 1), true, 'both: spurious');
    assert.equal(u.active, false, 'judged once');
    assert.equal(u.onDsack(3000, 4000, 1), false);
  });

  it('ignores D-SACKs for data below the episode (older duplicates) and episodes without retransmissions', () => {
    const u = new DsackUndo();
    u.begin(10_000);
    assert.equal(u.onDsack(10_000, 11_000, 1), false, 'nothing retransmitted yet');
    u.onRetransmit();
    assert.equal(u.onDsack(8000, 9000, 1), false, 'below the marker: an old duplicate');
    assert.equal(u.retrans, 1);
    assert.equal(u.onDsack(9000, 11_000, 2), true, 'ending above the marker counts');
  });

  it('a retransmission that was needed (never reported twice) keeps the episode genuine', () => {
    const u = new DsackUndo();
    u.begin(0);
    for (let i = 0; i < 3; i++) u.onRetransmit();
    assert.equal(u.onDsack(0, 1000, 1), false);
    assert.equal(u.onDsack(1000, 2000, 1), false);
    u.end();
    assert.equal(u.onDsack(2000, 3000, 1), false, 'the episode was closed');
    u.onRetransmit();
    assert.equal(u.retrans, 1, 'no counting outside an episode');
  });
});

describe('Eifel detection (RFC 3522)', () => {
  it('an ACK echoing a timestamp older than the retransmission means the original arrived', () => {
    const e = new EifelDetector();
    e.onRetransmit(500);
    e.onRetransmit(700); // only the first retransmission of the episode counts
    assert.equal(e.waiting, true);
    assert.equal(e.onAck(300), true, 'TSecr 300 < 500: spurious');
    assert.equal(e.waiting, false);
  });

  it('an ACK echoing the retransmission (or later) is genuine; equal values are not judged spurious', () => {
    const e = new EifelDetector();
    e.onRetransmit(500);
    assert.equal(e.onAck(500), false, 'same millisecond: cannot tell, conservative');
    e.reset();
    e.onRetransmit(500);
    assert.equal(e.onAck(800), false);
    assert.equal(e.onAck(100), false, 'disarmed after the first acceptable ACK');
    e.onRetransmit(900);
    assert.equal(e.waiting, false, 'later retransmissions of the same episode are not judged (§3.2)');
    e.reset();
    e.onRetransmit(900);
    assert.equal(e.onAck(850), true, 'a new episode is');
  });

  it('compares timestamps modulo 2^32 and ignores a zero echo', () => {
    const e = new EifelDetector();
    e.onRetransmit(0x10);
    assert.equal(e.onAck(0xfffffff0), true, 'older across the wrap');
    e.reset();
    e.onRetransmit(0x10);
    assert.equal(e.onAck(0), false);
  });
});

describe('F-RTO (RFC 5682, SACK-enhanced)', () => {
  it('spurious when never-retransmitted data is acknowledged after the timeout (step 3b)', () => {
    const f = new Frto();
    f.onTimeout(1000, 20_000, false);
    assert.equal(f.active, true);
    assert.equal(f.recoveryPoint, 20_000);
    // The ACK of the retransmitted first segment also covers data sent before the RTO.
    assert.equal(f.onAck(15_000, true, true, false, true), FRTO_SPURIOUS);
    assert.equal(f.active, false);
  });

  it('step 2b: a new ACK short of the recovery point sends new data; then an ACK of it means spurious', () => {
    const f = new Frto();
    f.onTimeout(1000, 20_000, false);
    assert.equal(f.onAck(2000, false, false, true, true), FRTO_NONE, 'duplicate before the retransmission is acknowledged: wait');
    assert.equal(f.onAck(2000, true, false, false, true), FRTO_SEND_NEW, 'only the retransmission acknowledged');
    assert.equal(f.onAck(2000, false, true, true, true), FRTO_SPURIOUS, 'the new segments (never retransmitted) SACKed');
  });

  it('step 3a: a duplicate ACK after the new data means the loss was real', () => {
    const f = new Frto();
    f.onTimeout(1000, 20_000, false);
    f.onAck(2000, true, false, false, true);
    assert.equal(f.onAck(2000, false, false, false, true), FRTO_NONE, 'nothing new: wait');
    assert.equal(f.onAck(2000, false, false, true, true), FRTO_REAL);
    assert.equal(f.active, false);
  });

  it('step 2a: the ACK covers the recovery point (only retransmitted data was outstanding); 2b without new data', () => {
    const f = new Frto();
    f.onTimeout(1000, 3000, false);
    assert.equal(f.onAck(3000, true, false, false, true), FRTO_REAL);
    f.onTimeout(5000, 9000, false);
    assert.equal(f.onAck(6000, true, false, false, false), FRTO_REAL, 'nothing new to send: conventional recovery');
  });

  it('step 1: no F-RTO for a timeout during an RTO recovery short of its recovery point, or for a second timeout', () => {
    const f = new Frto();
    f.onTimeout(1000, 20_000, false);
    f.onTimeout(1000, 20_000, true); // the retransmission timed out again
    assert.equal(f.active, false);
    assert.equal(f.onAck(20_000, true, true, false, true), FRTO_NONE);
    f.onTimeout(1000, 20_000, true); // still in the same RTO recovery (recovery point 20000 ≥ SND.UNA)
    assert.equal(f.active, false);
    f.onTimeout(25_000, 30_000, true); // the old recovery point is below SND.UNA: a new episode
    assert.equal(f.active, true);
  });
});
