/**
 * A TCP super-frame must stay below 65,536 bytes *with its L2 header*: the
 * kernel drops a GSO frame whose skb->len reaches the device's gso_max_size (65,536 on veth,
 * macvlan and most NICs), silently (the macvlan's TX dropped counter; send() reports it sent).
 * review/gso-max-size.sh shows the drop on a macvlan: a 65,535-byte frame arrives, 65,536 not.
 * The IPv6 (and IPv4) sink asks for 65,535 L3 bytes and transmit() rounds a super-segment to
 * whole pieces except when it ends the data: a response whose last super-segment carries
 * 65,450-65,463 bytes leaves as a 65,536-65,549-byte frame (untagged; 18-byte L2 when tagged).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { DataplaneSegmentSink, TcpHost } from '../../src/dataplane/tcp-host.js';
import { createMemoryPair, MemoryDevice } from '../../src/io/memory-device.js';
import type { TxVector } from '../../src/io/device.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { parseIpv6 } from '../../src/wire/ipv6-address.js';

const SERVER6 = parseIpv6('2001:db8:123::150')!;
const CLIENT6 = parseIpv6('2001:db8:123::10')!;

function node6(dev: MemoryDevice, ip: Buffer, now: () => number) {
  const dp = new Dataplane({ openDevice: () => dev, now });
  const name = dp.createHostInterface(dev.ifname);
  dp.setAdminState(name, true);
  dp.addAddress6(name, { address: ip, prefixLength: 64 });
  const stack = new TcpStack(new DataplaneSegmentSink(dp), { mss: 1440 });
  return { dp, stack, host: new TcpHost(dp, stack) };
}

test('the last super-segment of a response never makes a frame of 65,536 bytes or more', () => {
  let t = 0;
  const now = () => t;
  const a = new MemoryDevice('srv0', Buffer.from([2, 0, 0, 0, 0, 1]));
  const b = new MemoryDevice('cli0', Buffer.from([2, 0, 0, 0, 0, 2]));
  a.txOffload = { checksum: true, gso: true, maxGsoBytes: 65535 };
  createMemoryPair(a, b);
  let biggest = 0;
  const send = a.send.bind(a);
  a.send = (tx: TxVector) => {
    for (let i = 0; i < tx.count; i++) biggest = Math.max(biggest, tx.length[i] + (tx.extLen?.[i] ?? 0));
    return send(tx);
  };
  const s = node6(a, SERVER6, now);
  const c = node6(b, CLIENT6, now);
  for (let i = 0; i < 30; i++) {
    t += 100;
    s.dp.tickNeighbors();
    c.dp.tickNeighbors();
    a.deliver();
    b.deliver();
  }
  let stream: { write(b: Buffer): void; end(): void } | undefined;
  s.stack.listen(s.dp.ip6Peers.intern(SERVER6, 0, null), 80, (st) => {
    stream = st as unknown as typeof stream;
    st.write(Buffer.alloc(4 * 1024 * 1024, 1)); // grows cwnd well past 64 KiB
    return { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
  });
  let got = 0;
  const local = c.dp.ip6Peers.intern(CLIENT6, 0, null);
  const remote = c.dp.ip6Peers.intern(SERVER6, 0, null);
  c.stack.connect(local, 40000, remote, 80, () => ({ onData: (_b, _o, len) => void (got += len), onDrain() {}, onEnd() {}, onClose() {} }), t);
  c.host.kick();
  const run = (until: () => boolean) => {
    for (let i = 0; i < 20000 && !until(); i++) {
      t += 1;
      a.deliver();
      b.deliver();
      s.stack.tick(t);
      c.stack.tick(t);
      s.host.kick();
      c.host.kick();
    }
  };
  run(() => got >= 4 * 1024 * 1024);
  assert.equal(got, 4 * 1024 * 1024);
  biggest = 0;
  // The next response on the warm keep-alive connection: 65,455 bytes, sent in one go.
  stream!.write(Buffer.alloc(65_455, 2));
  run(() => got >= 4 * 1024 * 1024 + 65_455);
  s.host.close();
  c.host.close();
  assert.ok(biggest < 65_536, `a ${biggest}-byte super-frame (L2 included): the kernel drops it`);
});
