/**
 * RX over-reads: the per-packet paths read header fields with the byte helpers of
 * src/wire/bytes.ts, which read past the end of a Buffer silently (undefined → 0) where
 * Buffer#readUInt16BE threw a RangeError, and in production the RX data is the whole mmap ring,
 * so a node with a missing length check reads other ring bytes. MemoryDevice.deliver() puts
 * RX_POISON_BYTES of poison (MemoryDevice.rxPoison) before and after every frame; this test runs
 * the same input with different poison values and asserts identical results: every node's
 * counters, the frames sent (byte for byte), the segments handed to TCP and the neighbour tables.
 * A difference means some node read beyond its frame.
 *
 * Poison 0x00 and 0xff, and 0xa5: a run of 0xff bytes adds 0xffff (= -0) per word to an Internet
 * checksum, exactly as 0x00 bytes do, so a checksum computed over poison cannot tell those two
 * apart; 0xa5 can.
 *
 * The input: the fuzz corpus of test/unit/fuzz.test.ts (test/helpers/fuzz-frames.ts, seeded;
 * OVERREAD_SEED / OVERREAD_FRAMES to change it), then hand-made frames that end exactly where a
 * header needs more bytes, delivered alone, as the last frame and as a middle frame of a vector.
 */
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from '../../src/io/memory-device.js';
import { seedTestBedWithClient, type TestBed } from '../helpers/dataplane.js';
import {
  arp,
  checksum,
  CLIENT_IP,
  CLIENT_MAC_TEXT,
  ETH_P_8021AD,
  ETH_P_8021Q,
  ETH_P_ARP,
  ETH_P_IPV4,
  ETH_P_IPV6,
  ethernet,
  icmpEcho,
  ipv4,
  OUR_MAC,
  pingFrame,
  tcp,
  type Tag,
} from '../helpers/frames.js';
import { checksum6, CLIENT_IP6, CLIENT_IP6_TEXT, echo6Frame, icmp6, ipv6, nsFrame, OUR_IP6 } from '../helpers/frames6.js';
import { IP6_LINE, pump } from '../helpers/fuzz-frames.js';
import { Rng } from '../helpers/prng.js';

const SEED = Number(process.env.OVERREAD_SEED ?? process.env.FUZZ_SEED ?? 0x5eed2024);
const FRAMES = Number(process.env.OVERREAD_FRAMES ?? 30_000);
const POISONS = [0x00, 0xff, 0xa5];

/** Everything observable a run produced, as comparable text. */
interface Outcome {
  /** Every graph node's error/disposition counters, non-zero ones, "node/reason value". */
  counters: string[];
  sent: number;
  /** SHA-256 over every frame sent, in order, each prefixed by its length. */
  sentHash: string;
  /** Each segment handed to TCP: "src dst length sha256-prefix". */
  tcp: string[];
  neighbors: string;
}

function nodeCounters(tb: TestBed): string[] {
  const out: string[] = [];
  for (const node of tb.dp.graphNodes()) {
    node.errorNames.forEach((reason, i) => {
      if (node.errors[i] !== 0) out.push(`${node.name}/${reason} ${node.errors[i]}`);
    });
  }
  return out;
}

/**
 * A seed dataplane (dual stack, DAD done, the client a known neighbour) with a recording TCP stack; outcome() takes what was
 * sent since the last call and returns everything observable so far.
 */
async function bed(poison: number): Promise<{ tb: TestBed; outcome: () => Promise<Outcome>; onSent: (f: Buffer) => void }> {
  // The client is a known neighbour (IPv4 and IPv6), so that replies go out and are compared.
  const tb = await seedTestBedWithClient({ rxPoison: poison });
  await tb.cli(IP6_LINE);
  await tb.cli(`set ip neighbor host-macvlan0.123 ${CLIENT_IP6_TEXT} ${CLIENT_MAC_TEXT}`);
  tb.clock.now += 1000;
  tb.dp.tickNeighbors();
  let hash = createHash('sha256');
  let sent = 0;
  const onSent = (f: Buffer): void => {
    const n = Buffer.alloc(4);
    n.writeUInt32BE(f.length);
    hash.update(n).update(f);
    sent++;
  };
  for (const f of tb.device().takeSent()) onSent(f);
  const segments: string[] = [];
  tb.dp.tcp = {
    input(src, dst, buf, off, len) {
      segments.push(`${src} ${dst} ${len} ${createHash('sha256').update(buf.subarray(off, off + len)).digest('hex').slice(0, 16)}`);
    },
  };
  const thrown: string[] = [];
  tb.dp.onNodeError = (err, node) => thrown.push(`${node}: ${(err as Error).message}`);
  const outcome = async (): Promise<Outcome> => {
    for (const d of tb.devices.values()) for (const f of d.takeSent()) onSent(f);
    assert.deepEqual(thrown, [], `poison 0x${poison.toString(16)}: no node threw`);
    const neighbors = `${await tb.cli('show ip neighbors')}\n${await tb.cli('show ip6 neighbors')}`;
    const sentHash = hash.digest('hex');
    hash = createHash('sha256');
    return { counters: nodeCounters(tb), sent, sentHash, tcp: [...segments], neighbors };
  };
  return { tb, outcome, onSent };
}

function assertSame(outcomes: Outcome[], what: string): void {
  for (let k = 1; k < outcomes.length; k++) {
    const [a, b] = [outcomes[0], outcomes[k]];
    const p = `${what}: poison 0x${POISONS[0].toString(16)} vs 0x${POISONS[k].toString(16)}`;
    assert.deepEqual(b.counters, a.counters, `${p}: node counters differ (a node read beyond its frame)`);
    assert.deepEqual(b.tcp, a.tcp, `${p}: segments handed to TCP differ`);
    assert.equal(b.sent, a.sent, `${p}: number of frames sent differs`);
    assert.equal(b.sentHash, a.sentHash, `${p}: frames sent differ`);
    assert.equal(b.neighbors, a.neighbors, `${p}: neighbour tables differ`);
  }
}

// ---- hand-made frames that end where a header needs more bytes ---------------------------

const TAG: Tag[] = [{ vid: 123 }];
const eth = (type: number, payload: Buffer, tags: Tag[] = TAG, dst = OUR_MAC): Buffer => ethernet({ dst, tags, type, payload, pad: false });
const cut = (f: Buffer, n: number): Buffer => Buffer.from(f.subarray(0, n));

/** Sets the TCP checksum of an IPv4 segment from the client to us (over the bytes as they are). */
function tcp4Sum(seg: Buffer): Buffer {
  const s = Buffer.from(seg);
  if (s.length < 18) return s;
  s.writeUInt16BE(0, 16);
  const ours = ipv4({ protocol: 6, payload: Buffer.alloc(0) }).readUInt32BE(16);
  const pseudo = (CLIENT_IP >>> 16) + (CLIENT_IP & 0xffff) + (ours >>> 16) + (ours & 0xffff) + 6 + s.length;
  s.writeUInt16BE(checksum(s, pseudo), 16);
  return s;
}

/** Sets the ICMPv6 checksum of an IPv6 packet (header included) over the bytes as they are. */
function icmp6Sum(p: Buffer): Buffer {
  const m = Buffer.from(p);
  if (m.length < 44) return m;
  m.writeUInt16BE(0, 42);
  m.writeUInt16BE(checksum6(m.subarray(8, 24), m.subarray(24, 40), 58, m.subarray(40)), 42);
  return m;
}

interface Case {
  name: string;
  frame: Buffer;
  inject?: InjectOptions;
}

function malformed(): Case[] {
  const cases: Case[] = [];
  const ping = pingFrame({ seq: 7, data: Buffer.from('0123456789abcdef') });
  const untagged = pingFrame({ tags: [], seq: 7 });
  // Runts: shorter than an Ethernet header (with and without a tag as metadata).
  for (const n of [0, 1, 6, 11, 12, 13]) {
    cases.push({ name: `runt ${n}`, frame: cut(ping, n) });
    cases.push({ name: `runt ${n}, tag as metadata`, frame: cut(untagged, n), inject: { vlanTci: 123 } });
  }
  // Cut VLAN tags: the outer tag, and the inner tag of a QinQ / 802.1Q-in-802.1Q stack.
  for (const n of [14, 15, 16, 17]) cases.push({ name: `cut VLAN tag at ${n}`, frame: cut(ping, n) });
  const qinq = eth(ETH_P_IPV4, ipv4({ protocol: 1, payload: icmpEcho({ seq: 1 }) }), [{ tpid: ETH_P_8021AD, vid: 123 }, { vid: 5 }]);
  const qq = eth(ETH_P_IPV4, ipv4({ protocol: 1, payload: icmpEcho({ seq: 1 }) }), [{ vid: 123 }, { tpid: ETH_P_8021Q, vid: 5 }]);
  for (const n of [18, 19, 20, 21]) {
    cases.push({ name: `cut inner 802.1ad tag at ${n}`, frame: cut(qinq, n) });
    cases.push({ name: `cut inner 802.1Q tag at ${n}`, frame: cut(qq, n) });
  }
  cases.push({ name: 'tag stack behind a metadata tag, cut', frame: cut(ping, 16), inject: { vlanTci: 123 } });
  // IPv4: the header cut; IHL and total length beyond the frame; total length below IHL.
  for (const n of [18, 19, 27, 37]) cases.push({ name: `IPv4 header cut at ${n}`, frame: cut(ping, n) });
  const icmp = icmpEcho({ seq: 3, data: Buffer.alloc(8, 0x11) });
  for (const ihl of [6, 8, 15]) {
    cases.push({ name: `IPv4 IHL ${ihl} beyond a 20-byte frame`, frame: cut(eth(ETH_P_IPV4, ipv4({ protocol: 1, payload: icmp, ihl })), 18 + 20) });
    cases.push({ name: `IPv4 IHL ${ihl}, options cut`, frame: eth(ETH_P_IPV4, ipv4({ protocol: 1, payload: Buffer.alloc(0), ihl, totalLength: ihl * 4 }).subarray(0, 20 + 2)) });
  }
  for (const extra of [1, 4, 40, 200]) {
    const p = ipv4({ protocol: 1, payload: icmp });
    cases.push({ name: `IPv4 total length ${extra} beyond the frame`, frame: eth(ETH_P_IPV4, ipv4({ protocol: 1, payload: icmp, totalLength: p.length + extra })) });
  }
  cases.push({ name: 'IPv4 total length below IHL', frame: eth(ETH_P_IPV4, ipv4({ protocol: 1, payload: icmp, totalLength: 12 })) });
  // ICMP cut short: no header, half a header, an echo without its id/seq.
  for (const n of [0, 2, 4, 7]) {
    const body = icmp.subarray(0, n);
    cases.push({ name: `ICMP cut to ${n} bytes`, frame: eth(ETH_P_IPV4, ipv4({ protocol: 1, payload: body })) });
    cases.push({ name: `ICMP cut to ${n} bytes, total length beyond`, frame: eth(ETH_P_IPV4, ipv4({ protocol: 1, payload: body, totalLength: 28 })) });
  }
  // TCP cut short: fewer than 20 bytes, a data offset beyond the segment, options cut.
  const seg = tcp({ flags: 2, options: Buffer.from([2, 4, 5, 0xb4, 1, 3, 3, 7]) });
  for (const n of [0, 8, 13, 19, 20, 24, 27]) {
    cases.push({ name: `TCP cut to ${n} bytes`, frame: eth(ETH_P_IPV4, ipv4({ protocol: 6, payload: seg.subarray(0, n) })) });
    cases.push({ name: `TCP cut to ${n} bytes, checksum fixed`, frame: eth(ETH_P_IPV4, ipv4({ protocol: 6, payload: tcp4Sum(seg.subarray(0, n)) })) });
  }
  for (const offset of [4, 6, 15]) {
    const odd = tcp({ flags: 2 });
    odd[12] = offset << 4;
    cases.push({ name: `TCP data offset ${offset * 4} in a 20-byte segment`, frame: eth(ETH_P_IPV4, ipv4({ protocol: 6, payload: tcp4Sum(odd) })) });
  }
  const optLen = tcp({ flags: 2, options: Buffer.from([1, 1, 2, 40]) }); // MSS option claims 40 bytes
  cases.push({ name: 'TCP option length beyond the header', frame: eth(ETH_P_IPV4, ipv4({ protocol: 6, payload: tcp4Sum(optLen) })) });
  // ARP cut short.
  const a = arp({ op: 1, spa: CLIENT_IP });
  for (const n of [0, 7, 8, 14, 27]) cases.push({ name: `ARP cut to ${n} bytes`, frame: eth(ETH_P_ARP, a.subarray(0, n), TAG, Buffer.alloc(6, 0xff)) });
  // IPv6: the header cut, payload length beyond, an extension header cut, ICMPv6 / NS / TCP cut.
  const echo6 = echo6Frame({ seq: 9 });
  for (const n of [18, 19, 30, 57]) cases.push({ name: `IPv6 header cut at ${n}`, frame: cut(echo6, n) });
  const e6 = echo6.subarray(18);
  const longer = Buffer.from(e6);
  longer.writeUInt16BE(e6.length - 40 + 16, 4);
  cases.push({ name: 'IPv6 payload length beyond the frame', frame: eth(ETH_P_IPV6, longer) });
  for (const hdrLen of [0, 1, 255]) {
    const ext = Buffer.alloc(8);
    ext[0] = 58;
    ext[1] = hdrLen;
    for (const nh of [0, 60, 43, 44]) {
      const p = ipv6({ nh, payload: hdrLen === 0 ? ext.subarray(0, 4) : ext });
      cases.push({ name: `IPv6 extension header ${nh} (length ${hdrLen}) cut`, frame: eth(ETH_P_IPV6, p) });
    }
  }
  for (const n of [0, 2, 4, 6]) {
    const m = icmp6(128, 0, Buffer.from([0, 1, 0, 2]), CLIENT_IP6, OUR_IP6).subarray(0, n);
    cases.push({ name: `ICMPv6 cut to ${n} bytes`, frame: eth(ETH_P_IPV6, ipv6({ payload: m })) });
    cases.push({ name: `ICMPv6 cut to ${n} bytes, checksum fixed`, frame: eth(ETH_P_IPV6, icmp6Sum(ipv6({ payload: m }))) });
  }
  const ns = nsFrame(OUR_IP6).subarray(18);
  for (const n of [40 + 8, 40 + 20, 40 + 24, 40 + 25, 40 + 27]) {
    const p = Buffer.from(ns.subarray(0, n));
    p.writeUInt16BE(n - 40, 4);
    cases.push({ name: `NS cut to ${n - 40} bytes, checksum fixed`, frame: eth(ETH_P_IPV6, icmp6Sum(p), TAG, Buffer.from([0x33, 0x33, 0xff, 0, 0x01, 0x50])) });
    cases.push({ name: `NS cut to ${n - 40} bytes`, frame: eth(ETH_P_IPV6, p, TAG, Buffer.from([0x33, 0x33, 0xff, 0, 0x01, 0x50])) });
  }
  const nsOpt = Buffer.from(ns);
  nsOpt[40 + 25] = 4; // the source link-layer option claims 32 bytes
  cases.push({ name: 'NS option length beyond the message', frame: eth(ETH_P_IPV6, icmp6Sum(nsOpt), TAG, Buffer.from([0x33, 0x33, 0xff, 0, 0x01, 0x50])) });
  for (const n of [0, 10, 19]) {
    const t = tcp({ flags: 2 }).subarray(0, n);
    cases.push({ name: `TCPv6 cut to ${n} bytes`, frame: eth(ETH_P_IPV6, ipv6({ nh: 6, payload: t })) });
  }
  return cases;
}

describe('RX over-reads (poison around every delivered frame)', () => {
  it(`${FRAMES} fuzzed frames give the same counters, frames sent and TCP segments whatever the poison`, async () => {
    const outcomes: Outcome[] = [];
    for (const poison of POISONS) {
      const { tb, outcome, onSent } = await bed(poison);
      pump(tb, 'macvlan0', new Rng(SEED), FRAMES, onSent);
      outcomes.push(await outcome());
    }
    assert.ok(outcomes[0].tcp.length > 0 && outcomes[0].sent > 0, 'the fuzz reached TCP and the answering paths');
    assertSame(outcomes, `fuzz seed 0x${SEED.toString(16)}`);
  });

  it('hand-made frames cut at a header boundary: the same results as the only, the last and a middle frame of a vector', async () => {
    const cases = malformed();
    const good = pingFrame({ seq: 1, data: Buffer.from('good') });
    const layouts: [string, (c: Case) => [Buffer, InjectOptions][]][] = [
      ['alone', (c) => [[c.frame, c.inject ?? {}]]],
      ['last', (c) => [[good, {}], [c.frame, c.inject ?? {}]]],
      ['middle', (c) => [[good, {}], [c.frame, c.inject ?? {}], [good, {}]]],
    ];
    // One dataplane per poison value; every case is compared right after its vector.
    const beds = await Promise.all(POISONS.map((p) => bed(p)));
    let checked = 0;
    for (const [layout, frames] of layouts) {
      for (const c of cases) {
        const outcomes: Outcome[] = [];
        for (const { tb, outcome } of beds) {
          const dev = tb.device();
          for (const [f, o] of frames(c)) dev.inject(f, o);
          assert.equal(dev.deliver(), frames(c).length);
          outcomes.push(await outcome());
        }
        assertSame(outcomes, `${c.name} (${c.frame.length} bytes, ${layout})`);
        checked++;
      }
    }
    assert.equal(checked, cases.length * layouts.length);
    // The cases reached the length checks they are about.
    const reached = (await beds[0].outcome()).counters.join('\n');
    for (const key of [
      'ethernet-input/runt frame',
      'ethernet-input/truncated VLAN tag',
      'arp-input/malformed ARP packet',
      'ip4-input/ip4 packet too short',
      'ip4-input/ip4 bad header length',
      'ip4-input/ip4 length exceeds frame',
      'ip4-icmp-input/icmp packet too short',
      'tcp4-input/tcp segment too short',
      'ip6-input/ip6 packet too short',
      'ip6-input/ip6 length exceeds frame',
      'ip6-input/ip6 extension header truncated',
      'ip6-icmp-input/icmp6 packet too short',
      'ip6-icmp-input/ND message too short',
      'ip6-icmp-input/ND option length 0 or past the end',
      'tcp6-input/tcp segment too short',
    ])
      assert.ok(reached.includes(key), `no case reached '${key}'`);
  });
});
