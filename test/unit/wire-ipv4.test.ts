/** IPv4 header (RFC 791): check, accessors, emit, round-trip. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkIpv4,
  DEFAULT_TTL,
  IP_PROTO_ICMP,
  IP_PROTO_TCP,
  IP_PROTO_UDP,
  ipv4Destination,
  Ipv4Error,
  ipv4HeaderLength,
  ipv4Id,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4Source,
  ipv4TotalLength,
  ipv4Ttl,
  IPV4_MIN_HEADER_LEN,
  writeIpv4,
} from '../../src/wire/ipv4.js';
import { checksum, CLIENT_IP, decodeIpv4, ipv4, OUR_IP } from '../helpers/frames.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// A captured UDP packet's header: 192.168.0.1 → 192.168.0.199, total length 0x73, DF, TTL 64, checksum 0xb861.
const HEADER = hex('45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7');
const PACKET = Buffer.concat([HEADER, Buffer.alloc(0x73 - 20, 0x5a)]);

describe('wire/ipv4', () => {
  it('parses the captured header', () => {
    assert.equal(checkIpv4(PACKET, 0, PACKET.length), Ipv4Error.None);
    assert.equal(ipv4HeaderLength(PACKET, 0), 20);
    assert.equal(ipv4TotalLength(PACKET, 0), 0x73);
    assert.equal(ipv4Id(PACKET, 0), 0);
    assert.equal(ipv4IsFragment(PACKET, 0), false, 'DF alone is not a fragment');
    assert.equal(ipv4Ttl(PACKET, 0), 64);
    assert.equal(ipv4Protocol(PACKET, 0), IP_PROTO_UDP);
    assert.equal(ipv4Source(PACKET, 0), 0xc0a80001);
    assert.equal(ipv4Destination(PACKET, 0), 0xc0a800c7);
  });

  it('emits exactly the captured header from its fields (checksum 0xb861)', () => {
    const buf = Buffer.alloc(24, 0xee);
    assert.equal(writeIpv4(buf, 2, 0xc0a80001, 0xc0a800c7, IP_PROTO_UDP, 0x73 - 20, 0, 64), IPV4_MIN_HEADER_LEN);
    assert.deepEqual(buf.subarray(2, 22), HEADER);
    assert.equal(buf[1], 0xee);
    assert.equal(buf[22], 0xee);
  });

  it('round-trips a header with random fields against an independent builder', () => {
    for (const [id, ttl, proto, len] of [
      [0x1234, 64, IP_PROTO_ICMP, 64],
      [0xffff, 1, IP_PROTO_TCP, 1480],
      [0, 255, IP_PROTO_UDP, 0],
    ]) {
      const reference = ipv4({ src: CLIENT_IP, dst: OUR_IP, protocol: proto, payload: Buffer.alloc(len), id, ttl });
      const buf = Buffer.alloc(20 + len);
      writeIpv4(buf, 0, CLIENT_IP, OUR_IP, proto, len, id, ttl);
      assert.deepEqual(buf, reference);
      assert.equal(checkIpv4(buf, 0, buf.length), Ipv4Error.None);
      const d = decodeIpv4(buf);
      assert.equal(d.headerChecksumOk, true);
      assert.equal(d.id, id);
      assert.equal(d.ttl, ttl);
      assert.equal(d.flags, 0b010, 'DF');
    }
    const buf = Buffer.alloc(20);
    writeIpv4(buf, 0, CLIENT_IP, OUR_IP, 1, 0, 0x12345);
    assert.equal(ipv4Id(buf, 0), 0x2345, 'the identification keeps 16 bits');
    assert.equal(ipv4Ttl(buf, 0), DEFAULT_TTL);
  });

  it('accepts options (IHL 6, Router Alert) and Ethernet padding beyond the total length', () => {
    const p = ipv4({ protocol: 2, payload: Buffer.alloc(8), options: hex('94 04 00 00') });
    assert.equal(ipv4HeaderLength(p, 0), 24);
    assert.equal(checkIpv4(p, 0, p.length), Ipv4Error.None);
    const padded = Buffer.concat([PACKET.subarray(0, 20), Buffer.alloc(26)]); // total 0x73 > 46: too long
    assert.equal(checkIpv4(padded, 0, padded.length), Ipv4Error.BadTotalLength);
    const small = ipv4({ protocol: 1, payload: Buffer.alloc(8) }); // 28 bytes in a 46-byte minimum payload
    assert.equal(checkIpv4(Buffer.concat([small, Buffer.alloc(18)]), 0, 46), Ipv4Error.None);
  });

  it('rejects each kind of bad header', () => {
    const good = ipv4({ protocol: 1, payload: Buffer.alloc(20) });
    const fix = (b: Buffer): Buffer => {
      b.writeUInt16BE(0, 10);
      b.writeUInt16BE(checksum(b.subarray(0, (b[0] & 15) * 4)), 10);
      return b;
    };
    assert.equal(checkIpv4(good, 0, 19), Ipv4Error.TooShort);
    assert.equal(checkIpv4(good, 0, 0), Ipv4Error.TooShort);
    const v6 = fix(Buffer.from(good));
    v6[0] = 0x65;
    assert.equal(checkIpv4(v6, 0, v6.length), Ipv4Error.BadVersion);
    const ihl4 = Buffer.from(good);
    ihl4[0] = 0x44;
    assert.equal(checkIpv4(ihl4, 0, ihl4.length), Ipv4Error.BadHeaderLength, 'IHL 4 (16 bytes) is below the minimum');
    const ihl15 = Buffer.from(good);
    ihl15[0] = 0x4f;
    assert.equal(checkIpv4(ihl15, 0, ihl15.length), Ipv4Error.BadHeaderLength, 'IHL 15 (60 bytes) exceeds the 40-byte packet');
    const totalSmall = fix(Buffer.from(good));
    totalSmall.writeUInt16BE(19, 2);
    assert.equal(checkIpv4(fix(totalSmall), 0, totalSmall.length), Ipv4Error.BadTotalLength, 'total length below the header length');
    const totalBig = Buffer.from(good);
    totalBig.writeUInt16BE(41, 2);
    assert.equal(checkIpv4(fix(totalBig), 0, totalBig.length), Ipv4Error.BadTotalLength, 'total length beyond the frame');
    const badSum = Buffer.from(good);
    badSum[11] ^= 1;
    assert.equal(checkIpv4(badSum, 0, badSum.length), Ipv4Error.BadChecksum);
    const badAddr = Buffer.from(good);
    badAddr[19] ^= 0x80;
    assert.equal(checkIpv4(badAddr, 0, badAddr.length), Ipv4Error.BadChecksum, 'a changed field breaks the checksum');
  });

  it('recognises fragments: MF, or a non-zero offset, with or without DF', () => {
    const frag = (o: { mf?: boolean; fragmentOffset?: number; df?: boolean }): Buffer => ipv4({ protocol: 1, payload: Buffer.alloc(8), ...o });
    assert.equal(ipv4IsFragment(frag({ mf: true, df: false }), 0), true, 'first fragment');
    assert.equal(ipv4IsFragment(frag({ fragmentOffset: 185, df: false }), 0), true, 'last fragment');
    assert.equal(ipv4IsFragment(frag({ mf: true, fragmentOffset: 1, df: false }), 0), true, 'middle fragment');
    assert.equal(ipv4IsFragment(frag({ df: true }), 0), false);
    assert.equal(ipv4IsFragment(frag({ df: false }), 0), false);
  });

  it('reads fields at a non-zero offset', () => {
    const frame = Buffer.concat([Buffer.alloc(18, 0xaa), PACKET]);
    assert.equal(checkIpv4(frame, 18, PACKET.length), Ipv4Error.None);
    assert.equal(ipv4Source(frame, 18), 0xc0a80001);
    assert.equal(ipv4TotalLength(frame, 18), 0x73);
  });
});
