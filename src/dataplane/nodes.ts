/**
 * The graph nodes of the dataplane and their named error (disposition) counters.
 *
 * Every received frame ends in exactly one counter of exactly one node: either a drop reason
 * (severity 'error') or what was done with it (severity 'info'), so `show errors` accounts for
 * every frame.
 */
import { GraphNode } from './node.js';

export type Severity = 'error' | 'info';

export interface ErrorSpec {
  readonly name: string;
  readonly severity: Severity;
}

function node<const T extends Record<string, ErrorSpec>>(name: string, specs: T, capacity: number) {
  const keys = Object.keys(specs) as (keyof T)[];
  const n = new GraphNode(
    name,
    keys.map((k) => specs[k].name),
    capacity,
  ) as GraphNode & { severities: Severity[]; e: { [K in keyof T]: number } };
  n.severities = keys.map((k) => specs[k].severity);
  n.e = Object.fromEntries(keys.map((k, i) => [k, i])) as { [K in keyof T]: number };
  return n;
}

const err = (name: string): ErrorSpec => ({ name, severity: 'error' });
const info = (name: string): ErrorSpec => ({ name, severity: 'info' });

export function createNodes(capacity: number) {
  return {
    ethernetInput: node(
      'ethernet-input',
      {
        runt: err('runt frame (shorter than an Ethernet header)'),
        truncatedTag: err('truncated VLAN tag'),
        qinq: err('QinQ / 802.1ad frames not supported'),
        unknownVlan: err('unknown vlan'),
        interfaceDown: err('interface down'),
        macMismatch: err('l3 mac mismatch'),
        multicast: err('multicast frame not for us'),
        ip6: err('ip6 not enabled'),
        ip4InL2Broadcast: err('ip4 packet in an L2 broadcast frame'),
        unknownType: err('unknown ethernet type'),
      },
      capacity,
    ),
    l2Output: node(
      'l2-output',
      {
        forwarded: info('L2 frames forwarded'),
        outputDown: err('output interface down'),
        tooManyTags: err('tag rewrite would exceed two tags'),
        noTagToPop: err('tag rewrite pop on an untagged frame'),
        tooBig: err('frame larger than the output interface accepts'),
      },
      capacity,
    ),
    arpInput: node(
      'arp-input',
      {
        repliesSent: info('ARP replies sent'),
        repliesReceived: info('ARP replies received'),
        gratuitous: info('gratuitous ARP received'),
        malformed: err('malformed ARP packet'),
        notForUs: err('ARP request for an address that is not ours'),
        noAddress: err('interface has no IPv4 address'),
        wrongSubnet: err('ARP sender not in a connected subnet'),
        ourSender: err('ARP with our own sender address (address conflict?)'),
        badSenderMac: err('ARP sender MAC is broadcast or multicast'),
      },
      capacity,
    ),
    ip4Input: node(
      'ip4-input',
      {
        tooShort: err('ip4 packet too short'),
        badVersion: err('ip4 bad version'),
        badHeaderLength: err('ip4 bad header length'),
        badLength: err('ip4 length exceeds frame'),
        badChecksum: err('ip4 bad header checksum'),
        fragment: err('ip4 fragments not supported'),
        notForUs: err('ip4 destination is not a local address'),
        badSource: err('ip4 source is broadcast, multicast, zero, loopback or ours'),
        noAddress: err('interface has no IPv4 address'),
        unknownProtocol: err('ip4 protocol not handled'),
      },
      capacity,
    ),
    icmpInput: node(
      'ip4-icmp-input',
      {
        echoReplies: info('echo replies sent'),
        malformed: err('icmp packet too short'),
        badChecksum: err('icmp bad checksum'),
        unhandledType: err('icmp type not handled'),
        noRoom: err('reply does not fit the interface MTU'),
      },
      capacity,
    ),
    tcpInput: node(
      'tcp4-input',
      {
        delivered: info('segments delivered to TCP'),
        tooShort: err('tcp segment too short'),
        badChecksum: err('tcp bad checksum'),
        noStack: err('no TCP listener configured'),
      },
      capacity,
    ),
  };
}

export type Nodes = ReturnType<typeof createNodes>;
