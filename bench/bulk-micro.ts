/**
 * Micro-benchmark of the bulk data path, in one process and without a network: the workload of
 * test/unit/zero-alloc.test.ts (our dataplane and TCP sending from a 4 MiB queue to a scripted
 * client that answers each vector with 4 segments of 100 bytes, timestamps and the cumulative
 * ACK), timed in CPU, with the scavenges counted.
 *
 *   node dist/bench/bulk-micro.js [--frames 2000000] [--offload] [--low] [--isn N] [--acks [--win BYTES]]
 *
 * `--acks`: a download's client instead: one pure ACK of everything received per round, window
 * `--win` bytes (default 131072: about two 64 KB super-frames per ACK with `--offload`, near the
 * real download's 1.4 super-frames per ACK); the figure is then mostly our TCP sender's JS.
 * `--offload`: TX offload (super-frames, checksums by the device); `--low`: 10.0.0.x addresses
 * instead of 192.168.123.x (addresses above 2^31 used to be boxed on every call); `--isn`: the
 * server's ISN (default just below 2^31: the unsigned sequence numbers stay above 2^31). Prints
 * CPU µs per 10 MB sent and ns per frame; the client's share (building and parsing frames) is
 * included (the wire writers it uses are the build's own): compare two builds with interleaved
 * runs; the file compiles in older trees too (copy it into their bench/).
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { Dataplane } from '../src/dataplane/dataplane.js';
import { DataplaneSegmentSink, TcpHost } from '../src/dataplane/tcp-host.js';
import type { TxVector } from '../src/io/device.js';
import { MemoryDevice } from '../src/io/memory-device.js';
import { TcpStack } from '../src/tcp/stack.js';
import { parseIpv4 } from '../src/wire/address.js';
import { writeEthernet } from '../src/wire/ethernet.js';
import { writeIpv4 } from '../src/wire/ipv4.js';
import { fillTcpChecksum, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, writeOptMss, writeOptTimestamp, writeOptWscale, writeTcpHeader } from '../src/wire/tcp.js';

const has = (name: string): boolean => process.argv.includes(name);
function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const FRAMES = arg('--frames', 2_000_000);
const OFFLOAD = has('--offload');
const ACKS = has('--acks');
const WIN_FIELD = ACKS ? Math.max(1, arg('--win', 131072) >> 7) : 128;
const ISN = arg('--isn', 0x7fffffff - 50_000);
const SERVER = parseIpv4(has('--low') ? '10.0.0.1' : '192.168.123.150')!;
const CLIENT = parseIpv4(has('--low') ? '10.0.0.2' : '192.168.123.1')!;
const SMAC = Buffer.from([2, 0, 0, 0, 0, 1]);
const CMAC = Buffer.from([2, 0, 0, 0, 0, 2]);

/** The client's state in fields, sequence numbers as int32s (it allocates nothing). */
class Client {
  t = 1000;
  serverNxt = 0;
  clientSeq = 0;
  ipId = 0;
  txFrames = 0;
  txBytes = 0;
  rxFrames = 0;
}

const c = new Client();
c.clientSeq = (ISN - 7_777) | 0;
const dev = new MemoryDevice('macvlan0', SMAC, 1500, 256);
if (OFFLOAD) dev.txOffload = { checksum: true, gso: true, maxGsoBytes: 65535 };
dev.onSendVector = (tx: TxVector, first: number) => {
  const b = tx.data;
  for (let i = first; i < tx.count; i++) {
    const o = tx.offset[i];
    if (((b[o + 12] << 8) | b[o + 13]) !== 0x0800 || b[o + 23] !== 6) continue;
    const ip = o + 14;
    const ihl = (b[ip] & 15) * 4;
    const tcp = ip + ihl;
    const payload = ((b[ip + 2] << 8) | b[ip + 3]) - ihl - ((b[tcp + 12] >>> 4) << 2);
    const flags = b[tcp + 13];
    const seq = (b[tcp + 4] << 24) | (b[tcp + 5] << 16) | (b[tcp + 6] << 8) | b[tcp + 7];
    const end = (seq + payload + ((flags & TCP_SYN) !== 0 ? 1 : 0) + ((flags & TCP_FIN) !== 0 ? 1 : 0)) | 0;
    if (((end - c.serverNxt) | 0) > 0 || (flags & TCP_SYN) !== 0) c.serverNxt = end;
    const gso = tx.gsoSize?.[i] ?? 0;
    c.txFrames += gso > 0 ? Math.ceil(payload / gso) : 1;
    c.txBytes += payload;
  }
};

const dp = new Dataplane({ openDevice: () => dev, now: () => c.t });
const ifname = dp.createHostInterface('macvlan0');
dp.setAdminState(ifname, true);
dp.addAddress(ifname, { address: SERVER, prefixLength: 24 });
dp.setNeighbor(ifname, CLIENT, CMAC, true);
const stack = new TcpStack(new DataplaneSegmentSink(dp), { mss: 1460, secret: Buffer.alloc(24, 1), isnFor: () => ISN });
const host = new TcpHost(dp, stack);
const big = Buffer.alloc(1 << 20, 0x5a);
stack.listen(
  SERVER,
  80,
  host.timed((stream) => {
    const fill = () => {
      while (stream.queuedBytes < 4 << 20) stream.write(big);
    };
    fill();
    return { onData() {}, onDrain: fill, onEnd() {}, onClose() {} };
  }),
);

const rx = dev.rxVector;
const arena = Buffer.alloc(256 * 2048);
rx.data = arena;
function segment(k: number, flags: number, dataBytes: number, syn: boolean): void {
  const o = k * 2048;
  writeEthernet(arena, o, SMAC, CMAC, 0x0800);
  const tcp = o + 34;
  let p = tcp + 20;
  if (syn) {
    p = writeOptMss(arena, p, 1460);
    p = writeOptTimestamp(arena, p, Math.floor(c.t) | 0, 0, true);
    p = writeOptWscale(arena, p, 7);
  } else p = writeOptTimestamp(arena, p, Math.floor(c.t) | 0, 0);
  const hl = p - tcp;
  writeTcpHeader(arena, tcp, 40000, 80, c.clientSeq, syn ? 0 : c.serverNxt, hl, flags, syn ? 65535 : WIN_FIELD);
  arena.fill(0x61, p, p + dataBytes);
  writeIpv4(arena, o + 14, CLIENT, SERVER, 6, hl + dataBytes, c.ipId++);
  fillTcpChecksum(arena, tcp, hl + dataBytes, CLIENT, SERVER);
  rx.offset[k] = o;
  rx.length[k] = 34 + hl + dataBytes;
  rx.flags[k] = 0;
  rx.vlanTpid[k] = 0;
  c.clientSeq = (c.clientSeq + dataBytes + (syn ? 1 : 0)) | 0;
}

segment(0, TCP_SYN, 0, true);
dev.deliverPrepared(1);
segment(0, TCP_ACK, 0, false);
dev.deliverPrepared(1);
function step(rounds: number): void {
  for (let r = 0; r < rounds; r++) {
    c.t += 0.05;
    if (ACKS) {
      segment(0, TCP_ACK, 0, false);
      dev.deliverPrepared(1);
      c.rxFrames += 1;
    } else {
      for (let k = 0; k < 4; k++) segment(k, TCP_ACK | TCP_PSH, 100, false);
      dev.deliverPrepared(4);
      c.rxFrames += 4;
    }
    if ((r & 15) === 15) {
      stack.tick(c.t);
      host.kick();
    }
  }
}
const through = () => c.rxFrames + c.txFrames;
while (through() < 300_000) step(64);

let scavenges = 0;
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
});
observer.observe({ entryTypes: ['gc'] });
const f0 = through();
const b0 = c.txBytes;
const u0 = process.cpuUsage();
while (through() - f0 < FRAMES) step(64);
const u = process.cpuUsage(u0);
await new Promise((r) => setTimeout(r, 20));
observer.disconnect();
host.close();
const us = u.user + u.system;
const mb = (c.txBytes - b0) / 1e6;
const frames = through() - f0;
console.log(
  `${OFFLOAD ? 'offload' : 'plain'}${ACKS ? `, pure ACKs (window ${WIN_FIELD << 7})` : ''}, ${has('--low') ? '10.0.0.x' : '192.168.123.x'}, ISN ${ISN}: ${frames} frames, ${mb.toFixed(0)} MB sent, ` +
    `${((us / mb) * 10).toFixed(0)} µs CPU per 10 MB, ${((us * 1000) / frames).toFixed(0)} ns per frame, ${scavenges} scavenges`,
);
