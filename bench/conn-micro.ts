/**
 * Micro-benchmark of the new-connection path, in one process and without a network: our whole
 * dataplane (ethernet-input → ip4-input → tcp4-input → TCP → HTTP static server → TX batch)
 * against a scripted client that behaves like Linux under `wrk -H 'Connection: close'`:
 * SYN → (SYN-ACK) → ACK, GET → (response, FIN) → FIN+ACK → (ACK), then a new connection
 * from the next port. `--conns` connections run side by side; each round hands the server one
 * vector with every frame the clients have to send.
 *
 *   node dist/bench/conn-micro.js [--seconds 5] [--conns 64] [--rate 15000] [--warmup 1] [--count N] [--gc]
 *   node --cpu-prof --cpu-prof-dir /tmp/prof dist/bench/conn-micro.js
 *
 * Prints connections/s, the server's share of the time (the client's frame building and
 * parsing is timed apart), and frames per connection in each direction.
 *
 * `--count N` measures N connections instead of --seconds: a fixed amount of work, for counting
 * instructions where the CPU has no performance counters (e.g. under valgrind --tool=callgrind,
 * comparing two builds at the same N).
 *
 * `--gc` also reports the garbage collector's work in the measured window (v8.GCProfiler): the
 * scavenges and full GCs, their cost, and per connection the bytes allocated in the young
 * generation and the bytes promoted to the old one (the old generation's growth across each
 * scavenge: what survived twice, or once when the scavenger promotes early).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { GCProfiler } from 'node:v8';
import { Dataplane } from '../src/dataplane/dataplane.js';
import { DataplaneSegmentSink, TcpHost } from '../src/dataplane/tcp-host.js';
import { HttpStaticServer } from '../src/http/server.js';
import type { Device, DeviceStats, RxHandler, RxVector, TxOffload, TxVector } from '../src/io/device.js';
import { TcpStack } from '../src/tcp/stack.js';
import { finish, pseudoHeaderSum, sumWords } from '../src/wire/checksum.js';

const SERVER = 0xc0a87b96; // 192.168.123.150
const CLIENT = 0xc0a87b0a; // 192.168.123.10
const SMAC = Buffer.from([2, 0, 0, 0, 0, 0x96]);
const CMAC = Buffer.from([2, 0, 0, 0, 0, 0x0a]);
const REQUEST = Buffer.from('GET /index.html HTTP/1.1\r\nHost: 192.168.123.150\r\nConnection: close\r\n\r\n');

const F_FIN = 1;
const F_SYN = 2;
const F_RST = 4;
const F_PSH = 8;
const F_ACK = 16;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** The server's device: frames the clients wrote are delivered as one vector; sent frames are parsed. */
class BenchDevice implements Device {
  readonly ifname = 'bench0';
  readonly mac = SMAC;
  readonly mtu = 1500;
  readonly txOffload: TxOffload = { checksum: true, gso: true, maxGsoBytes: 65535 };
  handler: RxHandler | null = null;
  /** Two vectors: clients fill one while the server processes the other. */
  rx: RxVector;
  other: RxVector;
  arena: Buffer;
  used = 0;
  onFrame: (buf: Buffer, off: number, len: number) => void = () => {};
  framesOut = 0;

  constructor() {
    const vec = (): RxVector => ({
      count: 0,
      data: Buffer.alloc(1024 * 2048),
      offset: new Uint32Array(1024),
      length: new Uint32Array(1024),
      vlanTpid: new Uint16Array(1024),
      vlanTci: new Uint16Array(1024),
      flags: new Uint8Array(1024),
    });
    this.rx = vec();
    this.other = vec();
    this.arena = this.rx.data;
  }
  start(h: RxHandler): void {
    this.handler = h;
  }
  /** Reserves a frame of len bytes in the next vector; returns its offset. */
  add(len: number): number {
    const rx = this.rx;
    const off = this.used;
    rx.offset[rx.count] = off;
    rx.length[rx.count] = len;
    rx.count++;
    this.used += (len + 63) & ~63;
    return off;
  }
  deliver(): number {
    const v = this.rx;
    const n = v.count;
    this.rx = this.other;
    this.other = v;
    this.arena = this.rx.data;
    this.used = 0;
    if (n > 0) this.handler!(v);
    v.count = 0;
    return n;
  }
  send(tx: TxVector): number {
    for (let i = 0; i < tx.count; i++) {
      this.framesOut++;
      this.onFrame(tx.data, tx.offset[i], tx.length[i]);
    }
    return tx.count;
  }
  stats(): DeviceStats {
    return { kernelPackets: 0, kernelDrops: 0, kernelFreezes: 0, txErrors: 0 };
  }
  close(): void {}
}

const IDLE = 0;
const SYN_SENT = 1;
const WAIT_RESPONSE = 2;
const WAIT_LAST_ACK = 3;

class Client {
  state = IDLE;
  port = 0;
  seq = 0;
  ack = 0;
  tsRecent = 0;
  got = 0;
}

async function main(): Promise<void> {
  const seconds = arg('--seconds', 5);
  const nconns = arg('--conns', 64);
  const rate = arg('--rate', 15000);
  const warmup = arg('--warmup', 1);
  const count = arg('--count', 0);
  const gcStats = process.argv.includes('--gc');
  const www = mkdtempSync(join(tmpdir(), 'conn-micro-'));
  writeFileSync(join(www, 'index.html'), 'Welcome\n');

  const dev = new BenchDevice();
  // Virtual time: each completed connection advances the clock by 1/--rate s, so that timers
  // (TIME_WAIT above all: rate × timeWaitMs connections wait in it) behave as at that rate
  // however fast the run goes.
  let vnow = 1000;
  const step = 1000 / rate;
  const dp = new Dataplane({ openDevice: () => dev, now: () => vnow });
  const name = dp.createHostInterface(dev.ifname);
  dp.setAdminState(name, true);
  dp.addAddress(name, { address: SERVER, prefixLength: 24 });
  dp.neighbors.set(dp.get(name), CLIENT, CMAC, true, dp.now());
  let kick = false;
  const stack: TcpStack = new TcpStack(new DataplaneSegmentSink(dp), {
    mss: (localIp) => (dp.interfaceForAddress(localIp)?.mtu ?? 1500) - 40,
    onWork: () => {
      if (kick) return;
      kick = true;
      setImmediate(() => {
        kick = false;
        host.kick();
      });
    },
  });
  const host = new TcpHost(dp, stack);
  const server = new HttpStaticServer({ wwwRoot: www, cacheSizeBytes: 64 << 20 });
  stack.listen(0, 80, server.accept);

  const clients: Client[] = [];
  const byPort = new Map<number, Client>();
  for (let i = 0; i < nconns; i++) clients.push(new Client());
  let nextPort = 1024;
  let done = 0;
  let framesIn = 0;
  let clientTime = 0;
  let bad = 0;
  let extraFrames = 0;
  const pending: Client[] = [];

  /** Writes one client frame (Ethernet, IPv4, TCP with the timestamp option) into the next vector. */
  const emit = (c: Client, flags: number, data: Buffer | null, syn: boolean): void => {
    const optLen = syn ? 20 : 12;
    const dlen = data === null ? 0 : data.length;
    const tcpLen = 20 + optLen + dlen;
    const len = 14 + 20 + tcpLen;
    const off = dev.add(len);
    const b = dev.arena;
    CMAC.copy(b, off + 6);
    SMAC.copy(b, off);
    b.writeUInt16BE(0x0800, off + 12);
    const ip = off + 14;
    b[ip] = 0x45;
    b[ip + 1] = 0;
    b.writeUInt16BE(20 + tcpLen, ip + 2);
    b.writeUInt32BE(0x40000000, ip + 4);
    b[ip + 8] = 64;
    b[ip + 9] = 6;
    b.writeUInt16BE(0, ip + 10);
    b.writeUInt32BE(CLIENT, ip + 12);
    b.writeUInt32BE(SERVER, ip + 16);
    b.writeUInt16BE(finish(sumWords(b, ip, 20, 0)), ip + 10);
    const t = ip + 20;
    b.writeUInt16BE(c.port, t);
    b.writeUInt16BE(80, t + 2);
    b.writeUInt32BE(c.seq >>> 0, t + 4);
    b.writeUInt32BE((flags & F_ACK) !== 0 ? c.ack >>> 0 : 0, t + 8);
    b[t + 12] = ((20 + optLen) / 4) << 4;
    b[t + 13] = flags;
    b.writeUInt16BE(syn ? 64240 : 502, t + 14);
    b.writeUInt32BE(0, t + 16);
    let p = t + 20;
    const tsv = (Math.floor(performance.now()) + 12345) >>> 0;
    if (syn) {
      b[p++] = 2; b[p++] = 4; b.writeUInt16BE(1460, p); p += 2; // MSS
      b[p++] = 4; b[p++] = 2; // SACK permitted
      b[p++] = 8; b[p++] = 10; b.writeUInt32BE(tsv, p); b.writeUInt32BE(0, p + 4); p += 8;
      b[p++] = 1; b[p++] = 3; b[p++] = 3; b[p++] = 7; // NOP, window scale 7
    } else {
      b[p++] = 1; b[p++] = 1;
      b[p++] = 8; b[p++] = 10; b.writeUInt32BE(tsv, p); b.writeUInt32BE(c.tsRecent, p + 4); p += 8;
    }
    if (data !== null) data.copy(b, p);
    b.writeUInt16BE(finish(sumWords(b, t, tcpLen, pseudoHeaderSum(CLIENT, SERVER, 6, tcpLen))), t + 16);
    c.seq = (c.seq + dlen + ((flags & (F_SYN | F_FIN)) !== 0 ? 1 : 0)) >>> 0;
  };

  const connect = (c: Client): void => {
    if (c.port !== 0) byPort.delete(c.port);
    c.port = nextPort;
    nextPort = nextPort >= 65535 ? 1024 : nextPort + 1;
    byPort.set(c.port, c);
    c.seq = (Math.random() * 0x100000000) >>> 0;
    c.got = 0;
    c.state = SYN_SENT;
    emit(c, F_SYN, null, true);
  };

  dev.onFrame = (b, off) => {
    const t0 = performance.now();
    const ip = off + 14;
    const tcpLen = b.readUInt16BE(ip + 2) - 20;
    const t = ip + 20;
    const c = byPort.get(b.readUInt16BE(t + 2));
    if (c === undefined) {
      bad++;
      return;
    }
    const hl = (b[t + 12] >>> 4) * 4;
    const flags = b[t + 13];
    const seq = b.readUInt32BE(t + 4);
    const dlen = tcpLen - hl;
    if (hl >= 32 && b[t + 22] === 8) c.tsRecent = b.readUInt32BE(t + 24);
    if ((flags & F_RST) !== 0) {
      bad++;
      c.state = IDLE;
      pending.push(c);
      return;
    }
    switch (c.state) {
      case SYN_SENT:
        if ((flags & (F_SYN | F_ACK)) !== (F_SYN | F_ACK)) {
          bad++;
          break;
        }
        c.ack = (seq + 1) >>> 0;
        emit(c, F_ACK, null, false);
        emit(c, F_ACK | F_PSH, REQUEST, false);
        c.state = WAIT_RESPONSE;
        break;
      case WAIT_RESPONSE:
        if (dlen > 0) {
          c.got += dlen;
          c.ack = (seq + dlen) >>> 0;
        }
        if ((flags & F_FIN) !== 0) {
          if (dlen === 0) extraFrames++;
          c.ack = (c.ack + 1) >>> 0;
          emit(c, F_ACK | F_FIN, null, false);
          c.state = WAIT_LAST_ACK;
        }
        break;
      case WAIT_LAST_ACK:
        if ((flags & F_ACK) !== 0 && b.readUInt32BE(t + 8) === c.seq) {
          done++;
          vnow += step;
          c.state = IDLE;
          pending.push(c);
        }
        break;
    }
    clientTime += performance.now() - t0;
  };

  for (const c of clients) connect(c);
  // Warm up until TIME_WAIT is full (timeWaitMs of virtual time, or its cap reached: closing
  // connections then get no entry) and the code is optimised, then measure.
  const warmEnd = performance.now() + warmup * 1000;
  const twFull = (): boolean => vnow >= 1000 + stack.opts.timeWaitMs * 1.5 || stack.counters.timeWaitOverflows > 0;
  while (performance.now() < warmEnd || !twFull()) {
    for (let r = 0; r < 50; r++) {
      dev.deliver();
      stack.tick(vnow);
      host.kick();
      for (let i = 0; i < pending.length; i++) connect(pending[i]);
      pending.length = 0;
    }
    await yieldLoop();
  }
  done = framesIn = clientTime = bad = extraFrames = 0;
  dev.framesOut = 0;
  const profiler = gcStats ? new GCProfiler() : null;
  profiler?.start();
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const end = start + seconds * 1000;
  let rounds = 0;
  let lastPrint = start;
  while (count > 0 ? done < count : performance.now() < end) {
    for (let r = 0; r < 50; r++) {
      const got = dev.deliver();
      framesIn += got;
      if (got > 0) rounds++;
      stack.tick(vnow);
      host.kick();
      const t0 = performance.now();
      for (let i = 0; i < pending.length; i++) connect(pending[i]);
      pending.length = 0;
      clientTime += performance.now() - t0;
      if (dev.rx.count === 0) break;
    }
    await yieldLoop();
    if (process.env.DEBUG && performance.now() - lastPrint > 250) {
      lastPrint = performance.now();
      console.log(`${(lastPrint - start).toFixed(0)} ms: done ${done}, tw ${stack.counters.timeWait}, next deadline ${(stack.nextDeadline() - lastPrint).toFixed(0)}`);
    }
  }
  if (process.env.DEBUG) for (const s of stack.sessions()) console.log(s.state, s.sendQueue, s.recvQueue);
  const cpu = process.cpuUsage(cpu0);
  const elapsed = (performance.now() - start) / 1000;
  const gcReport = profiler?.stop();
  const serverTime = elapsed - clientTime / 1000;
  console.log(
    `connections ${done} in ${elapsed.toFixed(2)} s: ${Math.round(done / elapsed)}/s; server share ${serverTime.toFixed(2)} s → ` +
      `${Math.round(done / serverTime)} conn/s of server time, ${((serverTime / done) * 1e6).toFixed(1)} µs per connection`,
  );
  const cpuServer = (cpu.user + cpu.system) / 1e6 - clientTime / 1000;
  console.log(`CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, server part ≈ ${((cpuServer / done) * 1e6).toFixed(1)} µs CPU per connection`);
  console.log(
    `frames per connection: in ${(framesIn / done).toFixed(2)}, out ${(dev.framesOut / done).toFixed(2)}; ` +
      `bare FIN frames ${extraFrames}; vectors ${rounds}; bad ${bad}; tcp errors ${JSON.stringify(stack.errors)}`,
  );
  console.log(
    `stack: connections ${stack.counters.connections}, time-wait ${stack.counters.timeWait} ` +
      `(overflows ${stack.counters.timeWaitOverflows}, reused ${stack.counters.timeWaitReused}); http requests ${server.stats().requests}`,
  );
  if (gcReport !== undefined) printGc(gcReport.statistics, done);
  host.close();
  server.close();
  dp.close();
  rmSync(www, { recursive: true, force: true });
}

type GcStat = ReturnType<GCProfiler['stop']>['statistics'][number];

/** Sums a GCProfiler report: young-generation allocation and promotion per connection, GC cost. */
function printGc(stats: GcStat[], conns: number): void {
  const used = (s: GcStat['beforeGC'], names: string[]): number =>
    s.heapSpaceStatistics.filter((x) => names.includes(x.spaceName)).reduce((a, x) => a + x.spaceUsedSize, 0);
  const YOUNG = ['new_space', 'new_large_object_space'];
  const OLD = ['old_space', 'code_space', 'large_object_space', 'map_space'];
  let scavenges = 0;
  let full = 0;
  let costScavenge = 0;
  let costFull = 0;
  let allocated = 0;
  let promoted = 0;
  let lastYoung = -1;
  for (const s of stats) {
    const youngBefore = used(s.beforeGC, YOUNG);
    if (lastYoung >= 0) allocated += Math.max(0, youngBefore - lastYoung);
    lastYoung = used(s.afterGC, YOUNG);
    if (s.gcType === 'Scavenge' || s.gcType === 'MinorMarkCompact') {
      scavenges++;
      costScavenge += s.cost;
      promoted += Math.max(0, used(s.afterGC, OLD) - used(s.beforeGC, OLD));
    } else {
      full++;
      costFull += s.cost;
    }
  }
  const per = (x: number): string => (x / conns).toFixed(0);
  console.log(
    `gc: ${scavenges} scavenges (${(costScavenge / 1000).toFixed(0)} ms, ${(costScavenge / conns).toFixed(2)} µs per connection), ` +
      `${full} other (${(costFull / 1000).toFixed(0)} ms); per connection: ${per(allocated)} B allocated young ` +
      `(between the first and last GC), ${per(promoted)} B promoted`,
  );
}

await main();
