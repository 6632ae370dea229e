/**
 * arp-input: answers ARP requests for our addresses and feeds the neighbour cache (RFC 826's
 * merge rule: learn the sender when the packet is for us or updates an entry we have; a reply
 * to us confirms reachability).
 */
import { macEquals, sameSubnet } from '../wire/address.js';
import { formatArpTrace } from './trace-format.js';
import {
  ARP_LEN,
  ARP_REPLY,
  ARP_REQUEST,
  arpOperation,
  arpSenderIp,
  arpSenderMacOffset,
  arpTargetIp,
  ArpError,
  checkArp,
  writeArp,
} from '../wire/arp.js';
import { ETHERTYPE_ARP } from '../wire/ethernet.js';
import type { NodeContext } from './context.js';
import type { SwInterface } from './interface.js';
import { defineNode, err, info } from './node.js';

export function createArpInput(capacity: number) {
  const node = defineNode(
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
      badSenderMac: err('ARP sender MAC is broadcast, multicast, zero or ours'),
    },
    ['interface-output', 'error-drop'],
    capacity,
  );
  node.run = (ctx) => runArpInput(node, ctx);
  return node;
}

type ArpInputNode = ReturnType<typeof createArpInput>;

/** Writes an ARP packet onto `sw` (replies go straight to the asker: ARP is below the FIB). */
export function sendArp(ctx: NodeContext, sw: SwInterface, op: number, dstMac: Buffer, senderIp: number, targetMac: Buffer, targetIp: number, traceId = -1): void {
  const off = ctx.output.beginFrame(sw, dstMac, ETHERTYPE_ARP);
  writeArp(sw.hw.tx.data, off, op, sw.mac, senderIp, targetMac, targetIp);
  ctx.output.commitFrame(sw, ARP_LEN, 0, 0, traceId);
}

function runArpInput(node: ArpInputNode, ctx: NodeContext): void {
  const e = node.e;
  const f = ctx.frames;
  const data = f.data;
  const now = ctx.ip4.clockMs; // read once per vector by the dataplane
  const traced = ctx.tracer.tracedThisVector;
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const sw = ctx.interfaces[f.sw[i] - 1];
    const off = f.l3Off[i];
    const traceId = traced ? ctx.tracer.frameTrace[i] : -1;
    if (checkArp(data, off, f.l3Len[i]) !== ArpError.None) {
      ctx.drop(node, i, e.malformed);
      continue;
    }
    if (traceId >= 0) ctx.tracer.record(traceId, 'arp-input', formatArpTrace(data, off, f.l3Len[i]));
    if (sw.addresses.length === 0) {
      ctx.drop(node, i, e.noAddress);
      continue;
    }
    const macOff = off + arpSenderMacOffset;
    // A neighbour's MAC is unicast, not all zeros, and not ours (a reflection or a spoof).
    if ((data[macOff] & 1) === 1 || isZeroMac(data, macOff) || macEquals(data, macOff, sw.mac, 0)) {
      ctx.drop(node, i, e.badSenderMac);
      continue;
    }
    const senderIp = arpSenderIp(data, off);
    const targetIp = arpTargetIp(data, off);
    const op = arpOperation(data, off);
    if (senderIp === 0 && op === ARP_REQUEST && sw.ownAddress(targetIp) !== undefined) {
      // An RFC 5227 probe for our address: answer, so that the prober sees the conflict.
      const proberMac = data.subarray(macOff, macOff + 6);
      sendArp(ctx, sw, ARP_REPLY, proberMac, targetIp, proberMac, 0, traceId);
      node.errors[e.repliesSent]++;
      continue;
    }
    if (sw.ownAddress(senderIp) !== undefined) {
      ctx.drop(node, i, e.ourSender);
      continue;
    }
    let inSubnet = false;
    for (const a of sw.addresses) if (sameSubnet(a.address, senderIp, a.prefixLength)) inSubnet = true;
    if (!inSubnet) {
      ctx.drop(node, i, e.wrongSubnet);
      continue;
    }
    const forUs = sw.ownAddress(targetIp) !== undefined;
    // A request for our address may create the sender's entry (RFC 826); a reply only updates one
    // we have, and confirms it only when it came unicast to our MAC (an answer to our request, as
    // Linux treats a PACKET_HOST reply); a broadcast reply is an unconfirmed update.
    const unicastToUs = macEquals(data, f.off[i], sw.mac, 0);
    ctx.neighbors.learn(sw, senderIp, data, macOff, now, forUs && op === ARP_REPLY && unicastToUs, forUs && op === ARP_REQUEST);
    if (op === ARP_REQUEST && senderIp === targetIp) {
      node.errors[e.gratuitous]++;
      continue;
    }
    if (!forUs) {
      ctx.drop(node, i, e.notForUs);
      continue;
    }
    if (op === ARP_REPLY) {
      node.errors[e.repliesReceived]++;
      continue;
    }
    const senderMac = data.subarray(macOff, macOff + 6);
    sendArp(ctx, sw, ARP_REPLY, senderMac, targetIp, senderMac, senderIp, traceId);
    node.errors[e.repliesSent]++;
  }
}

function isZeroMac(buf: Buffer, off: number): boolean {
  return (buf[off] | buf[off + 1] | buf[off + 2] | buf[off + 3] | buf[off + 4] | buf[off + 5]) === 0;
}
