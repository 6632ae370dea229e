/**
 * TCP over IPv6 on the dataplane (in-memory device): the handshake and data with the IPv6
 * pseudo-header checksum and an MSS for a 40-byte header, `::` as its own wildcard listener,
 * and Packet Too Big lowering the connection's MSS (RFC 8201) only for a segment in flight.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestBed, SEED_STARTUP_LINES, type TestBed } from '../helpers/dataplane.js';
import { decodeEthernet, ETH_P_IPV6 } from '../helpers/frames.js';
import { CLIENT_IP6, decodeIpv6, icmp6, ipv6, nsFrame, OUR_IP6, tcp6Frame } from '../helpers/frames6.js';
import { DataplaneSegmentSink, TcpHost } from '../../src/dataplane/tcp-host.js';
import { IP6_ANY_HANDLE } from '../../src/dataplane/ip6-peers.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { TcpConnection } from '../../src/tcp/connection.js';
import { ethernet, tcpFrame } from '../helpers/frames.js';

const SYN = 2;
const ACK = 16;
const PSH = 8;

async function server(t: { after(fn: () => void): void }): Promise<{ tb: TestBed; stack: TcpStack; received: string[] }> {
  const tb = await createTestBed([...SEED_STARTUP_LINES, 'set int ip address host-macvlan0.123 2001:db8:123::150/64']);
  tb.clock.now += 1000;
  tb.dp.tickNeighbors();
  const dp = tb.dp;
  const stack = new TcpStack(new DataplaneSegmentSink(dp), { mss: (local) => (local >>> 28 === 0xf ? 1500 - 60 : 1460), timestamps: false });
  const host = new TcpHost(dp, stack);
  t.after(() => host.close()); // its timer would keep the test process alive
  const received: string[] = [];
  stack.listen(IP6_ANY_HANDLE, 80, (s) => ({
    onData: (b, o, l) => {
      received.push(b.toString('utf8', o, o + l));
      s.write(Buffer.alloc(3000, 0x61));
    },
    onDrain: () => {},
    onEnd: () => {},
    onClose: () => {},
  }));
  tb.send(nsFrame(OUR_IP6)); // the client is a known neighbour
  return { tb, stack, received };
}

function tcpOut(frames: Buffer[]) {
  return frames
    .map((f) => decodeEthernet(f))
    .filter((e) => e.type === ETH_P_IPV6)
    .map((e) => decodeIpv6(e.payload))
    .filter((p) => p.nh === 6)
    .map((p) => ({ ip: p, seq: p.payload.readUInt32BE(4), ack: p.payload.readUInt32BE(8), flags: p.payload[13], hl: (p.payload[12] >> 4) * 4, len: p.payload.length }));
}

describe('TCP over IPv6', () => {
  it('handshake and data: SYN-ACK from our address, MSS 1440 (1500 - 40 - 20), checksums over the IPv6 pseudo-header', async (t) => {
    const { tb, stack, received } = await server(t);
    const [synAck] = tcpOut(tb.send(tcp6Frame({ seq: 1000, flags: SYN, options: Buffer.from([2, 4, 0x05, 0xa0]) })));
    assert.ok(synAck !== undefined, 'a SYN-ACK');
    assert.equal(synAck.flags, SYN | ACK);
    assert.equal(synAck.ack, 1001);
    assert.ok(synAck.ip.src.equals(OUR_IP6) && synAck.ip.dst.equals(CLIENT_IP6));
    assert.ok(synAck.ip.checksumOk, 'TCP checksum over the IPv6 pseudo-header');
    const opts = synAck.ip.payload.subarray(20, synAck.hl);
    const mssAt = opts.indexOf(2);
    assert.equal(opts.readUInt16BE(mssAt + 2), 1440);
    const out = tcpOut(tb.send(tcp6Frame({ seq: 1001, ack: (synAck.seq + 1) >>> 0, flags: ACK | PSH, payload: Buffer.from('GET') })));
    assert.deepEqual(received, ['GET']);
    const data = out.filter((s) => s.len > s.hl);
    assert.ok(data.length >= 2, 'the 3000-byte reply in MSS-sized segments');
    for (const s of data) {
      assert.ok(s.len - s.hl <= 1440);
      assert.ok(s.ip.checksumOk);
    }
    const session = [...stack.sessions()][0];
    assert.equal(session.state, 'ESTABLISHED');
    assert.equal(tb.dp.ip6Peers.format(session.remoteIp), '2001:db8:123::10');
    // A bad checksum is counted, never delivered.
    tb.send(tcp6Frame({ seq: 1004, ack: (synAck.seq + 1) >>> 0, flags: ACK, payload: Buffer.from('x') }, { badChecksum: true }));
    assert.equal(tb.dp.graph.tcp6Input.errors[tb.dp.graph.tcp6Input.e.badChecksum], 1);
    // A SYN to all-nodes (which ip6-input takes, for ND) never reaches TCP (found by the fuzz test).
    const allNodes = Buffer.from('ff020000000000000000000000000001', 'hex');
    assert.equal(tcpOut(tb.send(tcp6Frame({ seq: 5, flags: SYN }, { dst: allNodes, ethDst: Buffer.from('333300000001', 'hex') }))).length, 0);
    assert.equal(tb.dp.graph.tcp6Input.errors[tb.dp.graph.tcp6Input.e.multicast], 1);
  });

  it('an IPv4 segment does not reach the IPv6 wildcard listener (0.0.0.0 and :: are separate)', async (t) => {
    const { tb, stack } = await server(t);
    tb.send(tcpFrame({ flags: SYN }));
    assert.equal(stack.errors['no-listener-rst'], 1, 'refused: no IPv4 listener');
    assert.equal([...stack.connections()].length, 0);
  });

  it('Packet Too Big lowers the MSS of the connection it quotes (RFC 8201), never below 1280 - 60, and only for a segment in flight', async (t) => {
    const { tb, stack } = await server(t);
    const [synAck] = tcpOut(tb.send(tcp6Frame({ seq: 1000, flags: SYN, options: Buffer.from([2, 4, 0x05, 0xa0]) })));
    const out = tcpOut(tb.send(tcp6Frame({ seq: 1001, ack: (synAck.seq + 1) >>> 0, flags: ACK | PSH, payload: Buffer.from('GET') })));
    const seg = out.find((s) => s.len > s.hl)!;
    const conn = [...stack.connections()][0] as TcpConnection;
    assert.equal(conn.sndMss, 1440);
    const ptb = (mtu: number, quoted: Buffer) => {
      const body = Buffer.concat([Buffer.from([mtu >>> 24, (mtu >>> 16) & 255, (mtu >>> 8) & 255, mtu & 255]), quoted]);
      // From a router on the path (any source), to us.
      const router = Buffer.from('20010db8012300000000000000000001', 'hex');
      const pkt = ipv6({ src: router, dst: OUR_IP6, nh: 58, hopLimit: 64, payload: icmp6(2, 0, body, router, OUR_IP6) });
      return ethernet({ tags: [{ vid: 123 }], type: ETH_P_IPV6, payload: pkt });
    };
    const ours = Buffer.concat([Buffer.from(ipv6Header(seg.ip)), seg.ip.payload]).subarray(0, 1232);
    // Not in flight: a forged PTB quoting an old sequence number changes nothing.
    const forged = Buffer.from(ours);
    forged.writeUInt32BE((seg.seq - 100000) >>> 0, 40 + 4);
    tb.send(ptb(1400, forged));
    assert.equal(conn.sndMss, 1440);
    assert.equal(stack.errors['ptb-not-in-flight'], 1);
    tb.send(ptb(1400, ours));
    assert.equal(conn.sndMss, 1400 - 60);
    tb.send(ptb(600, ours));
    assert.equal(conn.sndMss, 1280 - 60, 'an MTU below the IPv6 minimum counts as 1280');
    assert.equal(tb.dp.graph.icmp6Input.errors[tb.dp.graph.icmp6Input.e.packetTooBig], 3);
  });
});

function ipv6Header(p: ReturnType<typeof decodeIpv6>): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(p.payload.length, 4);
  h[6] = p.nh;
  h[7] = p.hopLimit;
  p.src.copy(h, 8);
  p.dst.copy(h, 24);
  return h;
}
