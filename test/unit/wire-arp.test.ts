/** ARP (RFC 826): emit, check, accessors, round-trip. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ARP_LEN,
  ARP_REPLY,
  ARP_REQUEST,
  ArpError,
  arpOperation,
  arpSenderIp,
  arpSenderMacOffset,
  arpTargetIp,
  arpTargetMacOffset,
  checkArp,
  writeArp,
} from '../../src/wire/arp.js';
import { arp, CLIENT_IP, CLIENT_MAC, decodeArp, OUR_IP, OUR_MAC } from '../helpers/frames.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// A request as a Linux client sends it: who has 192.168.123.150? tell 192.168.123.10.
const CAPTURED_REQUEST = hex('0001 0800 06 04 0001 525400123456 c0a87b0a 000000000000 c0a87b96');

describe('wire/arp', () => {
  it('parses a captured request', () => {
    assert.equal(checkArp(CAPTURED_REQUEST, 0, 28), ArpError.None);
    assert.equal(arpOperation(CAPTURED_REQUEST, 0), ARP_REQUEST);
    assert.equal(arpSenderIp(CAPTURED_REQUEST, 0), CLIENT_IP);
    assert.equal(arpTargetIp(CAPTURED_REQUEST, 0), OUR_IP);
    assert.deepEqual(CAPTURED_REQUEST.subarray(arpSenderMacOffset, arpSenderMacOffset + 6), CLIENT_MAC);
    assert.deepEqual(CAPTURED_REQUEST.subarray(arpTargetMacOffset, arpTargetMacOffset + 6), Buffer.alloc(6));
  });

  it('emits the same bytes it parses (request and reply), at an offset', () => {
    const buf = Buffer.alloc(40, 0xee);
    assert.equal(writeArp(buf, 5, ARP_REQUEST, CLIENT_MAC, CLIENT_IP, Buffer.alloc(6), OUR_IP), ARP_LEN);
    assert.deepEqual(buf.subarray(5, 33), CAPTURED_REQUEST);
    assert.equal(buf[4], 0xee);
    assert.equal(buf[33], 0xee);

    writeArp(buf, 0, ARP_REPLY, OUR_MAC, OUR_IP, CLIENT_MAC, CLIENT_IP);
    assert.equal(checkArp(buf, 0, 28), ArpError.None);
    assert.deepEqual(decodeArp(buf.subarray(0, 28)), {
      op: 2,
      sha: 'c6:b4:b5:74:11:88',
      spa: '192.168.123.150',
      tha: '52:54:00:12:34:56',
      tpa: '192.168.123.10',
    });
    assert.deepEqual(buf.subarray(0, 28), arp({ op: 2, sha: OUR_MAC, spa: OUR_IP, tha: CLIENT_MAC, tpa: CLIENT_IP }));
  });

  it('round-trips: parse fields, emit them again, same bytes', () => {
    const again = Buffer.alloc(28);
    const b = CAPTURED_REQUEST;
    writeArp(
      again,
      0,
      arpOperation(b, 0),
      b.subarray(arpSenderMacOffset, arpSenderMacOffset + 6),
      arpSenderIp(b, 0),
      b.subarray(arpTargetMacOffset, arpTargetMacOffset + 6),
      arpTargetIp(b, 0),
    );
    assert.deepEqual(again, b);
  });

  it('addresses with the top bit set stay unsigned', () => {
    const buf = Buffer.alloc(28);
    writeArp(buf, 0, ARP_REQUEST, CLIENT_MAC, 0xffffffff, Buffer.alloc(6), 0xc0000001 | 0);
    assert.equal(arpSenderIp(buf, 0), 0xffffffff);
    assert.equal(arpTargetIp(buf, 0), 0xc0000001);
  });

  it('rejects short, non-Ethernet/IPv4 and unknown-operation packets', () => {
    assert.equal(checkArp(CAPTURED_REQUEST, 0, 27), ArpError.TooShort);
    assert.equal(checkArp(CAPTURED_REQUEST, 0, 0), ArpError.TooShort);
    const mutate = (at: number, value: number): Buffer => {
      const b = Buffer.from(CAPTURED_REQUEST);
      b[at] = value;
      return b;
    };
    assert.equal(checkArp(mutate(1, 6), 0, 28), ArpError.NotEthernetIpv4, 'htype 6 (IEEE 802)');
    assert.equal(checkArp(mutate(2, 0x86), 0, 28), ArpError.NotEthernetIpv4, 'ptype 0x86dd');
    assert.equal(checkArp(mutate(4, 8), 0, 28), ArpError.NotEthernetIpv4, 'hlen 8');
    assert.equal(checkArp(mutate(5, 16), 0, 28), ArpError.NotEthernetIpv4, 'plen 16');
    assert.equal(checkArp(mutate(7, 0), 0, 28), ArpError.BadOperation, 'op 0');
    assert.equal(checkArp(mutate(7, 3), 0, 28), ArpError.BadOperation, 'op 3 (RARP request)');
    assert.equal(checkArp(mutate(6, 1), 0, 28), ArpError.BadOperation, 'op 0x0101');
    // Ethernet padding after the 28 bytes is fine.
    assert.equal(checkArp(Buffer.concat([CAPTURED_REQUEST, Buffer.alloc(18)]), 0, 46), ArpError.None);
  });
});
