/**
 * ethernet-input: finds each frame's VLAN tags (from kernel metadata or inline), maps it to
 * the hardware interface or the exact-match dot1q sub-interface, and hands it to L2
 * (cross-connect) or to arp-input / ip4-input.
 */
import type { RxVector } from '../io/device.js';
import { isBroadcastMac, isMulticastMac, macEquals } from '../wire/address.js';
import {
  ETH_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
  isVlanTpid,
  VLAN_TAG_LEN,
} from '../wire/ethernet.js';
import type { Dataplane } from './dataplane.js';
import type { HardwareInterface, SwInterface } from './interface.js';

export function runEthernetInput(dp: Dataplane, hw: HardwareInterface, rx: RxVector, base: number, n: number): void {
  const node = dp.nodes.ethernetInput;
  const e = node.e;
  const f = dp.frames;
  const data = rx.data;
  f.data = data;
  f.count = n;
  f.hwIndex = dp.hardware.indexOf(hw);
  const hwSw = hw.sw;
  const nodes = dp.nodes;
  for (let i = 0; i < n; i++) {
    const off = rx.offset[base + i];
    const len = rx.length[base + i];
    f.off[i] = off;
    f.len[i] = len;
    f.flags[i] = rx.flags[base + i];
    f.sw[i] = 0;
    hwSw.counters.rxPackets++;
    hwSw.counters.rxBytes += len;
    if (len < ETH_HEADER_LEN) {
      node.errors[e.runt]++;
      hwSw.counters.drops++;
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
    let type = data.readUInt16BE(typeOff);
    let truncated = false;
    while (isVlanTpid(type) && tags < 3) {
      if (typeOff + VLAN_TAG_LEN + 2 > end) {
        truncated = true;
        break;
      }
      const tci = data.readUInt16BE(typeOff + 2);
      if (tags === 0) {
        f.tpid0[i] = type;
        f.tci0[i] = tci;
      } else if (tags === 1) {
        f.tpid1[i] = type;
        f.tci1[i] = tci;
      }
      tags++;
      typeOff += VLAN_TAG_LEN;
      type = data.readUInt16BE(typeOff);
    }
    if (truncated) {
      node.errors[e.truncatedTag]++;
      hwSw.counters.drops++;
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
        node.errors[e.unknownVlan]++;
        hwSw.counters.drops++;
        continue;
      }
      sw = sub;
      sw.counters.rxPackets++;
      sw.counters.rxBytes += len;
    } else {
      node.errors[e.qinq]++;
      hwSw.counters.drops++;
      continue;
    }
    f.sw[i] = sw.index;
    if (!sw.up) {
      dp.drop(node, i, e.interfaceDown);
      continue;
    }
    if (sw.xconnect !== null) {
      nodes.l2Output.enqueue(i);
      continue;
    }
    const broadcast = isBroadcastMac(data, off);
    if (!broadcast && !macEquals(data, off, sw.mac, 0)) {
      dp.drop(node, i, isMulticastMac(data, off) ? e.multicast : e.macMismatch);
      continue;
    }
    const l3 = typeOff + 2;
    f.l3Off[i] = l3;
    f.l3Len[i] = end - l3;
    if (type === ETHERTYPE_IPV4) {
      sw.counters.ip4++;
      // RFC 1122 3.3.6: unicast IP in a link-layer broadcast is discarded (we own no broadcast address).
      if (broadcast) {
        dp.drop(node, i, e.ip4InL2Broadcast);
        continue;
      }
      nodes.ip4Input.enqueue(i);
    } else if (type === ETHERTYPE_ARP) {
      nodes.arpInput.enqueue(i);
    } else if (type === ETHERTYPE_IPV6) {
      sw.counters.ip6++;
      dp.drop(node, i, e.ip6);
    } else {
      dp.drop(node, i, e.unknownType);
    }
  }
}
