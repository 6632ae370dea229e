/**
 * Twin worlds for judging /metrics as an off-path oracle (test/unit/ops-metrics-probes.test.ts,
 * test/unit/review-metrics-*.test.ts): a server Dataplane on an in-memory device with the engine's
 * Services (TCP stack, error sources, metrics registry) and one established connection from a
 * scripted client, driven by a fake clock. Two identical worlds get a "hit" and a "miss" probe and
 * their whole expositions are compared.
 */
import assert from 'node:assert/strict';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { MemoryDevice } from '../../src/io/memory-device.js';
import { Services } from '../../src/services.js';
import type { ErrorSource } from '../../src/cli/context.js';
import { createMetricsRegistry } from '../../src/ops/metrics.js';
import type { ByteStream } from '../../src/stream/byte-stream.js';
import type { TcpOptions } from '../../src/tcp/types.js';
import { buildSegment, decodeSegment, type BuildOptions, type DecodedSegment } from '../../src/tcp/testing.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { ETH_HEADER_LEN, ETHERTYPE_IPV4, writeEthernet } from '../../src/wire/ethernet.js';
import { IP_PROTO_TCP, IPV4_MIN_HEADER_LEN, writeIpv4 } from '../../src/wire/ipv4.js';
import { finish, pseudoHeaderSum, sumWords } from '../../src/wire/checksum.js';
import { writeArp } from '../../src/wire/arp.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../src/wire/tcp.js';
import { IP6_ANY_HANDLE } from '../../src/dataplane/ip6-peers.js';
import { createTestBed, SEED_STARTUP_LINES } from './dataplane.js';
import { nsFrame, OUR_IP6, tcp6Frame } from './frames6.js';

export const SERVER = parseIpv4('10.0.0.1')!;
export const CLIENT = parseIpv4('10.0.0.2')!;
export const SMAC = Buffer.from([2, 0, 0, 0, 0, 1]);
export const CMAC = Buffer.from([2, 0, 0, 0, 0, 2]);
export const CPORT = 40000;

export type Seg = Omit<BuildOptions, 'srcPort' | 'dstPort'> & { srcPort?: number };

/** How a world's frames reach its server: IPv4 on a plain interface, or IPv6 on a VLAN sub-interface. */
export interface Link {
  dp: Dataplane;
  dev: MemoryDevice;
  clock: { now: number };
  /** The TCP listener's address (an IPv4 address or an IPv6 handle). */
  listenIp: number;
  /** The frame that carries `tcp` (checksum field 0) from the client to the server. */
  frame(tcp: Buffer): Buffer;
}

/**
 * What the next World is made with (tests that need other settings change it and put it back):
 * whether the client is a static neighbour (false: a dynamic entry that goes STALE), and the TCP
 * options of the server's stack.
 */
export const worldDefaults: { staticNeighbor: boolean; tcpOptions: Partial<TcpOptions> } = { staticNeighbor: true, tcpOptions: {} };
async function link4(): Promise<Link> {
  const clock = { now: 1000 };
  const dev = new MemoryDevice('m0', SMAC);
  const dp = new Dataplane({ openDevice: () => dev, now: () => clock.now });
  const name = dp.createHostInterface('m0');
  dp.setAdminState(name, true);
  dp.addAddress(name, { address: SERVER, prefixLength: 24 });
  dp.setNeighbor(name, CLIENT, CMAC, worldDefaults.staticNeighbor);
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
export function tcpOf(f: Buffer): Buffer | undefined {
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
export class World {
  readonly services: Services;
  readonly errorSources: ErrorSource[] = [];
  readonly registry;
  /** Client-side sequence state: our next seq (the server's RCV.NXT), the server's SND.NXT. */
  cSeq = 0x10000000;
  sSeq = 0;
  ts = 5000;
  stream: ByteStream | null = null;
  /** What the application read. */
  readonly received: Buffer[] = [];
  /** The real client answers the server's ARP requests for its address (IPv4 worlds). */
  answerArp = false;

  static async create(family: 4 | 6, useTs: boolean): Promise<World> {
    return new World(family === 4 ? await link4() : await link6(), useTs);
  }

  private constructor(
    readonly link: Link,
    readonly useTs: boolean,
  ) {
    this.services = new Services(link.dp, this.errorSources);
    this.services.tcpOptions = { ...worldDefaults.tcpOptions };
    const host = this.services.ensureTcp();
    host.stack.listen(link.listenIp, 80, (s) => {
      this.stream = s;
      return { onData: (b: Buffer, off: number, len: number) => void this.received.push(Buffer.from(b.subarray(off, off + len))), onDrain() {}, onEnd() {}, onClose() {} };
    });
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
    const sent = this.link.dev.takeSent();
    if (this.answerArp) {
      for (const f of sent) {
        if (f.readUInt16BE(12) !== 0x0806 || f.readUInt16BE(20) !== 1 || f.readUInt32BE(38) !== CLIENT >>> 0) continue;
        const r = Buffer.alloc(ETH_HEADER_LEN + 28);
        writeEthernet(r, 0, SMAC, CMAC, 0x0806);
        writeArp(r, ETH_HEADER_LEN, 2, CMAC, CLIENT, SMAC, SERVER);
        this.link.dev.inject(r);
      }
      this.link.dev.deliver();
    }
    return sent.flatMap((f) => {
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

/** Series stripped before comparing: not probe-driven, or clock-driven (see the test files). */
export const STRIPPED = /^(process_|nodejs_|vpp_node_seconds_total|vpp_tls_handshake_seconds_total)/;

/** A sequence number far outside any window. */
export const FAR = 0x40000000;
export const add = (a: number, b: number): number => (a + b) >>> 0;

/** The lines only one of two scrapes has, marked by side. */
export function diff(a: string[], b: string[]): string {
  const sa = new Set(a);
  const sb = new Set(b);
  return [...a.filter((l) => !sb.has(l)).map((l) => `hit:  ${l}`), ...b.filter((l) => !sa.has(l)).map((l) => `miss: ${l}`)].join('\n');
}

/** Legitimate client data in order (the real client's next segment). */
export function legit(w: World, n: number): DecodedSegment[] {
  const r = w.send({ seq: w.cSeq, ack: w.sSeq, flags: TCP_ACK | TCP_PSH, data: Buffer.alloc(n, 0x62) });
  w.cSeq = add(w.cSeq, n);
  return r;
}

/** Twin worlds: the same script, a hit probe in one and a miss in the other; the whole expositions must be equal. */
export async function twin(name: string, script: (w: World, hit: boolean) => void, family: 4 | 6 = 4): Promise<void> {
  const worlds = [await World.create(family, false), await World.create(family, false)];
  try {
    worlds.forEach((w, side) => script(w, side === 0));
    const [a, b] = await Promise.all(worlds.map((w) => w.scrape()));
    assert.equal(diff(a, b), '', `${name}: the scrapes differ`);
  } finally {
    for (const w of worlds) w.close();
  }
}
