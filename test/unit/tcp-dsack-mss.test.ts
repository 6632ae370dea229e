/**
 * Regression test from review r/tcp2 (fixed on h/tcpfix2): a D-SACK owed while the connection sends super-segments turns the super-segment
 * into a "plain" one (output.ts transmit), but the length asked for stays SUPER_SEGMENT_MAX, so
 * the plain segment is cut only by the sink's frame room (MTU), not by SND.MSS. A peer that
 * announced a smaller MSS (536, 1220 through a tunnel, a clamped 1360...) gets a segment larger
 * than its MSS (RFC 9293 §3.7.1 MUST-? "the size of a segment MUST NOT exceed SND.MSS"), and the
 * send log keeps it as one record, so every retransmission is oversized again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK } from '../../src/wire/tcp.js';
import { MemorySink, TcpHarness } from '../../src/tcp/testing.js';

class GsoSink extends MemorySink {
  readonly gso = true;
  override begin(localIp: number, remoteIp: number, large?: boolean): boolean {
    this.room = large === true ? 60_000 : 1480;
    return super.begin(localIp, remoteIp);
  }
  override end(tcpLen: number, _segSize = 0): void {
    super.end(tcpLen);
  }
}

describe('review: D-SACK on a GSO connection and the peer MSS', () => {
  it('never sends a segment larger than the MSS the peer announced', () => {
    const sink = new GsoSink();
    const h = new TcpHarness(undefined, true, sink);
    h.open({ mss: 536, sackOk: true, ts: true, window: 65535, wscale: 7 });
    const c = h.conn!;
    assert.ok(c.sndMss <= 536, `sndMss ${c.sndMss}`);
    // The peer sends data, then sends it again (its ACK from us was lost): we owe a D-SACK.
    h.in({ flags: TCP_ACK, seq: h.pseq(), ack: h.seq(), data: Buffer.alloc(500, 1), ts: h.ts(0) });
    h.in({ flags: TCP_ACK, seq: h.pseq(500), ack: h.seq(), data: Buffer.alloc(500, 1), ts: h.ts(0) });
    h.advance(200);
    // RFC 2883 example 1: old 800-1000 and new 1000-1200; the new data's ACK is delayed.
    assert.deepEqual(h.in({ flags: TCP_ACK, seq: h.pseq(800), ack: h.seq(), data: Buffer.alloc(400, 1), ts: h.ts(0) }), []);
    // Meanwhile the application writes a bulk response: the same flush sends it.
    c.write(Buffer.alloc(20_000, 2));
    const out = h.flush();
    const sizes = out.map((s) => s.payload.length);
    const withDsack = out.filter((s) => s.sack.length > 0).map((s) => s.payload.length);
    assert.ok(withDsack.length > 0, 'a D-SACK went out');
    // Super-segments are cut by the device into pieces of sndMss; a plain segment must itself be <= sndMss.
    for (const n of withDsack) assert.ok(n <= c.sndMss, `plain segment carrying the D-SACK has ${n} bytes > SND.MSS ${c.sndMss} (sizes ${sizes.join(',')})`);
  });
});

describe('review: the oversized segment is kept as one record', () => {
  it('its retransmission after an RTO is oversized again (a black hole on a path whose MTU fits only the MSS)', () => {
    const sink = new GsoSink();
    const h = new TcpHarness(undefined, true, sink);
    h.open({ mss: 536, sackOk: true, ts: true, window: 65535, wscale: 7 });
    const c = h.conn!;
    h.in({ flags: TCP_ACK, seq: h.pseq(), ack: h.seq(), data: Buffer.alloc(500, 1), ts: h.ts(0) });
    h.in({ flags: TCP_ACK, seq: h.pseq(500), ack: h.seq(), data: Buffer.alloc(500, 1), ts: h.ts(0) });
    h.advance(200);
    h.in({ flags: TCP_ACK, seq: h.pseq(800), ack: h.seq(), data: Buffer.alloc(400, 1), ts: h.ts(0) });
    c.write(Buffer.alloc(1436, 2)); // exactly what the first plain segment takes
    const first = h.flush();
    assert.ok(first[0].payload.length <= c.sndMss, `first segment ${first[0].payload.length} > SND.MSS ${c.sndMss}`);
    // Nothing is acknowledged (the path dropped the oversized frame): timeouts.
    const rtx = h.runFor(3000).filter((x) => x.s.payload.length > 0).map((x) => x.s.payload.length);
    assert.ok(rtx.length > 0, 'retransmitted');
    for (const n of rtx) assert.ok(n <= c.sndMss, `retransmission of ${n} bytes > SND.MSS ${c.sndMss} (${rtx.join(',')})`);
  });
});
