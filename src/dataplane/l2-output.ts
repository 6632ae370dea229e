/**
 * l2-output: the L2 cross-connect. Applies the receiving interface's tag rewrite (VPP's
 * ingress VTR), then the inverse of the sending interface's rewrite and, for a sub-interface
 * as output, its own tag, and sends the frame.
 */
import { ETHERTYPE_VLAN } from '../wire/ethernet.js';
import type { Dataplane } from './dataplane.js';
import type { TagRewrite } from './interface.js';

const MAX_TAGS = 2;

export function runL2Output(dp: Dataplane, _node: never): void {
  const node = dp.nodes.l2Output;
  const e = node.e;
  const f = dp.frames;
  const data = f.data;
  const tpids = [0, 0, 0];
  const tcis = [0, 0, 0];
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const rx = dp.interfaces[f.sw[i] - 1];
    const out = rx.xconnect!;
    if (!out.up) {
      dp.drop(node, i, e.outputDown);
      continue;
    }
    // The logical tag stack of the frame, outermost first.
    let tags = f.tagCount[i];
    tpids[0] = f.tpid0[i];
    tcis[0] = f.tci0[i];
    tpids[1] = f.tpid1[i];
    tcis[1] = f.tci1[i];
    // A frame received on a sub-interface matched its tag; in VPP the tag stays on the frame
    // unless the ingress rewrite removes it.
    let ok = applyRewrite(rx.tagRewrite, false, tpids, tcis, tags);
    if (ok < 0) {
      dp.drop(node, i, ok === -1 ? e.noTagToPop : e.tooManyTags);
      continue;
    }
    tags = ok;
    // Egress: the inverse of the output interface's rewrite (pop ↔ push its own VLAN).
    ok = applyRewrite(out.tagRewrite, true, tpids, tcis, tags, out.isSub ? out.vlanId : 0);
    if (ok < 0) {
      dp.drop(node, i, ok === -1 ? e.noTagToPop : e.tooManyTags);
      continue;
    }
    tags = ok;
    const hw = out.hw;
    const tx = hw.tx;
    if (tx.full) dp.flush();
    const slot = tx.nextSlot();
    const payloadStart = f.typeOff[i];
    const payloadLength = f.off[i] + f.len[i] - payloadStart;
    const frameLength = 12 + tags * 4 + payloadLength;
    if (frameLength > tx.slotSize) {
      dp.drop(node, i, e.tooBig);
      continue;
    }
    data.copy(tx.data, slot, f.off[i], f.off[i] + 12);
    let p = slot + 12;
    for (let t = 0; t < tags; t++) {
      tx.data.writeUInt16BE(tpids[t], p);
      tx.data.writeUInt16BE(tcis[t], p + 2);
      p += 4;
    }
    data.copy(tx.data, p, payloadStart, payloadStart + payloadLength);
    node.errors[e.forwarded]++;
    // commitFrame counts TX; it expects the L3 length after its own L2 header, so commit directly.
    tx.commit(Math.max(frameLength, 60));
    if (frameLength < 60) tx.data.fill(0, slot + frameLength, slot + 60);
    out.counters.txPackets++;
    out.counters.txBytes += frameLength;
    if (out.isSub) {
      hw.sw.counters.txPackets++;
      hw.sw.counters.txBytes += frameLength;
    }
    dp.markDirty(hw);
  }
}

/**
 * Applies a rewrite to the tag stack in place; returns the new tag count, -1 when a pop finds
 * no tag, -2 when a push would exceed two tags. `inverse` applies the egress direction.
 */
function applyRewrite(
  rewrite: TagRewrite,
  inverse: boolean,
  tpids: number[],
  tcis: number[],
  tags: number,
  ownVlan = 0,
): number {
  if (rewrite === null) return tags;
  const pop = (rewrite.op === 'pop') !== inverse;
  if (pop) {
    if (tags === 0) return -1;
    tpids[0] = tpids[1];
    tcis[0] = tcis[1];
    return tags - 1;
  }
  if (tags >= MAX_TAGS) return -2;
  const vlan = rewrite.op === 'push' ? rewrite.vlanId : ownVlan;
  tpids[1] = tpids[0];
  tcis[1] = tcis[0];
  tpids[0] = ETHERTYPE_VLAN;
  tcis[0] = vlan;
  return tags + 1;
}
