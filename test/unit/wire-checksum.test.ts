/** RFC 1071 checksum against known vectors and against an independent implementation. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { finish, internetChecksum, pseudoHeaderSum, sumBytePairs, sumIpv4Header, sumWords } from '../../src/wire/checksum.js';
import { tryLoadAddon } from '../../src/wire/addon.js';
import { checksum as reference, ip } from '../helpers/frames.js';
import { Rng } from '../helpers/prng.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('wire/checksum', () => {
  it('the addon (long ranges), the byte-pair loop and the unrolled IPv4 sum agree with the reference at every length, offset and start value', () => {
    assert.ok(tryLoadAddon() !== undefined, 'the addon is built (make build), so the native path is what is tested');
    const rng = new Rng(12);
    const buf = Buffer.alloc(70000);
    for (let i = 0; i < buf.length; i++) buf[i] = rng.int(256);
    for (let t = 0; t < 3000; t++) {
      const len = t < 200 ? t : rng.int(t % 2 === 0 ? 1600 : 66000);
      const off = rng.int(buf.length - len);
      const initial = t % 3 === 0 ? 0 : rng.int(0x3ffff);
      const want = finish(sumBytePairs(buf, off, len, initial));
      assert.equal(finish(sumWords(buf, off, len, initial)), want, `len ${len} off ${off} initial ${initial}`);
      if (initial === 0) assert.equal(internetChecksum(buf, off, len), reference(buf.subarray(off, off + len)), `len ${len} off ${off}`);
    }
    for (let off = 0; off < 64; off++) assert.equal(finish(sumIpv4Header(buf, off)), finish(sumBytePairs(buf, off, 20)));
  });

  it('RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2, checksum 0x220d', () => {
    const bytes = hex('00 01 f2 03 f4 f5 f6 f7');
    // The RFC's unfolded sum is 0x2ddf0; folded 0xddf2.
    assert.equal(sumWords(bytes, 0, 8), 0x2ddf0);
    assert.equal(finish(sumWords(bytes, 0, 8)), ~0xddf2 & 0xffff);
    assert.equal(internetChecksum(bytes, 0, 8), 0x220d);
  });

  it('a real IPv4 header (checksum 0xb861) verifies, and recomputes to 0xb861 with the field zeroed', () => {
    const header = hex('45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7');
    assert.equal(internetChecksum(header, 0, 20), 0, 'a correct header sums to zero');
    const zeroed = Buffer.from(header);
    zeroed.writeUInt16BE(0, 10);
    assert.equal(internetChecksum(zeroed, 0, 20), 0xb861);
    // Flip one bit anywhere: the checksum no longer verifies.
    for (let byte = 0; byte < 20; byte++) {
      const bad = Buffer.from(header);
      bad[byte] ^= 0x10;
      assert.notEqual(internetChecksum(bad, 0, 20), 0, `bit flip in byte ${byte} detected`);
    }
  });

  it('an ICMP echo request (Windows ping, id 1 seq 1, 32 bytes a..w) has checksum 0x4d5a', () => {
    const icmp = Buffer.concat([hex('08 00 00 00 00 01 00 01'), Buffer.from('abcdefghijklmnopqrstuvwabcdefghi')]);
    assert.equal(internetChecksum(icmp, 0, icmp.length), 0x4d5a);
    icmp.writeUInt16BE(0x4d5a, 2);
    assert.equal(internetChecksum(icmp, 0, icmp.length), 0);
  });

  it('odd lengths pad the last byte with zero on the right', () => {
    assert.equal(internetChecksum(hex('01'), 0, 1), 0xfeff);
    assert.equal(internetChecksum(hex('12 34 56'), 0, 3), 0x97cb);
    // An ICMP echo with 33 data bytes (odd total length 41).
    const icmp = Buffer.concat([hex('08 00 00 00 1f 4a 00 03'), Buffer.from(Array.from({ length: 33 }, (_, i) => 0x10 + i))]);
    assert.equal(internetChecksum(icmp, 0, icmp.length), 0xb6b0);
    // Only the bytes in range count: a byte after the end must not leak in.
    const withTail = Buffer.concat([hex('12 34 56'), hex('ff')]);
    assert.equal(internetChecksum(withTail, 0, 3), 0x97cb);
  });

  it('empty input and all-zero/all-one inputs', () => {
    assert.equal(internetChecksum(Buffer.alloc(0), 0, 0), 0xffff);
    assert.equal(internetChecksum(Buffer.alloc(64), 0, 64), 0xffff);
    assert.equal(internetChecksum(Buffer.alloc(64, 0xff), 0, 64), 0x0000);
    // 65535 bytes of 0xff: 32767 words of 0xffff (one's complement zero) plus 0xff00.
    assert.equal(internetChecksum(Buffer.alloc(65535, 0xff), 0, 65535), 0x00ff);
  });

  it('honours the offset, and partial sums compose (header + payload, even split)', () => {
    const rng = new Rng(1071);
    for (let n = 0; n < 500; n++) {
      const len = rng.int(300);
      const lead = rng.int(7);
      const buf = Buffer.concat([rng.bytes(lead), rng.bytes(len), rng.bytes(rng.int(5))]);
      const expected = reference(buf.subarray(lead, lead + len));
      assert.equal(internetChecksum(buf, lead, len), expected, `len ${len} at offset ${lead}`);
      const split = rng.int(len + 1) & ~1;
      const partial = sumWords(buf, lead, split);
      assert.equal(internetChecksum(buf, lead + split, len - split, partial), expected);
    }
  });

  it('finish() folds carries repeatedly and complements', () => {
    assert.equal(finish(0), 0xffff);
    assert.equal(finish(0xffff), 0);
    assert.equal(finish(0x1fffe), 0); // 0xfffe + 1 = 0xffff → 0
    assert.equal(finish(0x2ddf0), 0x220d);
    assert.equal(finish(0xffffffff), 0); // 0xffff + 0xffff = 0x1fffe → 0xffff → 0
  });

  it('pseudoHeaderSum gives the TCP checksum that an independent implementation computes', () => {
    const src = ip('192.168.123.10');
    const dst = ip('192.168.123.150');
    // A TCP SYN: ports 40000 → 80, seq 1000, data offset 5, SYN, window 65535.
    const seg = hex('9c 40 00 50 00 00 03 e8 00 00 00 00 50 02 ff ff 00 00 00 00');
    const sum = pseudoHeaderSum(src, dst, 6, seg.length);
    const bytesOfPseudo = Buffer.alloc(12);
    bytesOfPseudo.writeUInt32BE(src, 0);
    bytesOfPseudo.writeUInt32BE(dst, 4);
    bytesOfPseudo[9] = 6;
    bytesOfPseudo.writeUInt16BE(seg.length, 10);
    const expected = reference(Buffer.concat([bytesOfPseudo, seg]));
    assert.equal(internetChecksum(seg, 0, seg.length, sum), expected);
    seg.writeUInt16BE(expected, 16);
    assert.equal(internetChecksum(seg, 0, seg.length, sum), 0, 'a segment with its checksum verifies to zero');
    // Addresses with the top bit set stay unsigned.
    assert.equal(pseudoHeaderSum(0xffffffff, 0xffffffff, 6, 0), 0xffff * 4 + 6);
  });
});
