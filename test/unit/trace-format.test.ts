/**
 * The trace lines nodes write, in VPP 24.10's formats, checked against frames built by the
 * tests' own frame builders (test/helpers/frames.ts), not by src/wire.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatAfPacketTrace,
  formatArpTrace,
  formatEthernetTrace,
  formatFrameTrace,
  formatHexTrace,
  formatIp4Trace,
  formatVlanTci,
} from '../../src/dataplane/trace-format.js';
import { arpRequestFrame, ETH_P_8021AD, ETH_P_8021Q, ipv4, pingFrame, tcpFrame } from '../helpers/frames.js';

describe('dataplane/trace-format: VPP trace lines', () => {
  it('VLAN TCI as format_ethernet_vlan_tci: vid, then priority and cfi when set', () => {
    assert.equal(formatVlanTci(123), '123');
    assert.equal(formatVlanTci((5 << 13) | 0x1000 | 7), '7 priority 5 cfi');
  });

  it('Ethernet: type, src -> dst, then every tag (a stripped one first)', () => {
    const f = pingFrame({ seq: 1 });
    assert.equal(formatEthernetTrace(f, 0, f.length), 'IP4: 52:54:00:12:34:56 -> c6:b4:b5:74:11:88 802.1q vlan 123');
    const untagged = pingFrame({ tags: [] });
    assert.equal(formatEthernetTrace(untagged, 0, untagged.length, ETH_P_8021Q, (3 << 13) | 123), 'IP4: 52:54:00:12:34:56 -> c6:b4:b5:74:11:88 802.1q vlan 123 priority 3');
    const qinq = pingFrame({ tags: [{ tpid: ETH_P_8021AD, vid: 100 }, { vid: 123 }] });
    assert.equal(formatEthernetTrace(qinq, 0, qinq.length), 'IP4: 52:54:00:12:34:56 -> c6:b4:b5:74:11:88 802.1ad vlan 100 802.1q vlan 123');
    const arp = arpRequestFrame();
    assert.equal(formatEthernetTrace(arp, 0, arp.length), 'ARP: 52:54:00:12:34:56 -> ff:ff:ff:ff:ff:ff 802.1q vlan 123');
    assert.equal(formatEthernetTrace(arp, 0, 10), 'ethernet header truncated (10 bytes)');
  });

  it('IPv4 + ICMP: protocol and addresses, tos/ttl/length/checksum with dscp/ecn, fragment line, ICMP line', () => {
    const f = pingFrame({ id: 7, seq: 3, ip: { id: 0xe516, df: true, ttl: 64 } });
    const at = 18;
    const ipLen = f.readUInt16BE(at + 2);
    const ck = f.readUInt16BE(at + 10);
    const icmpCk = f.readUInt16BE(at + 22);
    assert.equal(
      formatIp4Trace(f, at, f.length - at),
      [
        'ICMP: 192.168.123.10 -> 192.168.123.150',
        `  tos 0x00, ttl 64, length ${ipLen}, checksum 0x${ck.toString(16).padStart(4, '0')} dscp CS0 ecn NON_ECN`,
        '  fragment id 0xe516, flags DONT_FRAGMENT',
        `ICMP echo_request checksum 0x${icmpCk.toString(16)} id 7 seq 3`,
      ].join('\n'),
    );
    // A wrong header checksum says what it should be.
    const bad = Buffer.from(f);
    bad.writeUInt16BE(ck ^ 0xffff, at + 10);
    assert.match(formatIp4Trace(bad, at, bad.length - at), new RegExp(`checksum 0x${(ck ^ 0xffff).toString(16).padStart(4, '0')} \\(should be 0x${ck.toString(16).padStart(4, '0')}\\) dscp`));
    assert.equal(formatIp4Trace(f, at, 10), 'IP header truncated');
  });

  it('IPv4 + TCP and UDP headers', () => {
    const f = tcpFrame({ srcPort: 40000, dstPort: 80, seq: 0x01020304, ack: 0, flags: 0x02, window: 64240 });
    const lines = formatIp4Trace(f, 18, f.length - 18).split('\n');
    assert.match(lines[0], /^TCP: 192\.168\.123\.10 -> 192\.168\.123\.150$/);
    assert.equal(lines[3], 'TCP: 40000 -> 80');
    assert.equal(lines[4], '  seq. 0x01020304 ack 0x00000000');
    assert.match(lines[5], /^  flags 0x02 SYN, tcp header: \d+ bytes$/);
    assert.match(lines[6], /^  window 64240, checksum 0x[0-9a-f]{4}$/);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(53, 0);
    udp.writeUInt16BE(5353, 2);
    udp.writeUInt16BE(8, 4);
    const p = ipv4({ protocol: 17, payload: udp });
    assert.match(formatIp4Trace(p, 0, p.length), /\nUDP: 53 -> 5353\n  length 8, checksum 0x0000$/);
  });

  it('ARP, and a whole frame as output nodes trace it', () => {
    const a = arpRequestFrame();
    assert.equal(
      formatArpTrace(a, 18, a.length - 18),
      'request, type ethernet/IP4, address size 6/4\n52:54:00:12:34:56/192.168.123.10 -> 00:00:00:00:00:00/192.168.123.150',
    );
    const whole = formatFrameTrace(a, 0, a.length).split('\n');
    assert.equal(whole[0], 'ARP: 52:54:00:12:34:56 -> ff:ff:ff:ff:ff:ff 802.1q vlan 123');
    assert.equal(whole[1], 'request, type ethernet/IP4, address size 6/4');
    const p = pingFrame();
    assert.match(formatFrameTrace(p, 0, p.length), /^IP4: .*vlan 123\nICMP: 192\.168\.123\.10 -> 192\.168\.123\.150\n  tos/);
  });

  it('af-packet-input and hex lines', () => {
    assert.equal(
      formatAfPacketTrace(1, 4, 2, 102, ETH_P_8021Q, 123, 0),
      'af_packet: hw_if_index 1 rx-queue 0 next-index 4\n  tpacket2_hdr:\n    len 102 snaplen 102 vlan 123 vlan_tpid 33024 rx-flags 0x00',
    );
    const b = Buffer.from([...Array(40).keys()]);
    assert.equal(formatHexTrace(b, 0, 40), `00000000: ${b.subarray(0, 32).toString('hex')}\n00000020: ${b.subarray(32).toString('hex')}`);
    assert.equal(formatHexTrace(b, 4, 36, 8), '00000000: 0405060708090a0b');
  });
});
