/**
 * The sequence helpers (src/tcp/seq.ts) at the wrap points: TCP holds sequence numbers and
 * timestamps as int32s, so 2^31 - 1 → 2^31 is where the stored value changes sign and 2^32 → 0
 * where the unsigned (wire) value wraps. The comparisons must not notice either, and a value must
 * survive the trip wire → int32 → wire whichever form it arrived in.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  readSeq,
  seqAdd,
  seqDiff,
  seqGeq,
  seqGt,
  seqI32,
  seqLeq,
  seqLt,
  seqMax,
  seqMin,
  seqSub,
  seqU32,
  writeSeq,
} from '../../src/tcp/seq.js';
import { parseTcpOptions, TcpParsedOptions, writeOptSack, writeOptTimestamp, writeTcpHeader } from '../../src/wire/tcp.js';

const TWO31 = 2 ** 31;
const TWO32 = 2 ** 32;
/** Unsigned points around both wraps. */
const POINTS = [0, 1, 1000, TWO31 - 2, TWO31 - 1, TWO31, TWO31 + 1, TWO32 - 2, TWO32 - 1];

describe('tcp sequence helpers at 2^31 and 2^32', () => {
  it('seqAdd and seqSub give int32s (small integers) across both wraps', () => {
    for (const u of POINTS) {
      const a = seqI32(u);
      assert.ok(a >= -TWO31 && a < TWO31 && Number.isInteger(a), `${u} → ${a}`);
      assert.equal(seqU32(a), u, 'seqU32 undoes seqI32');
      for (const n of [1, 2, 1460, 65535, 0x7fffffff]) {
        const s = seqAdd(a, n);
        assert.ok(s >= -TWO31 && s < TWO31, `seqAdd(${u}, ${n}) = ${s} is an int32`);
        assert.equal(seqU32(s), (u + n) % TWO32, `seqAdd(${u}, ${n}) is the unsigned sum mod 2^32`);
        assert.equal(seqSub(s, n), a, 'seqSub undoes seqAdd');
      }
    }
    assert.equal(seqAdd(0x7fffffff, 1), -TWO31, '2^31 - 1 + 1: the int32 changes sign');
    assert.equal(seqAdd(-1, 1), 0, '2^32 - 1 + 1 wraps to 0');
    assert.equal(seqSub(0, 1), -1, '0 - 1 is 2^32 - 1');
  });

  it('comparisons and the signed distance see a + n after a, whichever form a comes in', () => {
    for (const u of POINTS) {
      for (const a of [u, seqI32(u)]) {
        for (const n of [1, 1460, 0x7fffffff]) {
          const b = seqAdd(a, n);
          assert.ok(seqLt(a, b) && seqLeq(a, b) && seqGt(b, a) && seqGeq(b, a), `${u} < ${u} + ${n}`);
          assert.ok(!seqLt(b, a) && !seqGt(a, b), `not ${u} + ${n} < ${u}`);
          assert.equal(seqDiff(b, a), n);
          assert.equal(seqDiff(a, b), -n);
          // The unsigned figure of b compares the same (the helpers take both forms).
          assert.ok(seqLt(a, seqU32(b)) && seqGt(seqU32(b), a));
          assert.equal(seqMax(a, b), b);
          assert.equal(seqMin(a, b), a);
        }
        assert.ok(seqLeq(a, a) && seqGeq(a, a) && !seqLt(a, a) && !seqGt(a, a));
      }
    }
    // Both forms of one number are the same sequence number.
    assert.equal(seqDiff(TWO32 - 1, -1), 0);
    assert.ok(seqLeq(TWO31, -TWO31) && seqGeq(TWO31, -TWO31));
  });

  it('readSeq/writeSeq: the wire keeps the unsigned figure, the stack gets the int32', () => {
    const b = Buffer.alloc(8);
    for (const u of POINTS) {
      for (const v of [u, seqI32(u)]) {
        b.fill(0);
        writeSeq(b, 2, v);
        assert.equal(b.readUInt32BE(2), u, `${v} written as ${u}`);
        assert.equal(readSeq(b, 2), seqI32(u));
      }
    }
  });

  it('the header and option writers and the option parser round-trip values on both sides of 2^31', () => {
    const b = Buffer.alloc(60);
    const seq = TWO31 + 5;
    const ack = TWO32 - 3;
    writeTcpHeader(b, 0, 1234, 80, seqI32(seq), ack, 44, 0x10, 1000);
    assert.equal(b.readUInt32BE(4), seq);
    assert.equal(b.readUInt32BE(8), ack);
    let p = writeOptTimestamp(b, 20, seqI32(TWO31 - 1), TWO31);
    p = writeOptSack(b, p, Int32Array.of(seqI32(TWO32 - 10), 5, seqI32(TWO31), seqI32(TWO31 + 100)), 2);
    assert.equal(p, 52);
    const o = new TcpParsedOptions();
    assert.equal(parseTcpOptions(b, 0, 52, o), 0);
    assert.equal(o.tsVal, TWO31 - 1);
    assert.equal(o.tsEcr, -TWO31, 'int32 form');
    assert.equal(seqU32(o.tsEcr), TWO31);
    assert.deepEqual([...o.sack.subarray(0, 4)].map(seqU32), [TWO32 - 10, 5, TWO31, TWO31 + 100]);
    assert.ok(seqLt(o.sack[0], o.sack[1]), 'a SACK block across 2^32 is not empty');
    assert.ok(seqLt(o.sack[2], o.sack[3]), 'a SACK block across 2^31 is not empty');
  });
});
