/** ICMPv4 echo (RFC 792): check, checksum emit, round-trip. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkIcmp,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER_LEN,
  icmpCode,
  IcmpError,
  icmpType,
  updatedChecksum,
  writeIcmpChecksum,
} from '../../src/wire/icmp.js';
import { decodeIcmpEcho, icmpEcho } from '../helpers/frames.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Windows' ping: id 1, seq 1, 32 bytes "abcdefghijklmnopqrstuvwabcdefghi", checksum 0x4d5a.
const WINDOWS_PING = Buffer.concat([hex('08 00 4d 5a 00 01 00 01'), Buffer.from('abcdefghijklmnopqrstuvwabcdefghi')]);

describe('wire/icmp', () => {
  it('constants', () => {
    assert.equal(ICMP_HEADER_LEN, 8);
    assert.equal(ICMP_ECHO_REQUEST, 8);
    assert.equal(ICMP_ECHO_REPLY, 0);
    assert.equal(ICMP_DEST_UNREACHABLE, 3);
  });

  it('accepts a captured echo request', () => {
    assert.equal(checkIcmp(WINDOWS_PING, 0, WINDOWS_PING.length), IcmpError.None);
    assert.equal(icmpType(WINDOWS_PING, 0), ICMP_ECHO_REQUEST);
    assert.equal(icmpCode(WINDOWS_PING, 0), 0);
  });

  it('writes the checksum of the captured request (0x4d5a) from a zeroed or garbage field', () => {
    const b = Buffer.from(WINDOWS_PING);
    b.writeUInt16BE(0xdead, 2);
    writeIcmpChecksum(b, 0, b.length);
    assert.deepEqual(b, WINDOWS_PING);
  });

  it('turns a request into a reply with a valid checksum, keeping id, seq and data', () => {
    const frame = Buffer.concat([Buffer.alloc(34, 0xaa), WINDOWS_PING]);
    frame[34] = ICMP_ECHO_REPLY;
    writeIcmpChecksum(frame, 34, WINDOWS_PING.length);
    assert.equal(checkIcmp(frame, 34, WINDOWS_PING.length), IcmpError.None);
    assert.equal(frame.readUInt16BE(36), 0x555a, 'checksum rises by 0x0800 when the type drops by 8');
    const d = decodeIcmpEcho(frame.subarray(34));
    assert.deepEqual([d.type, d.id, d.seq, d.data.toString()], [0, 1, 1, 'abcdefghijklmnopqrstuvwabcdefghi']);
    assert.equal(frame[33], 0xaa, 'nothing written before the message');
  });

  it('odd-length messages round-trip against an independent builder', () => {
    for (let n = 0; n < 70; n++) {
      const data = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff));
      const reference = icmpEcho({ id: 0x1f4a, seq: n, data });
      const b = Buffer.from(reference);
      b.writeUInt16BE(0, 2);
      writeIcmpChecksum(b, 0, b.length);
      assert.deepEqual(b, reference, `${n} data bytes`);
      assert.equal(checkIcmp(b, 0, b.length), IcmpError.None);
    }
  });

  it('rejects short and corrupted messages', () => {
    assert.equal(checkIcmp(WINDOWS_PING, 0, 7), IcmpError.TooShort);
    assert.equal(checkIcmp(WINDOWS_PING, 0, 0), IcmpError.TooShort);
    const b = Buffer.from(WINDOWS_PING);
    b[20] ^= 4;
    assert.equal(checkIcmp(b, 0, b.length), IcmpError.BadChecksum);
    assert.equal(checkIcmp(WINDOWS_PING, 0, WINDOWS_PING.length - 1), IcmpError.BadChecksum, 'a truncated message fails its checksum');
  });

  it('updatedChecksum (RFC 1624) gives what summing the echo reply again gives, for any payload, including the 0x0000/0xffff corner', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    for (let t = 0; t < 5000; t++) {
      const len = ICMP_HEADER_LEN + rnd(200);
      const req = Buffer.alloc(len);
      for (let i = 4; i < len; i++) req[i] = rnd(256);
      req[0] = ICMP_ECHO_REQUEST;
      writeIcmpChecksum(req, 0, len);
      const reply = Buffer.from(req);
      reply[0] = ICMP_ECHO_REPLY;
      const incremental = updatedChecksum(req.readUInt16BE(2), req.readUInt16BE(0), ICMP_ECHO_REPLY << 8);
      reply.writeUInt16BE(incremental, 2);
      assert.equal(checkIcmp(reply, 0, len), IcmpError.None, `payload ${req.toString('hex')}`);
    }
  });
});
