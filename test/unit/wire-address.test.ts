/** IPv4, prefix and MAC address parsing and formatting, including invalid inputs. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatIpv4,
  formatMac,
  isBroadcastMac,
  isMulticastMac,
  macEquals,
  parseIpv4,
  parseIpv4Prefix,
  parseMac,
  prefixMask,
  sameSubnet,
} from '../../src/wire/address.js';

describe('wire/address IPv4', () => {
  it('parses dotted quads to host-order unsigned numbers', () => {
    assert.equal(parseIpv4('192.168.123.150'), 0xc0a87b96);
    assert.equal(parseIpv4('0.0.0.0'), 0);
    assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
    assert.equal(parseIpv4('10.0.0.1'), 0x0a000001);
    assert.ok(parseIpv4('255.255.255.255')! > 0, 'unsigned, never negative');
  });

  it('formats and round-trips', () => {
    for (const text of ['192.168.123.150', '0.0.0.0', '255.255.255.255', '10.0.0.1', '128.0.0.0', '1.2.3.4']) {
      assert.equal(formatIpv4(parseIpv4(text)!), text);
    }
    assert.equal(formatIpv4(-1), '255.255.255.255', 'a signed 32-bit value formats as unsigned');
    assert.equal(formatIpv4(0x80000000 | 0), '128.0.0.0');
  });

  it('rejects what is not a dotted quad', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.256', '01.2.3.4', '1.2.3.04', 'a.b.c.d', '1..2.3', '-1.2.3.4', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4/24', '1.2.3.1234', '0x1.2.3.4', '１.2.3.4']) {
      assert.equal(parseIpv4(bad), null, `'${bad}' must be rejected`);
    }
  });
});

describe('wire/address prefixes', () => {
  it('prefixMask', () => {
    assert.equal(prefixMask(0), 0);
    assert.equal(prefixMask(1), 0x80000000);
    assert.equal(prefixMask(24), 0xffffff00);
    assert.equal(prefixMask(31), 0xfffffffe);
    assert.equal(prefixMask(32), 0xffffffff);
  });

  it('parses address/length', () => {
    assert.deepEqual(parseIpv4Prefix('192.168.123.150/24'), { address: 0xc0a87b96, prefixLength: 24 });
    assert.deepEqual(parseIpv4Prefix('0.0.0.0/0'), { address: 0, prefixLength: 0 });
    assert.deepEqual(parseIpv4Prefix('10.1.2.3/32'), { address: 0x0a010203, prefixLength: 32 });
  });

  it('rejects malformed prefixes', () => {
    for (const bad of ['192.168.123.150', '192.168.123.150/', '192.168.123.150/33', '192.168.123.150/-1', '192.168.123.150/ 24', '192.168.123/24', '/24', '192.168.123.150/24/1', '192.168.123.150/2x', '192.168.123.150/100', '300.1.1.1/8']) {
      assert.equal(parseIpv4Prefix(bad), null, `'${bad}' must be rejected`);
    }
  });

  it('sameSubnet', () => {
    const a = parseIpv4('192.168.123.150')!;
    assert.ok(sameSubnet(a, parseIpv4('192.168.123.10')!, 24));
    assert.ok(!sameSubnet(a, parseIpv4('192.168.124.10')!, 24));
    assert.ok(sameSubnet(a, parseIpv4('192.168.124.10')!, 16));
    assert.ok(sameSubnet(a, parseIpv4('8.8.8.8')!, 0));
    assert.ok(!sameSubnet(a, parseIpv4('192.168.123.151')!, 32));
    assert.ok(sameSubnet(0xffffffff, 0xfffffffe, 31), 'top-bit addresses compare unsigned');
  });
});

describe('wire/address MAC', () => {
  it('parses with colons or dashes, either case', () => {
    const expected = Buffer.from([0xc6, 0xb4, 0xb5, 0x74, 0x11, 0x88]);
    assert.deepEqual(parseMac('c6:b4:b5:74:11:88'), expected);
    assert.deepEqual(parseMac('C6:B4:B5:74:11:88'), expected);
    assert.deepEqual(parseMac('c6-b4-b5-74-11-88'), expected);
  });

  it('rejects malformed MACs', () => {
    for (const bad of ['', 'c6:b4:b5:74:11', 'c6:b4:b5:74:11:88:99', 'g6:b4:b5:74:11:88', 'c6:b4:b5:74:11:8', 'c6b4b5741188', 'c6:b4:b5:74:11:888', ' c6:b4:b5:74:11:88', 'c6::b4:b5:74:11:88']) {
      assert.equal(parseMac(bad), null, `'${bad}' must be rejected`);
    }
  });

  it('formats with zero padding, at an offset, and round-trips', () => {
    const buf = Buffer.from([0xaa, 0x02, 0x00, 0x0a, 0xbb, 0xcc, 0x0d, 0xee]);
    assert.equal(formatMac(buf, 1), '02:00:0a:bb:cc:0d');
    assert.equal(formatMac(parseMac('c6:b4:b5:74:11:88')!), 'c6:b4:b5:74:11:88');
  });

  it('classifies broadcast and multicast, compares at offsets', () => {
    const b = Buffer.from('00ffffffffffff01005e000001c6b4b5741188', 'hex');
    assert.ok(isBroadcastMac(b, 1));
    assert.ok(!isBroadcastMac(b, 0));
    assert.ok(isMulticastMac(b, 1), 'broadcast is multicast too');
    assert.ok(isMulticastMac(b, 7), '01:00:5e:00:00:01');
    assert.ok(!isMulticastMac(b, 13), 'c6:… is unicast (bit 0 of the first octet is 0)');
    const ours = parseMac('c6:b4:b5:74:11:88')!;
    assert.ok(macEquals(b, 13, ours, 0));
    assert.ok(!macEquals(b, 7, ours, 0));
    const almost = Buffer.from(ours);
    almost[5] ^= 1;
    assert.ok(!macEquals(almost, 0, ours, 0), 'the last octet counts');
  });
});
