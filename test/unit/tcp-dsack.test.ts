/**
 * D-SACK as a receiver (RFC 2883, src/tcp/dsack.ts): the examples 1-5 of RFC 2883 §4 played
 * against our stack, Linux's answers where the RFC has no example (a partial overlap with held
 * data, a keepalive's garbage byte), the rules (only with SACK, one report per duplicate, the
 * block limit), and our own sender recognising our D-SACKs (spurious.ts isDsack, RFC 3708 undo).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK } from '../../src/wire/tcp.js';
import { MemorySink, TcpHarness, type DecodedSegment } from '../../src/tcp/testing.js';
import { isDsack } from '../../src/tcp/spurious.js';
import { download } from '../helpers/tcp-pair.js';

const A = TCP_ACK;

/** A sink that takes super-segments (GSO) and records each segment's piece size (0: a plain segment). */
class GsoSink extends MemorySink {
  readonly gso = true;
  readonly pieces: number[] = [];
  override begin(localIp: number, remoteIp: number, large?: boolean): boolean {
    this.room = large === true ? 60_000 : 1480;
    return super.begin(localIp, remoteIp);
  }
  override end(tcpLen: number, segSize = 0): void {
    this.pieces.push(segSize);
    super.end(tcpLen);
  }
}

/**
 * A connection with SACK (and timestamps unless ts = false) whose peer's sequence numbers are
 * written as in RFC 2883's examples: `base` is the first byte of data the peer sends.
 */
function receiver(base: number, o: { sack?: boolean; ts?: boolean; sink?: MemorySink } = {}) {
  const h = new TcpHarness(undefined, true, o.sink);
  const ts = o.ts ?? true;
  h.open({ sackOk: o.sack ?? true, ts });
  const at = (x: number): number => h.pseq(x - base);
  /** The peer sends bytes [from, to) (the RFC's "from-(to-1)"); returns our answers. */
  const seg = (from: number, to: number): DecodedSegment[] =>
    h.in({ flags: A, seq: at(from), ack: h.seq(), data: Buffer.alloc(to - from, from & 0xff), ts: ts ? h.ts(0) : undefined });
  /** The ACK that answered, as the RFC writes it: "ack, SACK=a-b, c-d" (relative to `base`). */
  const said = (out: DecodedSegment[]): string => {
    assert.ok(out.length > 0, 'no answer');
    const s = out[out.length - 1];
    const rel = (x: number): number => ((x - at(base)) | 0) + base;
    return [String(rel(s.ack)), ...s.sack.map(([a, b]) => `${rel(a)}-${rel(b)}`)].join(', ');
  };
  /** Whether our sender would take the answer's first block for a D-SACK (spurious.ts). */
  const recognised = (out: DecodedSegment[]): boolean => {
    const s = out[out.length - 1];
    return isDsack(s.ack, s.sack.flat(), s.sack.length);
  };
  return { h, seg, said, recognised };
}

describe('tcp D-SACK as a receiver (RFC 2883 §4 and its examples 1-5)', () => {
  it('example 1: a duplicate segment below the cumulative ACK', () => {
    const { h, seg, said, recognised } = receiver(3000);
    seg(3000, 3500);
    seg(3500, 4000); // (the RFC's ACKs of these are lost)
    const out = seg(3000, 3500);
    assert.equal(said(out), '4000, 3000-3500');
    assert.ok(recognised(out));
    assert.equal(h.stack.counters.dsacksOut, 1);
  });

  it('example 2: a duplicate segment, then the out-of-order block', () => {
    const { seg, said, recognised } = receiver(3000);
    seg(3000, 3500);
    seg(3500, 4000);
    assert.equal(said(seg(4500, 5000)), '4000, 4500-5000');
    const out = seg(3000, 3500);
    assert.equal(said(out), '4000, 3000-3500, 4500-5000');
    assert.ok(recognised(out));
  });

  it('example 3: a duplicate of an out-of-order segment, then the block containing it', () => {
    const { seg, said, recognised } = receiver(3500);
    seg(3500, 4000);
    assert.equal(said(seg(4500, 5000)), '4000, 4500-5000');
    assert.equal(said(seg(5000, 5500)), '4000, 4500-5500');
    const out = seg(5000, 5500);
    assert.equal(said(out), '4000, 5000-5500, 4500-5500');
    assert.ok(recognised(out), 'inside the second block');
  });

  it('example 4: a single duplicate subsegment', () => {
    const { seg, said, recognised } = receiver(500);
    seg(500, 1000);
    assert.equal(said(seg(2000, 2500)), '1000, 2000-2500');
    assert.equal(said(seg(1000, 1500)), '1500, 2000-2500');
    const out = seg(1000, 2000);
    assert.equal(said(out), '2500, 1000-1500');
    assert.ok(recognised(out));
  });

  it('example 5: two non-contiguous duplicate subsegments: only the first is reported', () => {
    const { seg, said, recognised } = receiver(500);
    seg(500, 1000);
    assert.equal(said(seg(3000, 3500)), '1000, 3000-3500');
    assert.equal(said(seg(1000, 1500)), '1500, 3000-3500');
    assert.equal(said(seg(2000, 2500)), '1500, 2000-2500, 3000-3500');
    const out = seg(1000, 2500);
    assert.equal(said(out), '2500, 1000-1500, 3000-3500');
    assert.ok(recognised(out));
  });

  it('a segment overlapping the start of held data: the overlap, then the merged block (Linux)', () => {
    const { seg, said, recognised } = receiver(3500);
    seg(3500, 4000);
    assert.equal(said(seg(4500, 5000)), '4000, 4500-5000');
    const out = seg(4700, 5200);
    assert.equal(said(out), '4000, 4700-5000, 4500-5200');
    assert.ok(recognised(out));
  });

  it('an in-order segment that brings held data again: contiguous duplicates make one block', () => {
    const { seg, said } = receiver(1000);
    seg(1000, 1500);
    assert.equal(said(seg(2000, 2500)), '1500, 2000-2500');
    // Old 1000-1500 and held 2000-2500 are not contiguous: the first is reported (example 5).
    assert.equal(said(seg(1000, 3000)), '3000, 1000-1500');
    assert.equal(said(seg(3500, 4000)), '3000, 3500-4000');
    // New 3000-3500 and held 3500-4000: the held part is the duplicate.
    assert.equal(said(seg(3000, 4500)), '4500, 3500-4000');
  });

  it('a keepalive with one garbage byte (RCV.NXT - 1) gets a D-SACK for that byte, as from Linux', () => {
    const { seg, said } = receiver(1000);
    seg(1000, 1010);
    assert.equal(said(seg(1009, 1010)), '1010, 1009-1010');
  });

  it('each duplicate is reported once: the next ACK carries only the SACK blocks', () => {
    const { h, seg, said } = receiver(3000);
    seg(3000, 3500);
    seg(3500, 4000);
    assert.equal(said(seg(4500, 5000)), '4000, 4500-5000');
    assert.equal(said(seg(3000, 3500)), '4000, 3000-3500, 4500-5000');
    assert.equal(said(seg(5500, 6000)), '4000, 5500-6000, 4500-5000');
    assert.equal(h.stack.counters.dsacksOut, 1);
  });

  it('rides on the next data segment when the ACK was delayed', () => {
    const { h, seg, said } = receiver(3000);
    seg(3000, 3500);
    seg(3500, 4000);
    assert.equal(said(h.advance(200)), '4000', 'the delayed ACK');
    // Old 3800-4000 and new 4000-4200: the new data's ACK may wait (delayed ACK).
    assert.deepEqual(seg(3800, 4200), []);
    h.conn!.write(Buffer.alloc(100, 1));
    const out = h.flush();
    assert.equal(out.length, 1);
    assert.equal(out[0].payload.length, 100);
    assert.equal(said(out), '4200, 3800-4000');
    h.conn!.write(Buffer.alloc(100, 1));
    assert.equal(said(h.flush()), '4200', 'reported once');
  });

  it('is not copied onto every piece of a super-segment: the segment carrying it is a plain one', () => {
    const sink = new GsoSink();
    const { h, seg, said } = receiver(3000, { sink });
    seg(3000, 3500);
    seg(3500, 4000);
    h.advance(200);
    assert.deepEqual(seg(3800, 4200), []);
    h.conn!.write(Buffer.alloc(20_000, 1));
    sink.pieces.length = 0;
    const out = h.flush();
    assert.equal(said(out.slice(0, 1)), '4200, 3800-4000');
    assert.equal(sink.pieces[0], 0, 'the first data segment, with the D-SACK, is plain');
    assert.ok(sink.pieces.slice(1).some((p) => p > 0), `super-segments follow: ${sink.pieces}`);
    assert.ok(out.slice(1).every((s) => s.sack.length === 0));
  });

  it('a duplicate answered at once is not repeated on the data that follows', () => {
    const { h, seg } = receiver(3000);
    seg(3000, 3500);
    seg(3500, 4000);
    h.conn!.write(Buffer.alloc(100, 1));
    const out = seg(3000, 3500);
    assert.deepEqual(
      out.map((s) => [s.payload.length, s.sack.length]),
      [
        [0, 1],
        [100, 0],
      ],
    );
  });

  it('only when SACK was negotiated', () => {
    const { h, seg, said } = receiver(3000, { sack: false });
    seg(3000, 3500);
    seg(3500, 4000);
    assert.equal(said(seg(3000, 3500)), '4000');
    assert.equal(said(seg(4500, 5000)), '4000');
    assert.equal(said(seg(4500, 5000)), '4000');
    assert.equal(h.stack.counters.dsacksOut, 0);
  });

  it('with timestamps 3 blocks in all (the D-SACK and 2), without them 4', () => {
    for (const ts of [true, false]) {
      const { seg, said } = receiver(1000, { ts });
      seg(1000, 1100);
      for (const x of [1200, 1400, 1600, 1800]) seg(x, x + 100);
      const want = ts ? '1100, 1800-1900, 1800-1900, 1600-1700' : '1100, 1800-1900, 1800-1900, 1600-1700, 1400-1500';
      assert.equal(said(seg(1800, 1900)), want, ts ? 'timestamps' : 'no timestamps');
    }
  });

  it('a duplicate dropped by PAWS (an old TSval) is still reported (RFC 2883: whatever PAWS decides; Linux too)', () => {
    const { h, said } = receiver(1000);
    h.in({ flags: A, seq: h.pseq(0), ack: h.seq(), data: Buffer.alloc(100), ts: h.ts(0) });
    h.in({ flags: A, seq: h.pseq(100), ack: h.seq(), data: Buffer.alloc(100), ts: h.ts(0) });
    const out = h.in({ flags: A, seq: h.pseq(0), ack: h.seq(), data: Buffer.alloc(100), ts: [h.pTs - 1000, 0] });
    assert.equal(h.stack.errors['paws'], 1);
    assert.equal(said(out), '1200, 1000-1100');
  });

  it('our sender undoes a spurious fast retransmit from our receiver\'s D-SACK (RFC 3708; no timestamps, so Eifel cannot)', () => {
    for (const seed of [1, 2, 3]) {
      // One data segment of the server's, the 30th, is held back 60 ms (RTT 20 ms): the segments
      // after it are SACKed, RACK retransmits it, and the later of the two copies is a duplicate.
      let dataSeen = 0;
      const r = download(
        {
          delay: 10,
          seed,
          shape: ({ toB, bytes }) => {
            if (toB || bytes.length - (bytes[12] >> 4) * 4 === 0) return 0;
            return ++dataSeen === 30 ? 60 : 0;
          },
        },
        200_000,
        { timestamps: false },
      );
      assert.ok(r.got.equals(r.data), `seed ${seed}: intact`);
      const c = r.net.b.counters;
      assert.ok(c.retransmits >= 1, `seed ${seed}: the held segment was retransmitted`);
      assert.equal(c.undoDsack, 1, `seed ${seed}: undone by D-SACK (retransmits ${c.retransmits}, undo eifel/frto ${c.undoEifel}/${c.undoFrto})`);
    }
  });
});
