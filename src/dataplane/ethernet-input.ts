/**
 * ethernet-input: finds each frame's VLAN tags (from kernel metadata or inline), maps it to
 * the hardware interface or the exact-match dot1q sub-interface, and hands it to L2
 * (cross-connect) or to arp-input / ip4-input.
 */
import type { RxVector } from '../io/device.js';
import { formatMac, isBroadcastMac, isMulticastMac, macEquals } from '../wire/address.js';
import { read16 } from '../wire/bytes.js';
import {
  ETH_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
  isVlanTpid,
  VLAN_TAG_LEN,
} from '../wire/ethernet.js';
import type { NodeContext } from './context.js';
import type { HardwareInterface, SwInterface } from './interface.js';
import { defineNode, err } from './node.js';

export function createEthernetInput(capacity: number) {
  return defineNode(
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
      ip6InL2Broadcast: err('ip6 packet in an L2 broadcast frame'),
      ip4InL2Broadcast: err('ip4 packet in an L2 broadcast frame'),
      unknownType: err('unknown ethernet type'),
    },
    ['l2-output', 'arp-input', 'ip4-input', 'ip6-input', 'error-drop'],
    capacity,
  );
}

export type EthernetInputNode = ReturnType<typeof createEthernetInput>;

/** Classifies frames rx[base .. base+n) of `hw` into the vector and onto the next nodes' queues. */
export function runEthernetInput(node: EthernetInputNode, ctx: NodeContext, hw: HardwareInterface, rx: RxVector, base: number, n: number): void {
  const e = node.e;
  const a = node.a;
  const f = ctx.frames;
  const data = rx.data;
  const hwSw = hw.sw;
  const traced = ctx.tracer.tracedThisVector;
  for (let i = 0; i < n; i++) {
    const off = rx.offset[base + i];
    const len = rx.length[base + i];
    f.off[i] = off;
    f.len[i] = len;
    f.flags[i] = rx.flags[base + i];
    f.sw[i] = 0;
    f.tagCount[i] = 0;
    f.rxTpid[i] = rx.vlanTpid[base + i];
    f.rxTci[i] = rx.vlanTci[base + i];
    hwSw.counters.rxPackets++;
    hwSw.counters.rxBytes += len;
    if (len < ETH_HEADER_LEN) {
      ctx.drop(node, i, e.runt);
      continue;
    }
    // The tag stack: a tag the kernel stripped comes first (it was outermost), then inline tags.
    let tags = 0;
    if (rx.vlanTpid[base + i] !== 0) {
      f.tpid0[i] = rx.vlanTpid[base + i];
      f.tci0[i] = rx.vlanTci[base + i];
      tags = 1;
    }
    let typeOff = off + 12;
    const end = off + len;
    let type = read16(data, typeOff);
    let truncated = false;
    while (isVlanTpid(type) && tags < 3) {
      if (typeOff + VLAN_TAG_LEN + 2 > end) {
        truncated = true;
        break;
      }
      const tci = read16(data, typeOff + 2);
      if (tags === 0) {
        f.tpid0[i] = type;
        f.tci0[i] = tci;
      } else if (tags === 1) {
        f.tpid1[i] = type;
        f.tci1[i] = tci;
      }
      tags++;
      typeOff += VLAN_TAG_LEN;
      type = read16(data, typeOff);
    }
    if (truncated) {
      ctx.drop(node, i, e.truncatedTag);
      continue;
    }
    // Priority-tagged frames (VID 0) are treated as untagged, as common practice has it.
    if (tags === 1 && (f.tci0[i] & 0x0fff) === 0) tags = 0;
    f.tagCount[i] = tags;
    f.typeOff[i] = typeOff;

    let sw: SwInterface;
    if (tags === 0) {
      sw = hwSw;
    } else if (tags === 1 && f.tpid0[i] === ETHERTYPE_VLAN) {
      const sub = hw.subByVlan.get(f.tci0[i] & 0x0fff);
      if (sub === undefined) {
        ctx.drop(node, i, e.unknownVlan);
        continue;
      }
      sw = sub;
      sw.counters.rxPackets++;
      sw.counters.rxBytes += len;
    } else {
      ctx.drop(node, i, e.qinq);
      continue;
    }
    f.sw[i] = sw.index;
    if (traced && ctx.tracer.frameTrace[i] >= 0) traceFrame(ctx, i, data, off, type, tags, f.tci0[i], f.tci1[i], hw, sw);
    if (!sw.up) {
      ctx.drop(node, i, e.interfaceDown);
      continue;
    }
    if (sw.xconnect !== null) {
      node.toNext(a['l2-output'], i);
      continue;
    }
    const broadcast = isBroadcastMac(data, off);
    if (!broadcast && !macEquals(data, off, sw.mac, 0)) {
      // IPv6 multicast (33:33:…): ip6-input checks the group against the ones this interface joined.
      const ip6Multicast = type === ETHERTYPE_IPV6 && sw.ip6 !== null && data[off] === 0x33 && data[off + 1] === 0x33;
      if (!ip6Multicast) {
        ctx.drop(node, i, isMulticastMac(data, off) ? e.multicast : e.macMismatch);
        continue;
      }
    }
    const l3 = typeOff + 2;
    f.l3Off[i] = l3;
    f.l3Len[i] = end - l3;
    if (type === ETHERTYPE_IPV4) {
      sw.counters.ip4++;
      // RFC 1122 3.3.6: unicast IP in a link-layer broadcast is discarded (we own no broadcast address).
      if (broadcast) {
        ctx.drop(node, i, e.ip4InL2Broadcast);
        continue;
      }
      node.toNext(a['ip4-input'], i);
    } else if (type === ETHERTYPE_ARP) {
      node.toNext(a['arp-input'], i);
    } else if (type === ETHERTYPE_IPV6) {
      sw.counters.ip6++;
      if (sw.ip6 === null) ctx.drop(node, i, e.ip6);
      else if (broadcast) ctx.drop(node, i, e.ip6InL2Broadcast); // IPv6 never uses the broadcast MAC (RFC 2464)
      else node.toNext(a['ip6-input'], i);
    } else {
      ctx.drop(node, i, e.unknownType);
    }
  }
}

const TYPE_NAMES: Record<number, string> = { [ETHERTYPE_IPV4]: 'IP4', [ETHERTYPE_ARP]: 'ARP', [ETHERTYPE_IPV6]: 'IP6' };

function traceFrame(ctx: NodeContext, i: number, data: Buffer, off: number, type: number, tags: number, tci0: number, tci1: number, hw: HardwareInterface, sw: SwInterface): void {
  const name = TYPE_NAMES[type] ?? `0x${type.toString(16).padStart(4, '0')}`;
  let line = `${name}: ${formatMac(data, off + 6)} -> ${formatMac(data, off)}`;
  if (tags >= 1) line += ` 802.1q vlan ${tci0 & 0xfff}`;
  if (tags >= 2) line += ` 802.1q vlan ${tci1 & 0xfff}`;
  ctx.tracer.record(ctx.tracer.frameTrace[i], 'ethernet-input', `frame: flags 0x${ctx.frames.flags[i].toString(16)}, hw-if-index ${hw.sw.index}, sw-if-index ${sw.index}`, line);
}
