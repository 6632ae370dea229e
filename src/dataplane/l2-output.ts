/**
 * l2-output: the L2 cross-connect. Applies the receiving interface's tag rewrite (VPP's
 * ingress VTR), then the inverse of the sending interface's rewrite and, for a sub-interface
 * as output, its own tag, and sends the frame.
 */
import { ETHERTYPE_VLAN } from '../wire/ethernet.js';
import type { NodeContext } from './context.js';
import type { TagRewrite } from './interface.js';
import { defineNode, err, info } from './node.js';
import { copyBytes, copyMac, write16 } from '../wire/bytes.js';

const MAX_TAGS = 2;

export function createL2Output(capacity: number) {
  const node = defineNode(
    'l2-output',
    {
      forwarded: info('L2 frames forwarded'),
      outputDown: err('output interface down'),
      tooManyTags: err('tag rewrite would exceed two tags'),
      noTagToPop: err('tag rewrite pop on an untagged frame'),
      tooBig: err('frame larger than the output interface accepts'),
    },
    ['interface-output', 'error-drop'],
    capacity,
  );
  const tpids = [0, 0, 0];
  const tcis = [0, 0, 0];
  node.run = (ctx) => runL2Output(node, ctx, tpids, tcis);
  return node;
}

type L2OutputNode = ReturnType<typeof createL2Output>;

function runL2Output(node: L2OutputNode, ctx: NodeContext, tpids: number[], tcis: number[]): void {
  const e = node.e;
  const f = ctx.frames;
  const data = f.data;
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const rx = ctx.interfaces[f.sw[i] - 1];
    const out = rx.xconnect!;
    if (!out.up) {
      ctx.drop(node, i, e.outputDown);
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
      ctx.drop(node, i, ok === -1 ? e.noTagToPop : e.tooManyTags);
      continue;
    }
    tags = ok;
    // Egress: the inverse of the output interface's rewrite (pop ↔ push its own VLAN).
    ok = applyRewrite(out.tagRewrite, true, tpids, tcis, tags, out.isSub ? out.vlanId : 0);
    if (ok < 0) {
      ctx.drop(node, i, ok === -1 ? e.noTagToPop : e.tooManyTags);
      continue;
    }
    tags = ok;
    const hw = out.hw;
    const tx = hw.tx;
    if (tx.full) ctx.output.flush();
    const slot = tx.nextSlot();
    const payloadStart = f.typeOff[i];
    const payloadLength = f.off[i] + f.len[i] - payloadStart;
    const frameLength = 12 + tags * 4 + payloadLength;
    if (frameLength > tx.slotSize) {
      ctx.drop(node, i, e.tooBig);
      continue;
    }
    copyMac(tx.data, slot, data, f.off[i]);
    copyMac(tx.data, slot + 6, data, f.off[i] + 6);
    let p = slot + 12;
    for (let t = 0; t < tags; t++) {
      write16(tx.data, p, tpids[t]);
      write16(tx.data, p + 2, tcis[t]);
      p += 4;
    }
    copyBytes(tx.data, p, data, payloadStart, payloadLength);
    node.errors[e.forwarded]++;
    const traceId = ctx.tracer.tracedThisVector ? ctx.tracer.frameTrace[i] : -1;
    if (traceId >= 0) ctx.tracer.record(traceId, 'l2-output', `l2-output: sw_if_index ${out.index} (${out.name}) tags ${tags}`);
    ctx.output.commitRaw(out, frameLength, 0, 0, traceId);
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
