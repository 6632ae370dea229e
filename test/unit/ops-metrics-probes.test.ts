/**
 * /metrics as an off-path oracle, judged end to end (issue 9 item 1, the CVE-2016-5696 class):
 * an attacker who can spoof segments towards the server and scrape the management endpoint must
 * not learn where a probe fell. For each probe kind, two identical worlds (a Dataplane on an
 * in-memory device, the engine's Services with its TCP stack and error sources, one established
 * connection from a scripted client) get a "hit" probe and a "miss" probe; the WHOLE /metrics
 * exposition of each is scraped and must be identical, right after the probe and again after the
 * clock ran on (timers, delayed ACKs).
 *
 * Stripped before comparing (not probe-driven, or clock-driven, and said so):
 * - `process_*` and `nodejs_*`: prom-client's figures of this Node process (CPU, heap, GC, event
 *   loop lag, handles): both worlds live in one process and are scraped at different instants;
 * - `*_seconds_total` of nodes and TLS (vpp_node_seconds_total, vpp_tls_handshake_seconds_total):
 *   measured time, which a probe does change (timing stays observable, see README);
 * - HELP/TYPE comment lines (the same text in both).
 * Everything else (device, interface, node calls/vectors, errors, TCP, memory, HTTP) is compared.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { MemoryDevice } from '../../src/io/memory-device.js';
import { Services } from '../../src/services.js';
import type { ErrorSource } from '../../src/cli/context.js';
import { createMetricsRegistry } from '../../src/ops/metrics.js';
import { buildSegment, decodeSegment, type BuildOptions, type DecodedSegment } from '../../src/tcp/testing.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { ETH_HEADER_LEN, ETHERTYPE_IPV4, writeEthernet } from '../../src/wire/ethernet.js';
import { IP_PROTO_TCP, IPV4_MIN_HEADER_LEN, writeIpv4 } from '../../src/wire/ipv4.js';
import { finish, pseudoHeaderSum, sumWords } from '../../src/wire/checksum.js';
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { IP6_ANY_HANDLE } from '../../src/dataplane/ip6-peers.js';
import { createTestBed, SEED_STARTUP_LINES } from '../helpers/dataplane.js';
import { nsFrame, OUR_IP6, tcp6Frame } from '../helpers/frames6.js';

const SERVER = parseIpv4('10.0.0.1')!;
const CLIENT = parseIpv4('10.0.0.2')!;
const SMAC = Buffer.from([2, 0, 0, 0, 0, 1]);
const CMAC = Buffer.from([2, 0, 0, 0, 0, 2]);
const CPORT = 40000;

type Seg = Omit<BuildOptions, 'srcPort' | 'dstPort'> & { srcPort?: number };

/** How a world's frames reach its server: IPv4 on a plain interface, or IPv6 on a VLAN sub-interface. */
interface Link {
  dp: Dataplane;
  dev: MemoryDevice;
  clock: { now: number };
  /** The TCP listener's address (an IPv4 address or an IPv6 handle). */
  listenIp: number;
  /** The frame that carries `tcp` (checksum field 0) from the client to the server. */
  frame(tcp: Buffer): Buffer;
}

async function link4(): Promise<Link> {
  const clock = { now: 1000 };
  const dev = new MemoryDevice('m0', SMAC);
  const dp = new Dataplane({ openDevice: () => dev, now: () => clock.now });
  const name = dp.createHostInterface('m0');
  dp.setAdminState(name, true);
  dp.addAddress(name, { address: SERVER, prefixLength: 24 });
  dp.setNeighbor(name, CLIENT, CMAC, true);
  const frame = (tcp: Buffer): Buffer => {
    const f = Buffer.alloc(ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN + tcp.length);
    writeEthernet(f, 0, SMAC, CMAC, ETHERTYPE_IPV4);
    writeIpv4(f, ETH_HEADER_LEN, CLIENT, SERVER, IP_PROTO_TCP, tcp.length, 1);
    const o = ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN;
    tcp.copy(f, o);
    f.writeUInt16BE(finish(sumWords(f, o, tcp.length, pseudoHeaderSum(CLIENT, SERVER, IP_PROTO_TCP, tcp.length))), o + 16);
    return f;
  };
  return { dp, dev, clock, listenIp: SERVER, frame };
}

/** The seed's VLAN 123 sub-interface with 2001:db8:123::150/64, the client a known neighbour. */
async function link6(): Promise<Link> {
  const tb = await createTestBed([...SEED_STARTUP_LINES, 'set int ip address host-macvlan0.123 2001:db8:123::150/64']);
  tb.clock.now += 1000;
  tb.dp.tickNeighbors();
  tb.send(nsFrame(OUR_IP6));
  const frame = (tcp: Buffer): Buffer => {
    const hl = (tcp[12] >>> 4) * 4;
    return tcp6Frame({ srcPort: tcp.readUInt16BE(0), dstPort: tcp.readUInt16BE(2), seq: tcp.readUInt32BE(4), ack: tcp.readUInt32BE(8), flags: tcp[13], window: tcp.readUInt16BE(14), options: tcp.subarray(20, hl), payload: tcp.subarray(hl) });
  };
  return { dp: tb.dp, dev: tb.device(), clock: tb.clock, listenIp: IP6_ANY_HANDLE, frame };
}

/** The TCP segment in a frame the server sent (IPv4 or IPv6, tagged or not), or undefined. */
function tcpOf(f: Buffer): Buffer | undefined {
  let l3 = ETH_HEADER_LEN;
  let type = f.readUInt16BE(12);
  if (type === 0x8100) {
    type = f.readUInt16BE(16);
    l3 += 4;
  }
  if (type === ETHERTYPE_IPV4 && f[l3 + 9] === IP_PROTO_TCP) return f.subarray(l3 + (f[l3] & 15) * 4, l3 + f.readUInt16BE(l3 + 2));
  if (type === 0x86dd && f[l3 + 6] === IP_PROTO_TCP) return f.subarray(l3 + 40, l3 + 40 + f.readUInt16BE(l3 + 4));
  return undefined;
}

/**
 * A server dataplane with the engine's Services (TCP stack, error sources, metrics registry) and
 * one established connection from the client's port CPORT, driven by a fake clock.
 */
class World {
  readonly services: Services;
  readonly errorSources: ErrorSource[] = [];
  readonly registry;
  /** Client-side sequence state: our next seq (the server's RCV.NXT), the server's SND.NXT. */
  cSeq = 0x10000000;
  sSeq = 0;
  ts = 5000;

  static async create(family: 4 | 6, useTs: boolean): Promise<World> {
    return new World(family === 4 ? await link4() : await link6(), useTs);
  }

  private constructor(
    readonly link: Link,
    readonly useTs: boolean,
  ) {
    this.services = new Services(link.dp, this.errorSources);
    const host = this.services.ensureTcp();
    host.stack.listen(link.listenIp, 80, () => ({ onData() {}, onDrain() {}, onEnd() {}, onClose() {} }));
    this.registry = createMetricsRegistry({ dp: link.dp, services: this.services, errorSources: this.errorSources, status: () => ({ live: true, ready: true, stalls: 0, maxGapMs: 0 }) });
    link.dev.takeSent();
    // Handshake, then 1000 bytes the application reads, then quiet (the delayed ACK has gone).
    const synAck = this.send({ seq: this.cSeq, flags: TCP_SYN, mss: 1400, sackOk: true, wscale: 7, window: 65535 });
    assert.equal(synAck.length, 1);
    this.sSeq = (synAck[0].seq + 1) >>> 0;
    this.cSeq = (this.cSeq + 1) >>> 0;
    this.send({ seq: this.cSeq, ack: this.sSeq, flags: TCP_ACK });
    this.send({ seq: this.cSeq, ack: this.sSeq, flags: TCP_ACK | TCP_PSH, data: Buffer.alloc(1000, 0x61) });
    this.cSeq = (this.cSeq + 1000) >>> 0;
    this.advance(1000);
  }

  /** Injects one segment from the client (or a spoofer using its address) and returns the server's answers. */
  send(s: Seg): DecodedSegment[] {
    const opts: BuildOptions = { srcPort: CPORT, dstPort: 80, window: 512, ...s };
    if (this.useTs && opts.ts === undefined) opts.ts = [this.ts, 0];
    this.link.dev.inject(this.link.frame(buildSegment(opts)));
    this.link.dev.deliver();
    return this.taken();
  }

  advance(ms: number): DecodedSegment[] {
    const host = this.services.tcp!;
    for (let i = 0; i < ms; i += 10) {
      this.link.clock.now += 10;
      host.stack.tick(this.link.clock.now);
      host.kick();
    }
    return this.taken();
  }

  private taken(): DecodedSegment[] {
    return this.link.dev.takeSent().flatMap((f) => {
      const tcp = tcpOf(f);
      return tcp === undefined ? [] : [decodeSegment(Buffer.from(tcp))];
    });
  }

  async scrape(): Promise<string[]> {
    const text = await this.registry.metrics();
    return text.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !STRIPPED.test(l));
  }

  close(): void {
    this.services.tcp?.close();
    this.link.dp.close();
  }
}

/** Series stripped before comparing (see the file comment for why). */
const STRIPPED = /^(process_|nodejs_|vpp_node_seconds_total|vpp_tls_handshake_seconds_total)/;

interface Probe {
  name: string;
  ts?: boolean;
  /** Also over IPv6 (on a VLAN sub-interface). */
  v6?: boolean;
  /** The probe that falls where it matters (in the window, on the connection). */
  hit(w: World): Seg;
  /** The same kind of probe where it does not. */
  miss(w: World): Seg;
}

const FAR = 0x40000000;
const add = (a: number, b: number): number => (a + b) >>> 0;

const PROBES: Probe[] = [
  { name: 'RST in the window vs out of it', v6: true, hit: (w) => ({ seq: add(w.cSeq, 10), flags: TCP_RST }), miss: (w) => ({ seq: add(w.cSeq, FAR), flags: TCP_RST }) },
  {
    name: 'data in the window above RCV.NXT vs out of it',
    v6: true,
    hit: (w) => ({ seq: add(w.cSeq, 100), ack: w.sSeq, flags: TCP_ACK, data: 'x'.repeat(20) }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK, data: 'x'.repeat(20) }),
  },
  {
    name: 'data behind RCV.NXT vs out of the window',
    hit: (w) => ({ seq: add(w.cSeq, -500), ack: w.sSeq, flags: TCP_ACK, data: 'x'.repeat(20) }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK, data: 'x'.repeat(20) }),
  },
  {
    name: 'data in the window with an unacceptable ACK vs out of the window',
    hit: (w) => ({ seq: add(w.cSeq, 100), ack: add(w.sSeq, 12345), flags: TCP_ACK, data: 'x'.repeat(20) }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: add(w.sSeq, 12345), flags: TCP_ACK, data: 'x'.repeat(20) }),
  },
  { name: 'SYN in the window vs out of it', hit: (w) => ({ seq: add(w.cSeq, 10), flags: TCP_SYN }), miss: (w) => ({ seq: add(w.cSeq, FAR), flags: TCP_SYN }) },
  {
    name: 'ACK too new, seq in the window vs out of it',
    hit: (w) => ({ seq: w.cSeq, ack: add(w.sSeq, 100000), flags: TCP_ACK }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: add(w.sSeq, 100000), flags: TCP_ACK }),
  },
  {
    name: 'ACK too old, seq in the window vs out of it',
    hit: (w) => ({ seq: w.cSeq, ack: add(w.sSeq, -FAR), flags: TCP_ACK }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: add(w.sSeq, -FAR), flags: TCP_ACK }),
  },
  {
    name: 'PAWS-failing segment in the window vs a good timestamp out of it',
    ts: true,
    hit: (w) => ({ seq: add(w.cSeq, 10), ack: w.sSeq, flags: TCP_ACK, data: 'y', ts: [w.ts - 100000, 0] }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK, data: 'y' }),
  },
  {
    name: 'ACK for the existing 4-tuple with a wrong seq vs for no connection',
    v6: true,
    hit: (w) => ({ seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK }),
    miss: (w) => ({ srcPort: CPORT + 1, seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK }),
  },
  {
    name: 'RST for the existing 4-tuple in the window vs for no connection',
    hit: (w) => ({ seq: add(w.cSeq, 10), flags: TCP_RST }),
    miss: (w) => ({ srcPort: CPORT + 1, seq: add(w.cSeq, 10), flags: TCP_RST }),
  },
];

function diff(a: string[], b: string[]): string {
  const sa = new Set(a);
  const sb = new Set(b);
  return [...a.filter((l) => !sb.has(l)).map((l) => `hit:  ${l}`), ...b.filter((l) => !sa.has(l)).map((l) => `miss: ${l}`)].join('\n');
}

/** Runs `n` probes of each side (10 ms apart) in twin worlds and compares the scrapes. */
async function judge(p: Probe, n: number, family: 4 | 6 = 4): Promise<void> {
  const worlds = [await World.create(family, p.ts === true), await World.create(family, p.ts === true)];
  try {
    const answered = [0, 0];
    worlds.forEach((w, side) => {
      for (let i = 0; i < n; i++) {
        answered[side] += w.send(side === 0 ? p.hit(w) : p.miss(w)).length;
        w.advance(10);
      }
    });
    const [a, b] = await Promise.all(worlds.map((w) => w.scrape()));
    assert.ok(a.length > 100, `a whole exposition (${a.length} series)`);
    assert.equal(diff(a, b), '', `${p.name} (${n}x; the server answered ${answered[0]} vs ${answered[1]} segments): the scrapes differ`);
    for (const w of worlds) w.advance(2000);
    const [a2, b2] = await Promise.all(worlds.map((w) => w.scrape()));
    assert.equal(diff(a2, b2), '', `${p.name} (${n}x), 2 s later: the scrapes differ`);
  } finally {
    for (const w of worlds) w.close();
  }
}

describe('/metrics tells a spoofer nothing about where its probe fell (whole exposition)', () => {
  for (const p of PROBES) {
    it(`${p.name}: one probe`, () => judge(p, 1));
    it(`${p.name}: five probes in a row`, () => judge(p, 5));
    if (p.v6 === true) it(`${p.name}: five probes in a row, IPv6 on a VLAN sub-interface`, () => judge(p, 5, 6));
  }

  it('the twin worlds do see the probes (the oracle is not comparing two empty scrapes)', async () => {
    const w = await World.create(4, false);
    try {
      const before = await w.scrape();
      const answers = w.send({ seq: add(w.cSeq, 10), flags: TCP_RST });
      assert.equal(answers.length, 1, 'a challenge ACK');
      assert.equal(answers[0].flags, TCP_ACK);
      const after = await w.scrape();
      assert.notEqual(diff(before, after), '', 'the input series moved');
    } finally {
      w.close();
    }
  });
});
