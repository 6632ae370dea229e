/**
 * TCP over the dataplane with two clients on one segment, one of which vanishes (the field case
 * of issue 8): the server's neighbour entry for the vanished client goes PROBE → FAILED and keeps
 * failing while its connection retransmits, and the other client's download is unaffected. Also:
 * an entry in use is kept REACHABLE by TCP progress alone (no ARP probes), whatever neighbor-age.
 *
 * Three dataplanes over in-memory devices joined by a tiny "switch" (by destination MAC), one
 * clock for all of them, advanced 1 ms per step.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { NudState, NUD_NAMES } from '../../src/dataplane/neighbor.js';
import { DataplaneSegmentSink, TcpHost } from '../../src/dataplane/tcp-host.js';
import { MemoryDevice } from '../../src/io/memory-device.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { parseIpv4 } from '../../src/wire/address.js';

const SERVER = parseIpv4('10.0.0.1')!;
const C1 = parseIpv4('10.0.0.2')!;
const C2 = parseIpv4('10.0.0.3')!;

interface Host {
  dev: MemoryDevice;
  dp: Dataplane;
  stack: TcpStack;
  host: TcpHost;
  alive: boolean;
}

function world(neighborAgeMs: number) {
  const clock = { t: 1000 };
  const now = () => clock.t;
  const make = (last: number, ip: number): Host => {
    const dev = new MemoryDevice(`d${last}`, Buffer.from([2, 0, 0, 0, 0, last]));
    const dp = new Dataplane({ openDevice: () => dev, now, neighborAgeMs, neighborTimers: { reachableMs: 2000, delayMs: 1000 } });
    const name = dp.createHostInterface(dev.ifname);
    dp.setAdminState(name, true);
    dp.addAddress(name, { address: ip, prefixLength: 24 });
    const stack = new TcpStack(new DataplaneSegmentSink(dp), { mss: 1460 });
    return { dev, dp, stack, host: new TcpHost(dp, stack), alive: true };
  };
  const server = make(1, SERVER);
  const c1 = make(2, C1);
  const c2 = make(3, C2);
  const clients = [c1, c2];
  // The switch: frames from the server go to the client with that MAC (broadcast: every client);
  // a client that has left receives and sends nothing.
  server.dev.onSend = (frame) => {
    for (const c of clients) if (c.alive && (frame[0] === 0xff || frame.subarray(0, 6).equals(c.dev.mac))) c.dev.inject(frame);
  };
  for (const c of clients) c.dev.onSend = (frame) => c.alive && server.dev.inject(frame);
  // The gratuitous ARPs of start-up reached nobody yet; drop what is queued.
  for (const h of [server, c1, c2]) h.dev.takeSent();
  let lastNeighborTick = clock.t;
  const step = () => {
    clock.t += 1;
    for (const h of [server, c1, c2]) {
      if (!h.alive) continue;
      h.dev.deliver();
      h.stack.tick(clock.t);
      h.host.kick();
    }
    if (clock.t - lastNeighborTick >= 250) {
      lastNeighborTick = clock.t;
      for (const h of [server, c1, c2]) if (h.alive) h.dp.tickNeighbors();
    }
  };
  /** Stops the hosts' timers (they are real Node timers) so the test process can exit. */
  const close = () => {
    for (const h of [server, c1, c2]) h.host.close();
  };
  return { clock, server, c1, c2, step, close };
}

function download(client: Host, from: number, port: number) {
  const chunks: Buffer[] = [];
  const st = { bytes: 0, ended: false, chunks };
  client.stack.connect(from === C1 ? C1 : C2, port, SERVER, 80, () => ({
    onData: (buf, off, len) => {
      chunks.push(Buffer.from(buf.subarray(off, off + len)));
      st.bytes += len;
    },
    onDrain() {},
    onEnd: () => void (st.ended = true),
    onClose() {},
  }), 0);
  client.host.kick();
  return st;
}

describe('TCP and neighbours: a vanished client affects only its own flows', () => {
  it('while the vanished client’s next hop fails (again and again), another client downloads 3 MB intact', (t) => {
    const w = world(3000);
    t.after(w.close);
    const payload = randomBytes(3 * 1024 * 1024);
    w.server.stack.listen(SERVER, 80, (stream) => {
      stream.write(payload);
      stream.end();
      return { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
    });
    const sw = w.server.dp.get('host-d1');
    // Client 2 starts, gets some of it, then leaves without a FIN (cable pulled, namespace gone).
    const d2 = download(w.c2, C2, 40002);
    for (let i = 0; i < 20_000 && d2.bytes < 200_000; i++) w.step();
    assert.ok(d2.bytes >= 200_000, 'client 2 was downloading');
    w.c2.alive = false;
    // Its neighbour entry on the server: stale, probed, failed (bounded wait, simulated time).
    for (let i = 0; i < 30_000 && w.server.dp.neighbors.lookup(sw, C2)?.state !== NudState.Failed; i++) w.step();
    const n2 = w.server.dp.neighbors.lookup(sw, C2);
    assert.equal(n2 === undefined ? 'none' : NUD_NAMES[n2.state], 'FAILED');
    // Its connection retransmits: each try starts a new resolution, whose packet waits in the hold
    // queue. That is the moment the old dataplane stopped every connection (one global flag).
    for (let i = 0; i < 60_000 && !(n2!.state === NudState.Incomplete && n2!.held.length > 0); i++) w.step();
    assert.equal(NUD_NAMES[n2!.state], 'INCOMPLETE', 'resolving client 2 again');
    assert.ok(n2!.held.length > 0, 'a segment for client 2 waits for ARP');
    // Now client 1 downloads while client 2's next hop is unresolved.
    const d1 = download(w.c1, C1, 40001);
    const start = w.clock.t;
    let overlapped = 0;
    for (let i = 0; i < 20_000 && !d1.ended; i++) {
      w.step();
      if (n2!.state === NudState.Incomplete || n2!.state === NudState.Failed) overlapped++;
    }
    assert.ok(d1.ended, `client 1 finished (got ${d1.bytes} bytes in ${w.clock.t - start} ms)`);
    assert.ok(Buffer.concat(d1.chunks).equals(payload), 'intact');
    assert.ok(w.clock.t - start < 2000, `3 MB in ${w.clock.t - start} simulated ms`);
    assert.equal(overlapped, w.clock.t - start, 'client 2 stayed unresolved during the whole download');
    // Client 2's resolution fails again; what it held is dropped and counted; its connection is still retried.
    for (let i = 0; i < 10_000 && n2!.state !== NudState.Failed; i++) w.step();
    const out = w.server.dp.ip4.nodes;
    assert.ok(out.arp.errors[out.arp.e.failedDrops] > 0, 'held segments dropped when resolution failed, counted');
    assert.ok([...w.server.stack.connections()].some((c) => c.remoteIp === C2), 'the vanished client’s connection is still being retried');
  });

  it('an entry in use is kept REACHABLE by TCP progress: no ARP probe in 20 s with a 1 s neighbor-age', (t) => {
    const w = world(1000);
    t.after(w.close);
    const payload = randomBytes(64 * 1024);
    // A slow, steady exchange: the server sends 1 KiB every 50 ms for 20 s.
    let stream: { write(b: Buffer): void } | null = null;
    w.server.stack.listen(SERVER, 80, (s) => {
      stream = s as never;
      return { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
    });
    const d1 = download(w.c1, C1, 40001);
    for (let i = 0; i < 1000 && stream === null; i++) w.step();
    assert.ok(stream !== null, 'connected');
    const sw = w.server.dp.get('host-d1');
    const arp = w.server.dp.ip4.nodes.arp;
    const probesBefore = arp.errors[arp.e.probes] + arp.errors[arp.e.requests];
    for (let k = 0; k < 400; k++) {
      stream!.write(payload.subarray((k * 1024) % payload.length, ((k * 1024) % payload.length) + 1024));
      w.server.host.kick();
      for (let i = 0; i < 50; i++) w.step();
      const n = w.server.dp.neighbors.lookup(sw, C1);
      assert.ok(n !== undefined && n.usable, `usable at step ${k}`);
    }
    assert.equal(arp.errors[arp.e.probes] + arp.errors[arp.e.requests], probesBefore, 'no ARP needed while TCP made progress');
    assert.equal(NUD_NAMES[w.server.dp.neighbors.lookup(sw, C1)!.state], 'REACHABLE');
    assert.equal(d1.bytes, 400 * 1024);
  });
});
