/**
 * Regressions from the adversarial review of the output path: ARP cache poisoning by replies
 * nobody asked for, a neighbour table filled by spoofed sources, FAILED entries kept alive by
 * traffic, SYN-ACKs lost while the device is backlogged, and `pcap trace off` writing into a
 * FIFO or another user's file in /tmp.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { NudState } from '../../src/dataplane/neighbor.js';
import { PcapTrace } from '../../src/dataplane/pcap-trace.js';
import { seedTestBed } from '../helpers/dataplane.js';
import { arp, arpRequestFrame, BROADCAST_MAC, CLIENT_IP, CLIENT_MAC, ETH_P_ARP, ethernet, ip, OUR_IP, OUR_MAC, pingFrame, tcpFrame } from '../helpers/frames.js';

const GW = ip('192.168.123.1');
const EVIL = Buffer.from('026666666666', 'hex');

describe('review: ARP', () => {
  it('an unsolicited ARP reply creates no entry; a broadcast reply never confirms one', async () => {
    const tb = await seedTestBed();
    const sub = tb.dp.get('host-macvlan0.123');
    tb.send(ethernet({ dst: BROADCAST_MAC, tags: [{ vid: 123 }], type: ETH_P_ARP, payload: arp({ op: 2, sha: EVIL, spa: GW, tha: OUR_MAC, tpa: OUR_IP }) }));
    tb.send(ethernet({ tags: [{ vid: 123 }], type: ETH_P_ARP, payload: arp({ op: 2, sha: EVIL, spa: GW, tha: OUR_MAC, tpa: OUR_IP }) }));
    assert.equal(tb.dp.neighbors.lookup(sub, GW), undefined, 'no entry planted for the gateway');
    // The client is known (it asked for us); a broadcast reply with a new MAC is no confirmation.
    tb.send(arpRequestFrame());
    const n = tb.dp.neighbors.lookup(sub, CLIENT_IP)!;
    tb.send(ethernet({ dst: BROADCAST_MAC, tags: [{ vid: 123 }], type: ETH_P_ARP, payload: arp({ op: 2, sha: EVIL, spa: CLIENT_IP, tha: OUR_MAC, tpa: OUR_IP }) }));
    assert.notEqual(n.state, NudState.Reachable, 'not confirmed by a broadcast reply');
  });

  it('sender MAC zero, or our own, is refused', async () => {
    const tb = await seedTestBed();
    for (const sha of [Buffer.alloc(6), OUR_MAC]) tb.send(arpRequestFrame({ sha }));
    assert.equal(tb.dp.neighbors.all().length, 0);
    assert.match(await tb.cli('show errors'), /2\s+arp-input\s+ARP sender MAC is broadcast, multicast, zero or ours/);
  });
});

describe('review: a neighbour table under spoofed traffic', () => {
  it('spoofed pings from 5000 on-link sources leave room for a real client (FAILED and INCOMPLETE evicted, INCOMPLETE capped)', async () => {
    const tb = await seedTestBed();
    await tb.cli('set interface ip address del host-macvlan0.123 192.168.123.150/24');
    await tb.cli('set interface ip address host-macvlan0.123 10.1.0.150/16');
    const sub = tb.dp.get('host-macvlan0.123');
    for (let k = 0; k < 5000; k++) tb.send(pingFrame({ ipSrc: ip('10.1.0.0') + 1000 + k, ipDst: ip('10.1.0.150') }));
    assert.ok(tb.dp.neighbors.size <= 4096);
    let incomplete = 0;
    for (const n of tb.dp.neighbors.all()) if (n.state === NudState.Incomplete) incomplete++;
    assert.ok(incomplete <= 256, `${incomplete} resolving at once`);
    // Resolutions fail; traffic keeps hitting the failed entries; they are still forgotten.
    for (let s = 0; s < 20; s++) {
      tb.clock.now += 1000;
      for (let k = 0; k < 50; k++) tb.send(pingFrame({ ipSrc: ip('10.1.0.0') + 1000 + k, ipDst: ip('10.1.0.150') }));
      tb.dp.tickNeighbors();
    }
    // A real client asks for us and pings: it is answered.
    const real = ip('10.1.0.11');
    tb.send(arpRequestFrame({ spa: real, tpa: ip('10.1.0.150') }));
    assert.ok(tb.dp.neighbors.lookup(sub, real), 'the real client has an entry');
    const replies = tb.send(pingFrame({ ipSrc: real, ipDst: ip('10.1.0.150') }));
    assert.equal(replies.length, 1, 'and its ping is answered');
    void CLIENT_MAC;
  });
});

describe('review: backpressure', () => {
  it('a SYN-ACK while the device is backlogged is queued behind the backlog, not dropped', async () => {
    const tb = await seedTestBed();
    await tb.cli('set ip neighbor host-macvlan0.123 192.168.123.10 52:54:00:12:34:56');
    const { TcpStack } = await import('../../src/tcp/stack.js');
    const { DataplaneSegmentSink, TcpHost } = await import('../../src/dataplane/tcp-host.js');
    const stack = new TcpStack(new DataplaneSegmentSink(tb.dp), { mss: 1460 });
    const host = new TcpHost(tb.dp, stack);
    try {
      stack.listen(OUR_IP, 80, () => ({ onData() {}, onDrain() {}, onEnd() {}, onClose() {} }));
      const dev = tb.device();
      dev.takeSent();
      dev.refuseAfter(0, 'EAGAIN');
      // One frame gets stuck first, so the device is backlogged (not ready) when the SYN comes.
      tb.dp.icmp.sendEcho(CLIENT_IP, 1, 1, 8);
      assert.equal(dev.txReady, false, 'backlogged');
      tb.send(tcpFrame({ flags: 2, srcPort: 40000 }));
      assert.equal(stack.errors['tx-full'] ?? 0, 0, 'not dropped as tx-full');
      dev.makeWritable();
      const out = dev.takeSent();
      assert.ok(out.some((f) => f.length > 34 + 13 && f[18 + 20 + 13] === 0x12), 'the SYN-ACK left once the device drained');
    } finally {
      host.close();
    }
  });
});

describe('review: pcap trace off in a shared /tmp', () => {
  const cap = (file: string) => {
    const p = new PcapTrace({ rx: true, tx: false, drop: false, max: 10, maxBytesPerPacket: 512, swIndex: 0, file }, () => 0);
    p.captureRx(pingFrame(), 0, 60, 0, 0, 1);
    return p;
  };

  it('refuses a FIFO (no blocking open), does not write into an existing file of another user, writes mode 0600', () => {
    // pcap files live in /tmp itself (VPP's rule): unique names, removed afterwards.
    const tag = `${process.pid}-${Date.now()}`;
    const fifo = `/tmp/review-fifo-${tag}.pcap`;
    const theirs = `/tmp/review-theirs-${tag}.pcap`;
    const mine = `/tmp/review-mine-${tag}.pcap`;
    try {
      execFileSync('mkfifo', [fifo]);
      assert.throws(() => cap(fifo).finish(), /it exists and is not a regular file/);
      writeFileSync(theirs, 'not yours');
      spawnSync('chown', ['65534:65534', theirs]);
      if (statSync(theirs).uid === 65534) {
        assert.throws(() => cap(theirs).finish(), /a file of another user/);
      }
      assert.match(cap(mine).finish(), /Write 1 packets to .*mine.*\.pcap/);
      assert.equal(statSync(mine).mode & 0o777, 0o600);
    } finally {
      for (const f of [fifo, theirs, mine]) rmSync(f, { force: true });
    }
  });
});
