/**
 * TX offload end to end over in-memory devices: the server's device offers checksum offload and
 * GSO (MemoryDevice completes and segments in software, as the kernel would), the client's does
 * not. The client's dataplane checks every TCP checksum on input, so the bytes arriving intact
 * means the pseudo-header sums and the super-segments were right.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { DataplaneSegmentSink, TcpHost } from '../../src/dataplane/tcp-host.js';
import { completeOffload } from '../../src/io/offload.js';
import { createMemoryPair, MemoryDevice } from '../../src/io/memory-device.js';
import { TxBatch } from '../../src/io/device.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { internetChecksum, pseudoHeaderSum, sumWords, finish } from '../../src/wire/checksum.js';

const SERVER = parseIpv4('10.0.0.1')!;
const CLIENT = parseIpv4('10.0.0.2')!;

function node(dev: MemoryDevice, ip: number, now: () => number): { dp: Dataplane; stack: TcpStack; host: TcpHost } {
  const dp = new Dataplane({ openDevice: () => dev, now });
  const name = dp.createHostInterface(dev.ifname);
  dp.setAdminState(name, true);
  dp.addAddress(name, { address: ip, prefixLength: 24 });
  const stack = new TcpStack(new DataplaneSegmentSink(dp), { mss: 1460 });
  const host = new TcpHost(dp, stack);
  return { dp, stack, host };
}

async function transfer(sack: boolean, bytes: number, drop: number[] = []): Promise<{ got: Buffer; superFrames: number; external: number; sent: number; retransmits: number }> {
  let t = 0;
  const now = () => t;
  const a = new MemoryDevice('srv0', Buffer.from([2, 0, 0, 0, 0, 1]));
  const b = new MemoryDevice('cli0', Buffer.from([2, 0, 0, 0, 0, 2]));
  a.txOffload = { checksum: true, gso: true, maxGsoBytes: 65535 };
  createMemoryPair(a, b);
  // Lose the server's frames number `drop` (counted on the wire, after segmentation), once.
  const forward = a.onSend!;
  let n = 0;
  a.onSend = (frame) => {
    if (drop.includes(n++)) return;
    forward(frame);
  };
  const s = node(a, SERVER, now);
  const c = node(b, CLIENT, now);
  if (!sack) (c.stack.opts as { sack: boolean }).sack = false;
  const payload = randomBytes(bytes);
  s.stack.listen(SERVER, 80, (stream) => {
    stream.write(payload);
    stream.end();
    return { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
  });
  const chunks: Buffer[] = [];
  let ended = false;
  c.stack.connect(CLIENT, 40000, SERVER, 80, () => ({
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
  return { got: Buffer.concat(chunks), superFrames: a.superFrames, external: a.externalPayloads, retransmits: s.stack.counters.retransmits, sent: payload.equals(Buffer.concat(chunks)) ? bytes : -1 };
}

test('a bulk transfer leaves as super-segments and arrives intact (SACK)', async () => {
  const r = await transfer(true, 2 * 1024 * 1024);
  assert.equal(r.sent, 2 * 1024 * 1024);
  assert.ok(r.superFrames > 0, 'some data left as super-frames');
  // Their payloads went by reference (TxVector.extData) from the application's buffer, not copied.
  assert.ok(r.external > 0, `${r.external} frames with an external payload (${r.superFrames} super-frames)`);
});

test('a bulk transfer leaves as super-segments and arrives intact (no SACK)', async () => {
  const r = await transfer(false, 1024 * 1024 + 777);
  assert.equal(r.sent, 1024 * 1024 + 777);
  assert.ok(r.superFrames > 0, 'some data left as super-frames');
});

test('losses inside super-segments are repaired (SACK: one record per piece)', async () => {
  const r = await transfer(true, 1024 * 1024, [40, 41, 60, 200]);
  assert.equal(r.sent, 1024 * 1024);
  assert.ok(r.superFrames > 0);
  assert.ok(r.retransmits >= 4, `retransmits ${r.retransmits}`);
});

test('losses inside super-segments are repaired (no SACK)', async () => {
  const r = await transfer(false, 1024 * 1024, [40, 41, 60, 200]);
  assert.equal(r.sent, 1024 * 1024);
  assert.ok(r.superFrames > 0);
  assert.ok(r.retransmits >= 4, `retransmits ${r.retransmits}`);
});

test('completeOffload segments like tcp_gso_segment: headers copied, seq advanced, PSH/FIN last, checksums valid', () => {
  const payload = randomBytes(3000);
  const hl = 32;
  const f = Buffer.alloc(14 + 20 + hl + payload.length);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(20 + hl + payload.length, 16);
  f.writeUInt16BE(7, 18);
  f[22] = 64;
  f[23] = 6;
  f.writeUInt32BE(SERVER, 26);
  f.writeUInt32BE(CLIENT, 30);
  f.writeUInt16BE(internetChecksum(f, 14, 20), 24);
  const t = 34;
  f.writeUInt32BE(1000, t + 4);
  f[t + 12] = (hl / 4) << 4;
  f[t + 13] = 0x19; // ACK PSH FIN
  payload.copy(f, t + hl);
  f.writeUInt16BE(~finish(pseudoHeaderSum(SERVER, CLIENT, 6, hl + payload.length)) & 0xffff, t + 16);
  const segs = completeOffload(f, t, 1448);
  assert.equal(segs.length, 3);
  let seq = 1000;
  segs.forEach((s, i) => {
    const len = s.length - t - hl;
    assert.equal(s.readUInt32BE(t + 4), seq);
    assert.equal(s.readUInt16BE(16), 20 + hl + len);
    assert.equal(s.readUInt16BE(18), 7 + i);
    assert.equal(internetChecksum(s, 14, 20), 0);
    assert.equal(finish(sumWords(s, t, hl + len, pseudoHeaderSum(SERVER, CLIENT, 6, hl + len))), 0);
    assert.equal(s[t + 13], i === 2 ? 0x19 : 0x10);
    seq += len;
  });
  assert.deepEqual(Buffer.concat(segs.map((s) => s.subarray(t + hl))), payload);
});

test('a frame with an external payload is sent whole, also after the kernel refused it and it waited in the TX backlog', () => {
  const dev = new MemoryDevice('ext0', Buffer.from([2, 0, 0, 0, 0, 9]));
  dev.txOffload = { checksum: true, gso: true, maxGsoBytes: 65535 };
  const batch = new TxBatch(8, 2048, 65535 + 22);
  const payload = randomBytes(50_000);
  const frames: Buffer[] = [];
  for (let k = 0; k < 3; k++) {
    const slot = batch.nextSlot();
    const header = Buffer.from(`header ${k} `);
    header.copy(batch.data, slot);
    batch.attachNext(payload, k * 1000, 20_000);
    batch.commit(header.length + 20_000);
    frames.push(Buffer.concat([header, payload.subarray(k * 1000, k * 1000 + 20_000)]));
  }
  assert.ok(batch.hasExt);
  assert.equal(batch.length[0], 'header 0 '.length, 'only the headers are in the arena');
  assert.ok(batch.free <= batch.data.length - 60_000, 'external bytes count against the arena (the backlog bound)');
  dev.refuseAfter(1);
  assert.equal(dev.send(batch), 3, 'the refused frames are held, not lost');
  batch.reset();
  batch.data.fill(0); // the batch is reused: what waits must not depend on it
  dev.makeWritable();
  const sent = dev.takeSent();
  assert.equal(sent.length, 3);
  sent.forEach((f, k) => assert.ok(f.equals(frames[k]), `frame ${k} intact`));
  assert.equal(dev.externalPayloads, 1, 'the first went straight, the other two from the backlog (gathered there)');
});
