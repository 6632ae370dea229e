/**
 * Fuzz: at least 100,000 random and mutated frames through a MemoryDevice into the seed's
 * configured dataplane (and 20,000 more into the lab switch's L2 configuration), with a seeded
 * PRNG so that any failure reproduces. Asserts that no exception escapes, that every delivered
 * frame ends in exactly one node counter (`show errors` dispositions, info included), and that
 * everything the dataplane sends is a well-formed reply from us.
 *
 * Re-run a failure with FUZZ_SEED=<seed> (and FUZZ_FRAMES=<n> to shorten it). The generator is
 * test/helpers/fuzz-frames.ts (shared with rx-overread.test.ts).
 */
import { describe, it } from 'node:test';
import { switchStartupLines } from '../../src/lab/lab.js';
import assert from 'node:assert/strict';
import { counters, createTestBed, seedTestBed, sentCounters, totalDispositions } from '../helpers/dataplane.js';
import { decodeEthernet, decodeIcmpEcho, decodeIpv4, decodeArp, ETH_P_ARP, ETH_P_IPV4, ETH_P_IPV6, OUR_IP, OUR_MAC_TEXT } from '../helpers/frames.js';
import { Rng } from '../helpers/prng.js';
import { decodeIpv6, OUR_IP6 } from '../helpers/frames6.js';
import { IP6_LINE, OUR_LL, pump } from '../helpers/fuzz-frames.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed2024);
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 100_000);

/** Checks that a frame the seed dataplane sent is a well-formed reply or announcement from us. */
function checkSent(frame: Buffer): void {
  const eth = decodeEthernet(frame);
  assert.equal(eth.src, OUR_MAC_TEXT, 'sent from our MAC');
  assert.deepEqual(
    eth.tags.map((t) => t.vid),
    [123],
    'tagged 123',
  );
  assert.ok(frame.length >= 60, 'at least the Ethernet minimum');
  if (eth.type === ETH_P_ARP) {
    const a = decodeArp(eth.payload);
    assert.equal(a.sha, OUR_MAC_TEXT);
    assert.equal(a.spa, '192.168.123.150');
    return;
  }
  if (eth.type === ETH_P_IPV6) {
    const ip6 = decodeIpv6(eth.payload);
    assert.ok(ip6.checksumOk, 'ICMPv6 checksum');
    assert.equal(ip6.nh, 58, 'we originate only ICMPv6 here');
    const fromUs = ip6.src.equals(OUR_IP6) || ip6.src.equals(OUR_LL) || ip6.src.equals(Buffer.alloc(16));
    assert.ok(fromUs, 'from our address (or :: for DAD)');
    assert.ok([1, 4, 129, 135, 136].includes(ip6.payload[0]), `ICMPv6 type ${ip6.payload[0]}`);
    assert.ok(eth.payload.length <= 1500 + 4, 'within the MTU');
    if (ip6.payload[0] === 135 || ip6.payload[0] === 136) assert.equal(ip6.hopLimit, 255);
    return;
  }
  assert.equal(eth.type, ETH_P_IPV4);
  const ip = decodeIpv4(eth.payload);
  assert.ok(ip.headerChecksumOk, 'IPv4 checksum');
  assert.equal(ip.src, '192.168.123.150');
  assert.ok(ip.totalLength <= 1500, 'within the MTU');
  assert.equal(ip.protocol, 1);
  const icmp = decodeIcmpEcho(ip.payload);
  assert.equal(icmp.type, 0);
  assert.ok(icmp.checksumOk, 'ICMP checksum');
}

describe('fuzz', () => {
  it(`${FRAMES} random and mutated frames into the seed configuration: no exception, every frame accounted for`, async () => {
    const start = Date.now();
    const tb = await seedTestBed();
    // Dual stack: the IPv6 address passes DAD before the fuzz starts.
    await tb.cli(IP6_LINE);
    tb.clock.now += 1000;
    tb.dp.tickNeighbors();
    tb.device().takeSent();
    const out0 = sentCounters(tb.dp);
    // A TCP stack that checks the segment it is handed lies inside the frame.
    let tcpDelivered = 0;
    const rng = new Rng(SEED);
    tb.dp.tcp = {
      input(src, dst, buf, off, len) {
        // IPv4: our address; IPv6: the handle of one of our addresses (dataplane/ip6-peers.ts).
        if (dst >>> 28 === 0xf) {
          const a = tb.dp.ip6Peers.address(dst);
          assert.ok(a !== undefined && (a.equals(OUR_IP6) || a.equals(OUR_LL)), 'an IPv6 segment for our address');
          assert.ok(tb.dp.ip6Peers.address(src) !== undefined);
        } else assert.equal(dst >>> 0, OUR_IP); // tcp4-input passes IPv4 addresses as int32s (ipv4SourceI32)
        assert.ok(off >= 0 && len >= 20 && off + len <= buf.length, 'segment within the buffer');
        assert.equal(typeof src, 'number');
        tcpDelivered++;
      },
    };
    const thrown: string[] = [];
    tb.dp.onNodeError = (err, node) => thrown.push(`${node}: ${(err as Error).stack ?? String(err)}`);
    let sent = 0;
    let halfway = 0;
    const kinds = pump(tb, 'macvlan0', rng, FRAMES / 2, (f) => {
      checkSent(f);
      sent++;
    });
    // Second half with no TCP listener, and the parent bounced once (gratuitous ARP again).
    tb.dp.tcp = null;
    await tb.cli('set int state host-macvlan0 down');
    await tb.cli('set int state host-macvlan0 up');
    tb.clock.now += 1000; // DAD again after the bounce
    tb.dp.tickNeighbors();
    for (const f of tb.device().takeSent()) {
      checkSent(f);
      // Gratuitous ARP is counted nowhere; the IPv6 DAD probes and NAs are (ip6-discover-neighbor).
      if (decodeEthernet(f).type === ETH_P_IPV6) sent++;
    }
    halfway = totalDispositions(tb.dp);
    assert.deepEqual(thrown, [], 'no node threw');
    assert.equal(halfway, FRAMES / 2);
    for (const [k, v] of pump(tb, 'macvlan0', rng, FRAMES / 2, (f) => {
      checkSent(f);
      sent++;
    }))
      kinds.set(k, (kinds.get(k) ?? 0) + v);

    // A dataplane that contains node exceptions (and abandons the vector) must not have needed to.
    assert.deepEqual((tb.dp as unknown as { exceptions?: Record<string, number> }).exceptions ?? {}, {}, 'no node threw');
    const total = totalDispositions(tb.dp);
    const c = counters(tb.dp);
    const breakdown = [...c].map(([k, v]) => `${v} ${k}`).join('\n');
    assert.equal(total, FRAMES, `every frame in exactly one counter; counters:\n${breakdown}`);
    assert.equal(tb.dp.get('host-macvlan0').counters.rxPackets, FRAMES, 'every frame counted as received');
    assert.equal(tb.dp.graph.afPacketInput.runtime.vectors, FRAMES);
    // Answers: every frame sent is counted once on the output side: an ARP reply (arp-input), a
    // packet rewritten straight to a known neighbour, a held packet released once its neighbour
    // answered, or an ARP request of the neighbour machinery. Echo replies to senders that never
    // answer ARP stay held (or are dropped when resolution fails): they are not sent.
    const out = sentCounters(tb.dp);
    const delta = (k: string) => (out.get(k) ?? 0) - (out0.get(k) ?? 0);
    const accounted =
      delta('ip6-rewrite/packets rewritten') +
      delta('ip6-discover-neighbor/held packets sent after resolution') +
      delta('ip6-discover-neighbor/neighbor solicitations sent (multicast)') +
      delta('ip6-discover-neighbor/neighbor solicitations sent (unicast, to re-confirm a neighbour)') +
      delta('ip6-discover-neighbor/neighbor advertisements sent') +
      delta('ip6-discover-neighbor/DAD probes sent') +
      (c.get('arp-input/ARP replies sent') ?? 0) +
      (out.get('ip4-rewrite/packets rewritten') ?? 0) +
      (out.get('ip4-arp/held packets sent after resolution') ?? 0) +
      (out.get('ip4-arp/ARP requests sent') ?? 0) +
      (out.get('ip4-arp/ARP probes sent (unicast, to re-confirm a neighbour)') ?? 0);
    assert.equal(sent, accounted, 'one frame sent per output counted');
    assert.ok((c.get('ip4-icmp-input/echo replies sent') ?? 0) >= (out.get('ip4-rewrite/packets rewritten') ?? 0), 'every reply rewritten was counted as an echo reply');
    assert.equal((c.get('tcp4-input/segments delivered to TCP') ?? 0) + (c.get('tcp6-input/segments delivered to TCP') ?? 0), tcpDelivered);
    // The generator reached the interesting paths.
    for (const key of [
      'ethernet-input/runt frame (shorter than an Ethernet header)',
      'ethernet-input/truncated VLAN tag',
      'ethernet-input/QinQ / 802.1ad frames not supported',
      'ethernet-input/unknown vlan',
      'ethernet-input/l3 mac mismatch',
      'ip4-input/ip4 bad header checksum',
      'ip4-input/ip4 length exceeds frame',
      'ip4-input/ip4 bad header length',
      'ip4-input/ip4 fragments not supported',
      'ip4-icmp-input/icmp bad checksum',
      'ip4-icmp-input/echo replies sent',
      'ip4-icmp-input/reply does not fit the interface MTU',
      'arp-input/ARP replies sent',
      'tcp4-input/tcp bad checksum',
      'tcp4-input/no TCP listener configured',
      'ip6-input/ip6 extension header truncated',
      'ip6-input/ip6 fragments not supported',
      'ip6-input/ip6 multicast group not joined',
      'ip6-icmp-input/echo replies sent',
      'ip6-icmp-input/neighbor solicitations answered',
      'ip6-icmp-input/icmp6 bad checksum',
      'ip6-icmp-input/ND hop limit is not 255',
      'tcp6-input/segments delivered to TCP',
      'tcp6-input/no TCP listener configured',
    ]) {
      assert.ok((c.get(key) ?? 0) > 0, `fuzz never reached '${key}'`);
    }
    const elapsed = Date.now() - start;
    assert.ok(elapsed < 20_000, `took ${elapsed} ms`);
    // The `show errors` text agrees with the counters.
    const errors = await tb.cli('show errors');
    const receivedNodes = new Set(tb.dp.graphNodes().filter((n) => n.accounts === 'received').map((n) => n.name));
    const shown = errors
      .split('\n')
      .slice(1)
      .filter((line) => receivedNodes.has(line.trim().split(/\s+/)[1]))
      .reduce((s, line) => s + Number(line.trim().split(/\s+/)[0]), 0);
    assert.equal(shown, FRAMES);
    void kinds;
  });

  it('20000 frames into the lab switch (L2 xconnect + tag-rewrite): every frame forwarded or counted', async () => {
    const tb = await createTestBed(switchStartupLines(123));
    const rng = new Rng(SEED ^ 0x12345);
    let out = 0;
    pump(tb, 'trunk0', rng, 10_000, () => out++);
    pump(tb, 'access0', rng, 10_000, () => out++);
    const c = counters(tb.dp);
    assert.deepEqual((tb.dp as unknown as { exceptions?: Record<string, number> }).exceptions ?? {}, {}, 'no node threw');
    assert.equal(totalDispositions(tb.dp), 20_000, [...c].map(([k, v]) => `${v} ${k}`).join('\n'));
    assert.equal(out, c.get('l2-output/L2 frames forwarded'), 'one frame out per frame forwarded');
    assert.ok(out > 2000, `${out} forwarded`);
  });
});
