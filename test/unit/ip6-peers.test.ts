/**
 * The IPv6 peer-handle table (src/dataplane/ip6-peers.ts), from the adversarial IPv6 review:
 * handles are reference counted by TCP (no sweep), the table is sized from TCP's limits, an
 * address keeps validating its SYN cookie when its handle changed, the hash is keyed (chosen
 * addresses do not share a chain), and link-local addresses are keyed by interface (RFC 4007).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createTestBed, SEED_STARTUP_LINES, type TestBed } from '../helpers/dataplane.js';
import { decodeEthernet, ETH_P_IPV6 } from '../helpers/frames.js';
import { CLIENT_IP6, decodeIpv6, nsFrame, OUR_IP6, tcp6Frame } from '../helpers/frames6.js';
import { DataplaneSegmentSink, TcpHost } from '../../src/dataplane/tcp-host.js';
import { IP6_ANY_HANDLE, Ip6Peers } from '../../src/dataplane/ip6-peers.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { DEFAULT_OPTIONS } from '../../src/tcp/types.js';
import { ip6Hash } from '../../src/wire/ipv6-address.js';
import { Engine } from '../../src/engine.js';
import { createLogger } from '../../src/log.js';
import { MemoryDevice } from '../../src/io/memory-device.js';
import type { SwInterface } from '../../src/dataplane/interface.js';

const SYN = 2;
const ACK = 16;
const RST = 4;

function tcpOut(frames: Buffer[]) {
  return frames
    .map((f) => decodeEthernet(f))
    .filter((e) => e.type === ETH_P_IPV6)
    .map((e) => decodeIpv6(e.payload))
    .filter((p) => p.nh === 6)
    .map((p) => ({ seq: p.payload.readUInt32BE(4), ack: p.payload.readUInt32BE(8), flags: p.payload[13] }));
}

/** A dual-stack test bed with a TCP stack that holds its IPv6 handles, answering every SYN with a cookie. */
async function cookieServer(t: { after(fn: () => void): void }): Promise<{ tb: TestBed; stack: TcpStack; peers: Ip6Peers }> {
  const tb = await createTestBed([...SEED_STARTUP_LINES, 'set int ip address host-macvlan0.123 2001:db8:123::150/64']);
  tb.clock.now += 1000;
  tb.dp.tickNeighbors();
  const peers = tb.dp.ip6Peers;
  const stack = new TcpStack(new DataplaneSegmentSink(tb.dp), { timestamps: false, synQueueMax: 0, synCookies: true, addresses: peers });
  const host = new TcpHost(tb.dp, stack);
  t.after(() => host.close());
  stack.listen(IP6_ANY_HANDLE, 80, () => ({ onData: () => {}, onDrain: () => {}, onEnd: () => {}, onClose: () => {} }));
  tb.send(nsFrame(OUR_IP6)); // the client is a known neighbour
  return { tb, stack, peers };
}

/** Addresses under `prefix` (8 bytes) whose UNKEYED hash (the one before the fix) is `target`: the review's attack. */
function colliding(prefix: Buffer, target: number, count: number): Buffer[] {
  const M = 1n << 32n;
  const inv = (a: bigint): bigint => {
    let [t, nt, r, nr] = [0n, 1n, M, a];
    while (nr !== 0n) {
      const q = r / nr;
      [t, nt] = [nt, t - q * nt];
      [r, nr] = [nr, r - q * nr];
    }
    return ((t % M) + M) % M;
  };
  const c4inv = Number(inv(0x165667b1n));
  let h = Math.imul(prefix.readUInt32BE(0) ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ prefix.readUInt32BE(4) ^ (h >>> 15), 0xc2b2ae35);
  const t = target >>> 0;
  const x = Math.imul((t ^ (t >>> 15) ^ (t >>> 30)) >>> 0, c4inv) >>> 0;
  const out: Buffer[] = [];
  for (let k = 1; out.length < count; k++) {
    const h3 = Math.imul(h ^ k ^ (h >>> 13), 0x27d4eb2f);
    const a = Buffer.alloc(16);
    prefix.copy(a, 0, 0, 8);
    a.writeUInt32BE(k, 8);
    a.writeUInt32BE((x ^ h3 ^ (h3 >>> 16)) >>> 0, 12);
    out.push(a);
  }
  return out;
}

describe('ip6-peers: reference-counted handles', () => {
  it('held addresses are never forgotten; unheld ones make room oldest first; a table full of held ones refuses', () => {
    const peers = new Ip6Peers();
    peers.setCapacity(3, 2); // room for 5
    const held = [0, 1, 2].map(() => peers.intern(randomBytes(16), 0, null));
    for (const h of held) peers.hold(h);
    const a = peers.intern(Buffer.alloc(16, 0xa1), 0, null);
    const b = peers.intern(Buffer.alloc(16, 0xb2), 0, null);
    assert.equal(peers.intern(Buffer.alloc(16, 0xa1), 0, null), a, 'a lookup refreshes a (b is now the oldest unheld)');
    const c = peers.intern(Buffer.alloc(16, 0xc3), 0, null);
    assert.ok(c > 0);
    assert.equal(peers.size, 5);
    assert.equal(peers.evicted, 1);
    assert.equal(peers.find(Buffer.alloc(16, 0xb2), 0), -1, 'the least recently used unheld address went');
    assert.equal(peers.find(Buffer.alloc(16, 0xa1), 0), a);
    for (let k = 0; k < 1000; k++) assert.ok(peers.intern(randomBytes(16), 0, null) > 0, 'a flood of strays replaces strays');
    for (const h of held) assert.ok(peers.address(h) !== undefined, 'held handles survive the flood');
    // Hold the two unheld slots too: now the table is full of addresses in use.
    const x = peers.intern(Buffer.alloc(16, 0xd4), 0, null);
    const y = peers.intern(Buffer.alloc(16, 0xe5), 0, null);
    peers.hold(x);
    peers.hold(y);
    assert.equal(peers.intern(Buffer.alloc(16, 0xf6), 0, null), -1);
    assert.equal(peers.refused, 1);
    peers.hold(x); // two users
    peers.release(x);
    assert.equal(peers.intern(Buffer.alloc(16, 0xf6), 0, null), -1, 'still held once');
    peers.release(x);
    assert.equal(peers.refsOf(x), 0);
    assert.ok(peers.intern(Buffer.alloc(16, 0xf6), 0, null) > 0, 'released: its slot is reused');
    assert.equal(peers.address(x), undefined);
  });

  it('the TCP host sizes the table from TCP limits: every connection and TIME_WAIT entry has room', () => {
    const engine = new Engine({
      config: { nodaemon: true, engine: {}, warnings: [] },
      log: createLogger({ level: 'silent' }),
      openDevice: (ifname) => new MemoryDevice(ifname, Buffer.from([2, 0, 0, 0, 0, 1])),
    });
    const opts = engine.services.ensureTcp().stack.opts;
    const peers = engine.services.dp.ip6Peers;
    assert.ok(peers.capacity >= opts.maxConnections + opts.maxTimeWait + 65_536, `capacity ${peers.capacity}`);
    assert.equal(opts.addresses, peers, 'the stack holds and releases the handles');
    assert.ok(DEFAULT_OPTIONS.maxConnections + DEFAULT_OPTIONS.maxTimeWait > 65_536, 'the old fixed size was below the limits');
    // 66,000 distinct clients, each held by a connection: none refused (the review's case).
    let refused = 0;
    for (let k = 0; k < 66_000; k++) {
      const h = peers.intern(randomBytes(16), 0, null);
      if (h < 0) refused++;
      else peers.hold(h);
    }
    assert.equal(refused, 0);
  });

  it('a connection holds its addresses and releases them when it goes', async (t) => {
    const { tb, peers } = await cookieServer(t);
    const [synAck] = tcpOut(tb.send(tcp6Frame({ seq: 1000, flags: SYN })));
    assert.equal(synAck.flags, SYN | ACK);
    const client = peers.find(CLIENT_IP6, 0);
    assert.equal(peers.refsOf(client), 0, 'a cookie SYN-ACK leaves no state and holds nothing');
    tb.send(tcp6Frame({ seq: 1001, ack: (synAck.seq + 1) >>> 0, flags: ACK }));
    const now = peers.find(CLIENT_IP6, 0);
    assert.equal(peers.refsOf(now), 1, 'the connection holds the client');
    assert.equal(peers.refsOf(peers.find(OUR_IP6, 0)), 1, 'and our address');
    tb.send(tcp6Frame({ seq: 1001, flags: RST }));
    assert.equal(peers.refsOf(now), 0, 'released when the connection is destroyed');
  });
});

describe('ip6-peers: SYN cookies across a handle change (review M1)', () => {
  it('the handshake completes though a flood took the client handle between the SYN and the ACK', async (t) => {
    const { tb, stack, peers } = await cookieServer(t);
    peers.setCapacity(0, 8);
    const [synAck] = tcpOut(tb.send(tcp6Frame({ seq: 5000, flags: SYN })));
    assert.equal(synAck.flags, SYN | ACK);
    const atSyn = peers.find(CLIENT_IP6, 0);
    for (let k = 0; k < 100; k++) peers.intern(randomBytes(16), 0, null); // a SYN flood from random sources
    assert.equal(peers.find(CLIENT_IP6, 0), -1, 'the flood pushed the unheld client out');
    tb.send(tcp6Frame({ seq: 5001, ack: (synAck.seq + 1) >>> 0, flags: ACK }));
    const atAck = peers.find(CLIENT_IP6, 0);
    assert.notEqual(atAck, atSyn, 'the client got another handle');
    const sessions = [...stack.sessions()];
    assert.equal(sessions.length, 1, 'the cookie validated (it hashes the address, not the handle)');
    assert.equal(sessions[0].state, 'ESTABLISHED');
    assert.equal(peers.format(sessions[0].remoteIp), '2001:db8:123::10');
  });
});

describe('ip6-peers: keyed hash and link-local zones (review H2, M2)', () => {
  it('addresses crafted to collide under the old unkeyed hash spread over the keyed one', () => {
    const crafted = colliding(Buffer.from('20010db801230000', 'hex'), 0x12345678, 1000);
    const distinct = new Set(crafted.map((a) => ip6Hash(a, 0))).size;
    assert.ok(distinct >= 990, `${distinct} distinct hashes for 1000 crafted addresses`);
    // And in the table, every one is a handle of its own.
    const peers = new Ip6Peers(2000);
    assert.equal(new Set(crafted.map((a) => peers.intern(a, 0, null))).size, 1000);
  });

  it('fe80::1 on two interfaces is two peers (RFC 4007); a global address follows the interface it was heard on', () => {
    const peers = new Ip6Peers();
    const if1 = { index: 1, name: 'a' } as unknown as SwInterface;
    const if2 = { index: 2, name: 'b' } as unknown as SwInterface;
    const ll = Buffer.from('fe800000000000000000000000000001', 'hex');
    const h1 = peers.intern(ll, 0, if1);
    const h2 = peers.intern(ll, 0, if2);
    assert.notEqual(h1, h2);
    assert.equal(peers.interfaceOf(h1), if1);
    assert.equal(peers.interfaceOf(h2), if2);
    assert.equal(peers.intern(ll, 0, if1), h1);
    assert.equal(peers.find(ll, 0, if2), h2);
    assert.equal(peers.find(ll, 0, null), -1);
    const g = Buffer.from('20010db8000000000000000000000001', 'hex');
    const hg = peers.intern(g, 0, if1);
    assert.equal(peers.intern(g, 0, if2), hg);
    assert.equal(peers.interfaceOf(hg), if2);
    assert.equal(peers.digest(h1), peers.digest(h2), 'the digest is of the address');
    assert.equal(peers.digest(0x0a000001), 0x0a000001, 'IPv4 addresses are their own digest');
  });
});
