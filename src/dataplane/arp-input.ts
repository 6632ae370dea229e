/**
 * arp-input: answers ARP requests for our addresses and keeps the neighbour table
 * (RFC 826's merge rule: learn the sender when the packet is for us or updates an entry).
 */
import { sameSubnet } from '../wire/address.js';
import {
  ARP_REPLY,
  ARP_REQUEST,
  arpOperation,
  arpSenderIp,
  arpSenderMacOffset,
  arpTargetIp,
  ArpError,
  checkArp,
} from '../wire/arp.js';
import type { Dataplane } from './dataplane.js';

export function runArpInput(dp: Dataplane, _node: never): void {
  const node = dp.nodes.arpInput;
  const e = node.e;
  const f = dp.frames;
  const data = f.data;
  const now = dp.now();
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const sw = dp.interfaces[f.sw[i] - 1];
    const off = f.l3Off[i];
    if (checkArp(data, off, f.l3Len[i]) !== ArpError.None) {
      dp.drop(node, i, e.malformed);
      continue;
    }
    if (sw.addresses.length === 0) {
      dp.drop(node, i, e.noAddress);
      continue;
    }
    if ((data[off + arpSenderMacOffset] & 1) === 1) {
      dp.drop(node, i, e.badSenderMac);
      continue;
    }
    const senderIp = arpSenderIp(data, off);
    const targetIp = arpTargetIp(data, off);
    const op = arpOperation(data, off);
    if (senderIp === 0 && op === ARP_REQUEST && sw.ownAddress(targetIp) !== undefined) {
      // An RFC 5227 probe for our address: answer, so that the prober sees the conflict.
      const proberMac = data.subarray(off + arpSenderMacOffset, off + arpSenderMacOffset + 6);
      dp.sendArp(sw, ARP_REPLY, proberMac, targetIp, proberMac, 0);
      node.errors[e.repliesSent]++;
      continue;
    }
    if (sw.ownAddress(senderIp) !== undefined) {
      dp.drop(node, i, e.ourSender);
      continue;
    }
    let inSubnet = false;
    for (const a of sw.addresses) if (sameSubnet(a.address, senderIp, a.prefixLength)) inSubnet = true;
    if (!inSubnet) {
      dp.drop(node, i, e.wrongSubnet);
      continue;
    }
    const forUs = sw.ownAddress(targetIp) !== undefined;
    if (forUs || dp.neighbors.lookup(sw, senderIp) !== undefined) {
      dp.neighbors.learn(sw, senderIp, data, off + arpSenderMacOffset, now);
    }
    if (op === ARP_REQUEST && senderIp === targetIp) {
      node.errors[e.gratuitous]++;
      continue;
    }
    if (!forUs) {
      dp.drop(node, i, e.notForUs);
      continue;
    }
    if (op === ARP_REPLY) {
      node.errors[e.repliesReceived]++;
      continue;
    }
    const senderMac = data.subarray(off + arpSenderMacOffset, off + arpSenderMacOffset + 6);
    dp.sendArp(sw, ARP_REPLY, senderMac, targetIp, senderMac, senderIp);
    node.errors[e.repliesSent]++;
  }
}
