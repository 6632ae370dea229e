/**
 * Sequence-number wrap (RFC 9293 §3.4: all sequence arithmetic is modulo 2^32): a connection
 * whose ISN lies just below a wrap point sends 10 MB through it, with losses around it repaired
 * by SACK retransmissions, and receives 1 MB from a peer whose ISN is just below it too. Two wrap
 * points: 2^32, where the unsigned (wire) value wraps to 0, and 2^31, where TCP's stored int32
 * changes sign (src/tcp/seq.ts: TCP holds sequence numbers as int32s).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_FIN } from '../../src/wire/tcp.js';
import { type DecodedSegment, TcpHarness } from '../../src/tcp/testing.js';

const A = TCP_ACK;

/** Deterministic bytes, so that a misplaced segment shows. */
function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = 0x12345678;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** a - b as a signed 32-bit distance. */
const dist = (a: number, b: number): number => (a - b) | 0;

const WRAPS = [
  { name: '2^32', top: 0xffffffff },
  { name: '2^31', top: 0x7fffffff },
];

describe('tcp sequence wrap', () => {
  for (const { name, top } of WRAPS) {
    it(`a connection with its ISN just below ${name} sends 10 MB intact through the wrap, repairing losses there`, () => {
      const ISN = top - 20_000;
      const h = new TcpHarness({ isnFor: () => ISN });
      h.open({ ts: true, sackOk: true, wscale: 7, window: 65535 });
      assert.equal(h.iss, ISN, 'the injected ISN was used');
      const total = 10 * 1024 * 1024;
      const data = pattern(total);
      const c = h.conn!;
      c.write(data);
      c.end();

      // The peer: in-order data is appended, out-of-order data kept; every data segment is ACKed
      // with SACK blocks. First transmissions of the segments starting in `drop` (byte offsets from
      // the ISN, around the wrap at offset ~20 k) are lost.
      const drop = new Set([1 + 2 * 1448 * 5, 1 + 1448 * 14, 1 + 1448 * 15, 1 + 1448 * 40]);
      const seen = new Set<number>();
      const parts: Buffer[] = [];
      let got = 0;
      let rcvNxt = h.seq();
      let finAt = -1;
      const ooo = new Map<number, Buffer>();
      let pending: DecodedSegment[] = h.flush();
      let rounds = 0;
      while (finAt === -1 || dist(rcvNxt, finAt) <= 0) {
        assert.ok(++rounds < 100_000, 'transfer makes progress');
        if (pending.length === 0) {
          // Nothing in flight reached us: let the stack's timers (TLP, RTO) act.
          const d = h.stack.nextDeadline();
          assert.notEqual(d, Infinity, 'a timer is armed while data is missing');
          pending = h.advance(d - h.now);
          continue;
        }
        const next: DecodedSegment[] = [];
        for (const s of pending) {
          const len = s.payload.length + ((s.flags & TCP_FIN) !== 0 ? 1 : 0);
          if (len === 0) continue;
          const off = dist(s.seq, ISN);
          if (drop.has(off) && !seen.has(off)) {
            seen.add(off);
            continue;
          }
          if ((s.flags & TCP_FIN) !== 0) finAt = (s.seq + s.payload.length) >>> 0;
          if (s.payload.length > 0 && dist(s.seq + s.payload.length, rcvNxt) > 0) ooo.set(s.seq, s.payload);
          // Pull in-order data (trimming overlaps with what we have).
          for (let moved = true; moved; ) {
            moved = false;
            for (const [q, p] of ooo) {
              const end = (q + p.length) >>> 0;
              if (dist(end, rcvNxt) <= 0) {
                ooo.delete(q);
                moved = true;
              } else if (dist(q, rcvNxt) <= 0) {
                const piece = p.subarray(dist(rcvNxt, q));
                parts.push(piece);
                got += piece.length;
                rcvNxt = end;
                ooo.delete(q);
                moved = true;
              }
            }
          }
          if (finAt !== -1 && rcvNxt === finAt) rcvNxt = (rcvNxt + 1) >>> 0;
          // SACK blocks: the out-of-order ranges, merged, at most 3 (with timestamps).
          const ranges = [...ooo].map(([q, p]) => [q, (q + p.length) >>> 0] as [number, number]);
          ranges.sort((x, y) => dist(x[0], y[0]));
          const sack: [number, number][] = [];
          for (const r of ranges) {
            const last = sack[sack.length - 1];
            if (last !== undefined && dist(r[0], last[1]) <= 0) {
              if (dist(r[1], last[1]) > 0) last[1] = r[1];
            } else sack.push([r[0], r[1]]);
          }
          next.push(
            ...h.in({ flags: A, seq: h.pseq(), ack: rcvNxt, ts: h.ts(s.tsVal!), sack: sack.slice(0, 3), window: 65535 }, false),
          );
        }
        pending = next.concat(h.flush());
      }
      assert.equal(got, total);
      assert.ok(Buffer.concat(parts).equals(data), '10 MB arrived byte-exact');
      assert.equal(seen.size, drop.size, 'every planned loss happened');
      assert.ok(h.stack.counters.retransmits >= drop.size, 'the losses were repaired by retransmissions');
      assert.equal(c.sndUna >>> 0, (ISN + 1 + total + 1) >>> 0, 'everything, FIN included, acknowledged');
      assert.ok(top === 0xffffffff ? c.sndUna >>> 0 < ISN : c.sndUna < 0, `the send sequence space passed ${name}`);
    });

    it(`receives 1 MB from a peer whose ISN is just below ${name}`, () => {
      const h = new TcpHarness();
      h.pIsn = top - 3000;
      h.open({ ts: true, sackOk: true });
      const total = 1024 * 1024;
      const data = pattern(total);
      const chunks: Buffer[] = [];
      h.onData = (_c, d) => chunks.push(d);
      h.received = Buffer.alloc(0);
      // Segments arrive with every 7th held back and delivered after the next one (reordering).
      let held: { off: number; len: number } | undefined;
      const send = (off: number, len: number): void => {
        h.in({ flags: A, seq: h.pseq(off), ack: h.seq(), data: data.subarray(off, off + len), ts: h.ts(0) }, false);
      };
      let i = 0;
      for (let off = 0; off < total; off += 1460, i++) {
        const len = Math.min(1460, total - off);
        if (i % 7 === 3) {
          held = { off, len };
          continue;
        }
        send(off, len);
        if (held !== undefined) {
          send(held.off, held.len);
          held = undefined;
        }
        h.flush();
      }
      if (held !== undefined) send(held.off, held.len);
      h.flush();
      assert.ok(Buffer.concat(chunks).equals(data), '1 MB delivered in order, byte-exact');
      assert.equal(h.conn!.rcvNxt >>> 0, h.pseq(total));
      assert.ok(top === 0xffffffff ? h.conn!.rcvNxt >>> 0 < h.pIsn : h.conn!.rcvNxt < 0, `the receive sequence space passed ${name}`);
    });
  }
});
