/**
 * TX offload for TCP over IPv6: checksum offload with the IPv6 pseudo-header sum and GSO
 * (VIRTIO_NET_HDR_GSO_TCPV6), as for IPv4 (dataplane-tcp-offload.test.ts).
 *
 * - The virtio_net_hdr the addon builds (its vnetHeader test hook runs send()'s fill_vnet) has
 *   the fields include/uapi/linux/virtio_net.h defines and virtio_net_hdr_to_skb() checks:
 *   NEEDS_CSUM, csum_start = the TCP header, csum_offset 16, hdr_len = up to the end of TCP's
 *   header, gso_type TCPV4 / TCPV6 by the EtherType (802.1Q tags skipped), gso_size = the MSS.
 * - completeOffload (what MemoryDevice does in the kernel's place) sums the frame as the kernel
 *   does, field included: a frame whose field is not the IPv6 pseudo-header sum comes out wrong.
 * - A bulk transfer between two dataplanes over IPv6 leaves as super-segments with their payload
 *   sent by reference, and arrives intact (the client checks every TCP checksum).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { DataplaneSegmentSink, TcpHost } from '../../src/dataplane/tcp-host.js';
import { completeOffload } from '../../src/io/offload.js';
import { createMemoryPair, MemoryDevice } from '../../src/io/memory-device.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { finish, sumWords } from '../../src/wire/checksum.js';
import { loadAddon } from '../../src/wire/addon.js';
import { parseIpv6 } from '../../src/wire/ipv6-address.js';

const SERVER6 = parseIpv6('2001:db8:123::150')!;
const CLIENT6 = parseIpv6('2001:db8:123::10')!;

// include/uapi/linux/virtio_net.h
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_GSO_NONE = 0;
const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6 = 4;

interface VnetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}
const addon = loadAddon<{ vnetHeader(frame: Uint8Array, csumStart: number, gsoSize: number): VnetHeader | null }>();

/** RFC 8200 §8.1: source, destination, upper-layer length (32 bits), next header (6). */
function pseudo6(src: Buffer, dst: Buffer, len: number): number {
  return sumWords(dst, 0, 16, sumWords(src, 0, 16, (len >>> 16) + (len & 0xffff) + 6));
}

/** An Ethernet (optionally 802.1Q-tagged) IPv6/TCP frame, the TCP checksum field set to `field`. */
function frame6(payload: Buffer, opts: { vlan?: number; hl?: number; flags?: number; field?: 'pseudo' | 'zero' } = {}): { f: Buffer; t: number; hl: number } {
  const hl = opts.hl ?? 32;
  const l2 = opts.vlan !== undefined ? 18 : 14;
  const f = Buffer.alloc(l2 + 40 + hl + payload.length);
  if (opts.vlan !== undefined) {
    f.writeUInt16BE(0x8100, 12);
    f.writeUInt16BE(opts.vlan, 14);
  }
  f.writeUInt16BE(0x86dd, l2 - 2);
  const l3 = l2;
  f.writeUInt32BE(0x60012345, l3); // version 6, flow label 0x12345
  f.writeUInt16BE(hl + payload.length, l3 + 4);
  f[l3 + 6] = 6;
  f[l3 + 7] = 64;
  SERVER6.copy(f, l3 + 8);
  CLIENT6.copy(f, l3 + 24);
  const t = l3 + 40;
  f.writeUInt16BE(80, t);
  f.writeUInt16BE(40000, t + 2);
  f.writeUInt32BE(0xfffff000, t + 4); // wraps inside the frame
  f.writeUInt32BE(77, t + 8);
  f[t + 12] = (hl / 4) << 4;
  f[t + 13] = opts.flags ?? 0x19; // ACK PSH FIN
  f.writeUInt16BE(512, t + 14);
  for (let i = 20; i < hl; i++) f[t + i] = 1; // NOPs
  payload.copy(f, t + hl);
  if ((opts.field ?? 'pseudo') === 'pseudo') f.writeUInt16BE(~finish(pseudo6(SERVER6, CLIENT6, hl + payload.length)) & 0xffff, t + 16);
  return { f, t, hl };
}

test('vnetHeader: IPv6 super-frame → NEEDS_CSUM, csum_start at TCP, csum_offset 16, GSO_TCPV6, hdr_len to the end of TCP', () => {
  const { f, t, hl } = frame6(randomBytes(5000));
  assert.deepEqual(addon.vnetHeader(f, t, 1440), {
    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
    gsoType: VIRTIO_NET_HDR_GSO_TCPV6,
    hdrLen: 14 + 40 + hl,
    gsoSize: 1440,
    csumStart: 14 + 40,
    csumOffset: 16,
  });
  // Behind an 802.1Q tag (our userspace sub-interface writes the tag inline).
  const tagged = frame6(randomBytes(5000), { vlan: 123 });
  const h = addon.vnetHeader(tagged.f, tagged.t, 1440)!;
  assert.equal(h.gsoType, VIRTIO_NET_HDR_GSO_TCPV6);
  assert.equal(h.csumStart, 18 + 40);
  assert.equal(h.hdrLen, 18 + 40 + tagged.hl);
});

test('vnetHeader: checksum offload only (one MSS or less, or no gso) has gso_type NONE; IPv4 keeps GSO_TCPV4', () => {
  const small = frame6(randomBytes(1000));
  assert.deepEqual(addon.vnetHeader(small.f, small.t, 1440), { flags: 1, gsoType: VIRTIO_NET_HDR_GSO_NONE, hdrLen: 14 + 40 + 32, gsoSize: 0, csumStart: 54, csumOffset: 16 });
  const big = frame6(randomBytes(5000));
  assert.equal(addon.vnetHeader(big.f, big.t, 0)!.gsoType, VIRTIO_NET_HDR_GSO_NONE);
  // The same frame relabelled as IPv4 (the header bytes do not matter to fill_vnet, the EtherType does).
  const v4 = Buffer.from(big.f);
  v4.writeUInt16BE(0x0800, 12);
  assert.equal(addon.vnetHeader(v4, big.t, 1440)!.gsoType, VIRTIO_NET_HDR_GSO_TCPV4);
  // No csum_start: an all-zero header (the frame goes as it is); gso without it, or another EtherType: refused.
  assert.deepEqual(addon.vnetHeader(big.f, 0, 0), { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });
  assert.equal(addon.vnetHeader(big.f, 0, 1440), null);
  const arp = Buffer.from(big.f);
  arp.writeUInt16BE(0x0806, 12);
  assert.equal(addon.vnetHeader(arp, big.t, 1440), null);
});

test('completeOffload over IPv6: headers copied, payload length per piece, seq advanced (wrapping), PSH/FIN last, checksums valid', () => {
  const payload = randomBytes(4000);
  const { f, t, hl } = frame6(payload, { vlan: 123, flags: 0x99 }); // CWR ACK PSH FIN
  const segs = completeOffload(f, t, 1440);
  assert.equal(segs.length, 3);
  let seq = 0xfffff000;
  segs.forEach((s, i) => {
    const len = s.length - t - hl;
    assert.equal(len, i < 2 ? 1440 : 4000 - 2880);
    assert.ok(s.subarray(0, t - 40 + 4).equals(f.subarray(0, t - 40 + 4)), 'L2, tag, version/class/flow label copied');
    assert.equal(s.readUInt16BE(t - 40 + 4), hl + len, 'IPv6 payload length');
    assert.ok(s.subarray(t - 40 + 6, t).equals(f.subarray(t - 40 + 6, t)), 'next header, hop limit, addresses copied');
    assert.equal(s.readUInt32BE(t + 4), seq >>> 0);
    assert.ok(s.subarray(t + 20, t + hl).equals(f.subarray(t + 20, t + hl)), 'options copied');
    assert.equal(finish(sumWords(s, t, hl + len, pseudo6(SERVER6, CLIENT6, hl + len))), 0, 'TCP checksum over the IPv6 pseudo-header');
    assert.equal(s[t + 13], i === 0 ? 0x90 : i === 2 ? 0x19 : 0x10, 'CWR first only, PSH/FIN last only');
    seq += len;
  });
  assert.deepEqual(Buffer.concat(segs.map((s) => s.subarray(t + hl))), payload);
});

test('completeOffload sums as the kernel does: a checksum field that is not the pseudo-header sum gives a bad checksum', () => {
  const { f, t, hl } = frame6(randomBytes(3000), { field: 'zero' });
  for (const s of completeOffload(f, t, 1440)) {
    const len = s.length - t - hl;
    assert.notEqual(finish(sumWords(s, t, hl + len, pseudo6(SERVER6, CLIENT6, hl + len))), 0);
  }
  // One MSS, checksum only: right with the pseudo-header sum, wrong with the IPv4-style length-less sum.
  const ok = frame6(randomBytes(500));
  const [one] = completeOffload(ok.f, ok.t, 0);
  assert.equal(finish(sumWords(one, ok.t, ok.hl + 500, pseudo6(SERVER6, CLIENT6, ok.hl + 500))), 0);
});

function node6(dev: MemoryDevice, ip: Buffer, now: () => number): { dp: Dataplane; stack: TcpStack; host: TcpHost } {
  const dp = new Dataplane({ openDevice: () => dev, now });
  const name = dp.createHostInterface(dev.ifname);
  dp.setAdminState(name, true);
  dp.addAddress6(name, { address: ip, prefixLength: 64 });
  const stack = new TcpStack(new DataplaneSegmentSink(dp), { mss: 1440 });
  const host = new TcpHost(dp, stack);
  return { dp, stack, host };
}

async function transfer6(bytes: number, drop: number[] = [], pcap = false) {
  let t = 0;
  const now = () => t;
  const a = new MemoryDevice('srv0', Buffer.from([2, 0, 0, 0, 0, 1]));
  const b = new MemoryDevice('cli0', Buffer.from([2, 0, 0, 0, 0, 2]));
  a.txOffload = { checksum: true, gso: true, maxGsoBytes: 65535 };
  createMemoryPair(a, b);
  const forward = a.onSend!;
  let n = 0;
  let biggest = 0;
  a.onSend = (frame) => {
    biggest = Math.max(biggest, frame.length);
    if (drop.includes(n++)) return;
    forward(frame);
  };
  const s = node6(a, SERVER6, now);
  const c = node6(b, CLIENT6, now);
  // DAD (about a second) on both sides.
  for (let i = 0; i < 30; i++) {
    t += 100;
    s.dp.tickNeighbors();
    c.dp.tickNeighbors();
    a.deliver();
    b.deliver();
  }
  let captured = 0;
  let capturedSuper = 0;
  if (pcap) {
    s.dp.pcap = {
      options: { rx: true, tx: true, drop: true, swIndex: 0 },
      captureRx() {},
      captureDrop() {},
      captureTx(_d: Buffer, _o: number, len: number) {
        captured++;
        if (len > 1514) capturedSuper++;
      },
    };
  }
  const payload = randomBytes(bytes);
  const sHandle = s.dp.ip6Peers.intern(SERVER6, 0, null);
  s.stack.listen(sHandle, 80, (stream) => {
    stream.write(payload);
    stream.end();
    return { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
  });
  const chunks: Buffer[] = [];
  let ended = false;
  const local = c.dp.ip6Peers.intern(CLIENT6, 0, null);
  const remote = c.dp.ip6Peers.intern(SERVER6, 0, null);
  c.stack.connect(local, 40000, remote, 80, () => ({
    onData: (buf, off, len) => void chunks.push(Buffer.from(buf.subarray(off, off + len))),
    onDrain() {},
    onEnd: () => void (ended = true),
    onClose() {},
  }), t);
  c.host.kick();
  for (let i = 0; i < 10000 && !ended; i++) {
    t += 1;
    a.deliver();
    b.deliver();
    s.stack.tick(t);
    c.stack.tick(t);
    s.host.kick();
    c.host.kick();
  }
  s.host.close();
  c.host.close();
  s.dp.pcap = null;
  const got = Buffer.concat(chunks);
  return {
    intact: got.equals(payload),
    got: got.length,
    superFrames: a.superFrames,
    external: a.externalPayloads,
    retransmits: s.stack.counters.retransmits,
    badChecksums: c.dp.graph.tcp6Input.errors[c.dp.graph.tcp6Input.e.badChecksum],
    biggest,
    captured,
    capturedSuper,
  };
}

test('an IPv6 bulk transfer leaves as super-segments with the payload by reference and arrives intact', async () => {
  const r = await transfer6(2 * 1024 * 1024 + 333);
  assert.ok(r.intact, `received ${r.got} bytes`);
  assert.equal(r.badChecksums, 0);
  assert.ok(r.superFrames > 0, 'some data left as super-frames');
  assert.ok(r.external > 0, `${r.external} frames with an external payload (${r.superFrames} super-frames)`);
  assert.ok(r.biggest <= 14 + 40 + 20 + 12 + 1440, `every frame on the wire fits the MTU (${r.biggest})`);
});

test('losses inside IPv6 super-segments are repaired', async () => {
  const r = await transfer6(1024 * 1024, [40, 41, 60, 200]);
  assert.ok(r.intact);
  assert.ok(r.superFrames > 0);
  assert.ok(r.retransmits >= 4, `retransmits ${r.retransmits}`);
});

test('with a capture running, IPv6 super-segments carry their payload in the batch (as IPv4: no external iovec)', async () => {
  const r = await transfer6(512 * 1024, [], true);
  assert.ok(r.intact, `received ${r.got}`);
  assert.ok(r.superFrames > 0);
  assert.equal(r.external, 0);
  assert.ok(r.capturedSuper > 0 && r.captured > r.capturedSuper, `captured ${r.captured} frames, ${r.capturedSuper} super-frames (recorded whole)`);
});
