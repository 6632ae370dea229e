/**
 * What nodes write into a packet trace, in VPP 24.10's formats (format_ethernet_header,
 * format_ip4_header, format_icmp4_header, format_tcp_header, format_udp_header,
 * format_ethernet_arp_header). Called only for traced frames: these allocate strings.
 *
 * Every function returns one trace "line" that may contain '\n' and further indented lines,
 * as PacketTracer.record() takes them.
 */
import { formatIpv4, formatMac } from '../wire/address.js';

const hex = (n: number, digits: number): string => n.toString(16).padStart(digits, '0');

const ETHERTYPE_NAMES: Record<number, string> = { 0x0800: 'IP4', 0x0806: 'ARP', 0x86dd: 'IP6', 0x8100: '802.1q', 0x88a8: '802.1ad', 0x8847: 'MPLS' };

function etherTypeName(type: number): string {
  return ETHERTYPE_NAMES[type] ?? `0x${hex(type, 4)}`;
}

/** VPP's format_ethernet_vlan_tci: `vid[ priority p][ cfi]`. */
export function formatVlanTci(tci: number): string {
  const pcp = tci >> 13;
  return `${tci & 0xfff}${pcp !== 0 ? ` priority ${pcp}` : ''}${tci & 0x1000 ? ' cfi' : ''}`;
}

/**
 * `IP4: <src> -> <dst>[ 802.1q vlan <tci>]…` for the Ethernet header at `off`. `strippedTpid`
 * / `strippedTci`: a tag the kernel took off the bytes (AF_PACKET metadata), shown first, as
 * VPP shows it after af-packet-input put it back.
 */
export function formatEthernetTrace(buf: Buffer, off: number, len: number, strippedTpid = 0, strippedTci = 0): string {
  if (len < 14) return `ethernet header truncated (${len} bytes)`;
  let tags = '';
  if (strippedTpid !== 0) tags += ` ${etherTypeName(strippedTpid)} vlan ${formatVlanTci(strippedTci)}`;
  let p = off + 12;
  let type = buf.readUInt16BE(p);
  while ((type === 0x8100 || type === 0x88a8 || type === 0x9100) && p + 6 <= off + len) {
    tags += ` ${type === 0x8100 ? '802.1q' : '802.1ad'} vlan ${formatVlanTci(buf.readUInt16BE(p + 2))}`;
    p += 4;
    type = buf.readUInt16BE(p);
  }
  return `${etherTypeName(type)}: ${formatMac(buf, off + 6)} -> ${formatMac(buf, off)}${tags}`;
}

/** The offset of the payload after the Ethernet header and inline tags, and its EtherType. */
export function ethernetPayload(buf: Buffer, off: number, len: number): { type: number; at: number } {
  let p = off + 12;
  let type = len >= 14 ? buf.readUInt16BE(p) : 0;
  while ((type === 0x8100 || type === 0x88a8 || type === 0x9100) && p + 6 <= off + len) {
    p += 4;
    type = buf.readUInt16BE(p);
  }
  return { type, at: p + 2 };
}

const DSCP: Record<number, string> = {
  0: 'CS0', 8: 'CS1', 10: 'AF11', 12: 'AF12', 14: 'AF13', 16: 'CS2', 18: 'AF21', 20: 'AF22', 22: 'AF23', 24: 'CS3',
  26: 'AF31', 28: 'AF32', 30: 'AF33', 32: 'CS4', 34: 'AF41', 36: 'AF42', 38: 'AF43', 40: 'CS5', 46: 'EF', 48: 'CS6', 56: 'CS7',
};
const ECN = ['NON_ECN', 'ECT_0', 'ECT_1', 'CE'];
const PROTOCOLS: Record<number, string> = { 1: 'ICMP', 2: 'IGMP', 6: 'TCP', 17: 'UDP', 41: 'IPV6', 47: 'GRE', 50: 'IPSEC_ESP', 58: 'ICMP6', 89: 'OSPF', 112: 'VRRP' };
const ICMP_TYPES: Record<number, string> = { 0: 'echo_reply', 3: 'destination_unreachable', 5: 'redirect', 8: 'echo_request', 11: 'time_exceeded', 12: 'parameter_problem' };
const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

/** The header checksum the IPv4 header at `off` should carry. */
function ipChecksum(buf: Buffer, off: number, ihl: number): number {
  let sum = 0;
  for (let i = 0; i < ihl; i += 2) if (i !== 10) sum += buf.readUInt16BE(off + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * The IPv4 header at `off` (at most `len` bytes available) and the start of its L4 header:
 * ```
 * ICMP: 192.168.123.10 -> 192.168.123.150
 *   tos 0x00, ttl 64, length 84, checksum 0x3f7c dscp CS0 ecn NON_ECN
 *   fragment id 0xe516, flags DONT_FRAGMENT
 * ICMP echo_request checksum 0xc043 id 7
 * ```
 */
export function formatIp4Trace(buf: Buffer, off: number, len: number): string {
  if (len < 20) return 'IP header truncated';
  const ihl = (buf[off] & 0x0f) * 4;
  const version = buf[off] >> 4;
  if (version !== 4) return `IP version ${version}, header length ${ihl}`;
  const tos = buf[off + 1];
  const length = buf.readUInt16BE(off + 2);
  const id = buf.readUInt16BE(off + 4);
  const frag = buf.readUInt16BE(off + 6);
  const ttl = buf[off + 8];
  const protocol = buf[off + 9];
  const checksum = buf.readUInt16BE(off + 10);
  let s = `${PROTOCOLS[protocol] ?? `unknown 0x${hex(protocol, 2)}`}: ${formatIpv4(buf.readUInt32BE(off + 12))} -> ${formatIpv4(buf.readUInt32BE(off + 16))}`;
  s += `\n  tos 0x${hex(tos, 2)}, ttl ${ttl}, length ${length}, checksum 0x${hex(checksum, 4)}`;
  if (ihl >= 20 && ihl <= len) {
    const should = ipChecksum(buf, off, ihl);
    if (should !== checksum) s += ` (should be 0x${hex(should, 4)})`;
  }
  s += ` dscp ${DSCP[tos >> 2] ?? 'unknown'} ecn ${ECN[tos & 3]}`;
  s += `\n  fragment id 0x${hex(id, 4)}`;
  const offset = 8 * (frag & 0x1fff);
  if (offset !== 0) s += ` offset ${offset}`;
  const flags = frag & 0xe000;
  if (flags !== 0) s += `, flags ${frag & 0x2000 ? 'MORE_FRAGMENTS' : ''}${frag & 0x4000 ? 'DONT_FRAGMENT' : ''}${frag & 0x8000 ? 'CONGESTION' : ''}`;
  if (offset !== 0 || ihl < 20) return s;
  const l4 = off + ihl;
  const room = Math.min(len, length) - ihl;
  if (protocol === 1 && room >= 4) s += `\n${formatIcmp4(buf, l4, room)}`;
  else if (protocol === 6 && room >= 20) s += `\n${formatTcp(buf, l4)}`;
  else if (protocol === 17 && room >= 8) s += `\nUDP: ${buf.readUInt16BE(l4)} -> ${buf.readUInt16BE(l4 + 2)}\n  length ${buf.readUInt16BE(l4 + 4)}, checksum 0x${hex(buf.readUInt16BE(l4 + 6), 4)}`;
  return s;
}

function formatIcmp4(buf: Buffer, off: number, room: number): string {
  const type = buf[off];
  const code = buf[off + 1];
  const name = ICMP_TYPES[type] ?? `unknown ${type}`;
  let s = `ICMP ${name}${code !== 0 ? ` code ${code}` : ''} checksum 0x${buf.readUInt16BE(off + 2).toString(16)}`;
  if ((type === 0 || type === 8) && room >= 8) s += ` id ${buf.readUInt16BE(off + 4)} seq ${buf.readUInt16BE(off + 6)}`;
  return s;
}

function formatTcp(buf: Buffer, off: number): string {
  const flags = buf[off + 13];
  let names = `0x${hex(flags, 2)}`;
  TCP_FLAGS.forEach((n, i) => {
    if (flags & (1 << i)) names += ` ${n}`;
  });
  return (
    `TCP: ${buf.readUInt16BE(off)} -> ${buf.readUInt16BE(off + 2)}` +
    `\n  seq. 0x${hex(buf.readUInt32BE(off + 4), 8)} ack 0x${hex(buf.readUInt32BE(off + 8), 8)}` +
    `\n  flags ${names}, tcp header: ${(buf[off + 12] >> 4) * 4} bytes` +
    `\n  window ${buf.readUInt16BE(off + 14)}, checksum 0x${hex(buf.readUInt16BE(off + 16), 4)}`
  );
}

/** An ARP packet: `request, type ethernet/IP4, address size 6/4` and `<sha>/<spa> -> <tha>/<tpa>`. */
export function formatArpTrace(buf: Buffer, off: number, len: number): string {
  if (len < 28) return `ARP packet truncated (${len} bytes)`;
  const op = buf.readUInt16BE(off + 6);
  const opName = op === 1 ? 'request' : op === 2 ? 'reply' : `opcode ${op}`;
  const htype = buf.readUInt16BE(off) === 1 ? 'ethernet' : `0x${hex(buf.readUInt16BE(off), 4)}`;
  const ptype = buf.readUInt16BE(off + 2) === 0x0800 ? 'IP4' : `0x${hex(buf.readUInt16BE(off + 2), 4)}`;
  return (
    `${opName}, type ${htype}/${ptype}, address size ${buf[off + 4]}/${buf[off + 5]}` +
    `\n${formatMac(buf, off + 8)}/${formatIpv4(buf.readUInt32BE(off + 14))} -> ${formatMac(buf, off + 18)}/${formatIpv4(buf.readUInt32BE(off + 24))}`
  );
}

/**
 * A whole frame, as VPP's output nodes trace it: the Ethernet line, then the ARP or IPv4
 * packet inside it.
 */
export function formatFrameTrace(buf: Buffer, off: number, len: number, strippedTpid = 0, strippedTci = 0): string {
  let s = formatEthernetTrace(buf, off, len, strippedTpid, strippedTci);
  const { type, at } = ethernetPayload(buf, off, len);
  const room = off + len - at;
  if (type === 0x0800) s += `\n${formatIp4Trace(buf, at, room)}`;
  else if (type === 0x0806) s += `\n${formatArpTrace(buf, at, room)}`;
  return s;
}

/**
 * af-packet-input's line. We do not see the tpacket header in JS; what the C drain hands over
 * (length, the VLAN metadata, the checksum flags) is shown in its place.
 */
export function formatAfPacketTrace(hwIfIndex: number, nextIndex: number, ringVersion: number, len: number, vlanTpid: number, vlanTci: number, flags: number): string {
  return (
    `af_packet: hw_if_index ${hwIfIndex} rx-queue 0 next-index ${nextIndex}` +
    `\n  tpacket${ringVersion}_hdr:` +
    `\n    len ${len} snaplen ${len} vlan ${vlanTpid !== 0 ? vlanTci & 0xfff : 0} vlan_tpid ${vlanTpid} rx-flags 0x${hex(flags, 2)}`
  );
}

/** The first `max` bytes of a frame as VPP's format_hex_bytes prints them in ip4-rewrite: 32 a line. */
export function formatHexTrace(buf: Buffer, off: number, len: number, max = 64): string {
  const n = Math.min(len, max);
  const lines: string[] = [];
  for (let i = 0; i < n; i += 32) lines.push(`${hex(i, 8)}: ${buf.toString('hex', off + i, off + Math.min(i + 32, n))}`);
  return lines.join('\n');
}
