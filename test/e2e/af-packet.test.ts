/**
 * The AF_PACKET device against real kernel peers.
 *
 * Two network namespaces joined by a veth pair: the device is opened on `eth0` of the first
 * (no IP address: the kernel there stays quiet) by a probe process started with
 * `ip netns exec` (this process cannot enter a namespace); the second namespace's kernel,
 * tcpdump and python raw sockets are the independent peers.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const PROBE = join(here, 'fixtures', 'af-packet-probe.js');
const isRoot = process.getuid?.() === 0;
const SKIP = isRoot ? false : 'needs root: it creates network namespaces and opens AF_PACKET sockets';

const PREFIX = `afpt${randomBytes(3).toString('hex')}`;
const NS_A = `${PREFIX}-a`; // the device under test
const NS_B = `${PREFIX}-b`; // the kernel peer
const MTU = 1400; // not the default, so the MTU check means something
const PEER_IP = '10.77.0.2';
const RESPONDER_IP = '10.77.0.1';
const ETHERTYPE_TEST = '88b5'; // IEEE local experimental

const PY_SEND = `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))
`;

// ------------------------------------------------------------------ helpers

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function linkJson(ns: string, stats = false): { address: string; mtu: number; ifindex: number; promiscuity: number; stats64?: { rx: { packets: number } } } {
  const args = ['-n', ns, '-j', '-d', ...(stats ? ['-s'] : []), 'link', 'show', 'eth0'];
  return (JSON.parse(sh('ip', args)) as never[])[0]!;
}

function macHex(mac: string): string {
  return mac.replace(/:/g, '').toLowerCase();
}

/** A frame: dst, src, then `rest` (hex: ethertype / tags and payload), padded to 60 bytes. */
function frame(dst: string, src: string, rest: string): string {
  let h = macHex(dst) + macHex(src) + rest;
  while (h.length < 120) h += '00';
  return h;
}

function text(s: string): string {
  return Buffer.from(s).toString('hex');
}

async function pySend(ns: string, frames: string[]): Promise<void> {
  const r = await run('ip', ['netns', 'exec', ns, 'python3', '-c', PY_SEND, 'eth0', ...frames]);
  assert.equal(r.code, 0, `python3 raw sender in ${ns} failed: ${r.stderr}`);
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface ProbeEvent {
  ev?: string;
  id?: number;
  ok?: boolean;
  [k: string]: unknown;
}

/** The probe process inside a namespace, driven over JSON lines. */
class Probe {
  readonly events: ProbeEvent[] = [];
  private readonly pending = new Map<number, (r: ProbeEvent) => void>();
  private nextId = 1;
  private stderr = '';
  private exited = false;
  private readonly listeners = new Set<() => void>();

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg: ProbeEvent;
      try {
        msg = JSON.parse(line) as ProbeEvent;
      } catch {
        msg = { ev: 'garbage', line };
      }
      if (msg.id !== undefined && this.pending.has(msg.id)) {
        this.pending.get(msg.id)!(msg);
        this.pending.delete(msg.id);
      } else {
        this.events.push(msg);
        for (const l of this.listeners) l();
      }
    });
    child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    // 'close', not 'exit': by then stderr has been read, so a failure can say why
    child.on('close', () => {
      this.exited = true;
      for (const l of this.listeners) l();
    });
  }

  static async start(ns: string, wrapper: string[] = []): Promise<Probe> {
    const child = spawn('ip', ['netns', 'exec', ns, ...wrapper, process.execPath, PROBE], { stdio: 'pipe' });
    const p = new Probe(child);
    await p.waitEvent('the probe to start', 10_000, (e) => e.ev === 'ready');
    return p;
  }

  request(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<ProbeEvent> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`probe did not answer ${cmd} within ${timeoutMs} ms; stderr: ${this.stderr}`));
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.child.stdin.write(JSON.stringify({ id, cmd, ...args }) + '\n');
    });
  }

  async ok(cmd: string, args: Record<string, unknown> = {}): Promise<ProbeEvent> {
    const r = await this.request(cmd, args);
    assert.equal(r.ok, true, `probe ${cmd} failed: ${JSON.stringify(r.error)}`);
    return r;
  }

  /** Index to pass as `since` to look only at later events. */
  mark(): number {
    return this.events.length;
  }

  waitEvent(what: string, timeoutMs: number, pred: (e: ProbeEvent) => boolean, since = 0): Promise<ProbeEvent> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (let i = since; i < this.events.length; i++) {
          if (pred(this.events[i]!)) {
            done();
            resolve(this.events[i]!);
            return true;
          }
        }
        if (this.exited) {
          done();
          reject(new Error(`probe exited while waiting for ${what}; stderr: ${this.stderr}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        const last = this.events.slice(-5).map((e) => JSON.stringify(e));
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last events: ${last.join(' ')}; stderr: ${this.stderr}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = (): void => void check();
      this.listeners.add(listener);
      check();
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((r) => this.child.once('close', r));
    this.child.stdin.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}

function rxWith(marker: string) {
  const hex = text(marker);
  return (e: ProbeEvent): boolean => e.ev === 'rx' && String(e.head).includes(hex);
}

function parseRtt(out: string): { min: number; avg: number; max: number; mdev: number; loss: number } {
  const m = /rtt min\/avg\/max\/mdev = ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(out);
  const l = /([\d.]+)% packet loss/.exec(out);
  assert.ok(m && l, `cannot parse ping output: ${out}`);
  return { min: +m[1]!, avg: +m[2]!, max: +m[3]!, mdev: +m[4]!, loss: +l[1]! };
}

// ------------------------------------------------------------------ the lab

let peerMac = '';
let devMac = '';
const probes: Probe[] = [];
const rtts: Record<string, string> = {};

async function startProbe(wrapper: string[] = []): Promise<Probe> {
  const p = await Probe.start(NS_A, wrapper);
  probes.push(p);
  return p;
}

describe('AF_PACKET device (real kernel peers in network namespaces)', { skip: SKIP }, () => {
  before(() => {
    for (const tool of ['ip', 'tcpdump', 'python3', 'setpriv', 'ping']) {
      try {
        execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
      } catch {
        throw new Error(`${tool} is not installed: run "make deps"`);
      }
    }
    sh('ip', ['netns', 'add', NS_A]);
    sh('ip', ['netns', 'add', NS_B]);
    sh('ip', ['-n', NS_A, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS_B]);
    for (const ns of [NS_A, NS_B]) {
      // quiet kernels: no IPv6 (router solicitations, MLD) on the test link
      sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
      sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'mtu', String(MTU)]);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    sh('ip', ['-n', NS_B, 'addr', 'add', `${PEER_IP}/24`, 'dev', 'eth0']);
    peerMac = linkJson(NS_B).address;
    devMac = linkJson(NS_A).address;
  });

  after(async () => {
    await Promise.all(probes.map((p) => p.stop().catch(() => undefined)));
    for (const ns of [NS_A, NS_B]) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
    if (Object.keys(rtts).length) console.log(`# ping RTT through the device: ${JSON.stringify(rtts)}`);
  });

  for (const version of [3, 2] as const) {
    describe(`TPACKET_V${version}`, () => {
      let probe: Probe;

      before(async () => {
        probe = await startProbe();
        await probe.ok('open', { ifname: 'eth0', options: { ringVersion: version, onError: true } });
        await probe.ok('start', { report: true });
      });

      it('reports the MAC, MTU and ifindex that `ip -j link` shows, and the ring geometry', async () => {
        const probeAgain = await startProbe();
        const r = await probeAgain.ok('open', {
          ifname: 'eth0',
          options: { ringVersion: version, blockSize: 64 * 1024, blockCount: 4, frameSize: 4096 },
        });
        const link = linkJson(NS_A);
        assert.equal(r.mac, link.address);
        assert.equal(r.mtu, link.mtu);
        assert.equal(r.mtu, MTU);
        assert.equal(r.ifindex, link.ifindex);
        assert.deepEqual(r.ring, {
          version,
          blockSize: 65536,
          blockCount: 4,
          frameSize: 4096,
          frameCount: 64,
          retireTimeoutMs: version === 3 ? 1 : 0,
        });
        assert.equal(r.qdiscBypass, true);
        assert.equal(r.ignoreOutgoing, true);
        assert.equal(r.promiscuous, false);
        await probeAgain.ok('close');
        await probeAgain.stop();
      });

      it('receives the ARP requests a kernel peer broadcasts (ping from the peer)', async () => {
        const since = probe.mark();
        const ping = run('ip', ['netns', 'exec', NS_B, 'ping', '-c', '2', '-i', '0.3', '-W', '1', '10.77.0.99']);
        const arpHead = 'ffffffffffff' + macHex(peerMac) + '0806';
        const e = await probe.waitEvent('an ARP who-has 10.77.0.99 from the peer', 8000, (e) => e.ev === 'rx' && String(e.head).startsWith(arpHead), since);
        await ping;
        const head = Buffer.from(String(e.head), 'hex');
        assert.equal(head.readUInt16BE(20), 1, 'ARP opcode request');
        assert.equal(head.subarray(22, 28).toString('hex'), macHex(peerMac), 'sender hardware address');
        assert.equal(head.subarray(28, 32).join('.'), PEER_IP, 'sender protocol address');
        assert.equal(head.subarray(38, 42).join('.'), '10.77.0.99', 'target protocol address');
        assert.equal(e.vlanTpid, 0);
        assert.ok(Number(e.len) >= 42);
      });

      it("ringCounters() gives the liveness check stats()' ring figures without the object", async () => {
        // After the ARP test above the ring has seen frames; kernel and ring counters only grow.
        const r = await probe.ok('ringCounters');
        const s = r.stats as Record<string, number>;
        assert.equal(r.ok, true);
        assert.ok(Number(r.seen) > 0, 'the kernel put frames into the ring');
        assert.ok(Number(r.consumed) >= 1, 'frames were taken out of the ring');
        assert.equal(r.agreed, true, `ringCounters [${r.seen}, ${r.consumed}] never matched stats() (kernelSeen ${s.kernelSeen}, rxFrames ${s.rxFrames})`);
        assert.match(String(r.badArg), /Float64Array of at least 2/);
        // New frames (the peer's ARP requests), then ringCounters() first, before anything else
        // reads the kernel's statistics: it must read them itself to see the new frames.
        const since = probe.mark();
        const ping = run('ip', ['netns', 'exec', NS_B, 'ping', '-c', '2', '-i', '0.3', '-W', '1', '10.77.0.98']);
        await probe.waitEvent('an ARP who-has 10.77.0.98 from the peer', 8000, (e) => e.ev === 'rx' && String(e.head).startsWith('ffffffffffff' + macHex(peerMac) + '0806'), since);
        await ping;
        const later = await probe.ok('ringCounters');
        const [seen, consumed] = later.first as number[];
        assert.ok(seen > Number(r.seen), `kernel frames seen ${r.seen} -> ${seen}`);
        assert.ok(consumed > Number(r.consumed), `frames taken ${r.consumed} -> ${consumed}`);
      });

      it('sends a batch of frames that the kernel peer receives (tcpdump and link counters)', async () => {
        const N = 32;
        const tcpdump = spawn('ip', ['netns', 'exec', NS_B, 'tcpdump', '-i', 'eth0', '-nn', '-e', '-xx', '-l', '-c', String(N), 'ether', 'proto', `0x${ETHERTYPE_TEST}`]);
        let out = '';
        let err = '';
        tcpdump.stdout.on('data', (d: Buffer) => (out += d.toString()));
        tcpdump.stderr.on('data', (d: Buffer) => (err += d.toString()));
        const exited = new Promise<number | null>((r) => tcpdump.on('exit', (code) => r(code)));
        try {
          await until('tcpdump in the peer namespace to listen', 10_000, () => err.includes('listening on'));
          const rxBefore = linkJson(NS_B, true).stats64!.rx.packets;
          const frames = Array.from({ length: N }, (_, i) => frame(peerMac, devMac, ETHERTYPE_TEST + text(`afpt-tx-${String(i).padStart(3, '0')}`)));
          const r = await probe.ok('send', { frames });
          assert.equal(r.sent, N);
          const stats = r.stats as Record<string, number>;
          assert.equal(stats.txErrors, 0);
          assert.ok(stats.txFrames >= N);
          const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
          assert.equal(code, 0, `tcpdump did not see ${N} frames: ${err}\n${out}`);
          const headers = out.split('\n').filter((l) => /^\d\d:\d\d:\d\d\.\d+ /.test(l));
          assert.equal(headers.length, N);
          assert.ok(headers.every((l) => l.includes(`${devMac} > ${peerMac}`)), headers[0]);
          const hex = out.replace(/^[^\t].*$/gm, '').replace(/\t0x[0-9a-f]+:|\s/g, '');
          for (let i = 0; i < N; i++) assert.ok(hex.includes(text(`afpt-tx-${String(i).padStart(3, '0')}`)), `frame ${i} payload`);
          await until('the peer rx counter to count the frames', 5000, () => linkJson(NS_B, true).stats64!.rx.packets - rxBefore >= N);
        } finally {
          tcpdump.kill();
        }
      });

      it('delivers 802.1Q and 802.1ad tags as metadata, with the tag removed from the bytes', async () => {
        const since = probe.mark();
        const tci = (5 << 13) | 123;
        const dot1q = frame(devMac, peerMac, '8100' + tci.toString(16).padStart(4, '0') + ETHERTYPE_TEST + text('afpt-vlan-dot1q'));
        const qinq = frame(devMac, peerMac, '88a8' + (100).toString(16).padStart(4, '0') + '8100' + (123).toString(16).padStart(4, '0') + ETHERTYPE_TEST + text('afpt-vlan-qinq'));
        await pySend(NS_B, [dot1q, qinq]);
        const a = await probe.waitEvent('the 802.1Q frame', 5000, rxWith('afpt-vlan-dot1q'), since);
        assert.equal(a.vlanTpid, 0x8100);
        assert.equal(Number(a.vlanTci) & 0x0fff, 123, 'VID');
        assert.equal(Number(a.vlanTci) >> 13, 5, 'PCP');
        const ha = Buffer.from(String(a.head), 'hex');
        assert.equal(ha.subarray(0, 6).toString('hex'), macHex(devMac));
        assert.equal(ha.subarray(6, 12).toString('hex'), macHex(peerMac));
        assert.equal(ha.readUInt16BE(12), 0x88b5, 'the tag is gone from the bytes');
        assert.equal(Number(a.len), 60 - 4);

        const b = await probe.waitEvent('the 802.1ad (QinQ) frame', 5000, rxWith('afpt-vlan-qinq'), since);
        assert.equal(b.vlanTpid, 0x88a8, 'outer TPID');
        assert.equal(Number(b.vlanTci) & 0x0fff, 100, 'outer VID');
        const hb = Buffer.from(String(b.head), 'hex');
        assert.equal(hb.readUInt16BE(12), 0x8100, 'the inner tag stays in the bytes');
        assert.equal(hb.readUInt16BE(14) & 0x0fff, 123, 'inner VID');
        assert.equal(hb.readUInt16BE(16), 0x88b5);
      });

      it("does not take this host's own output on the interface for input", async () => {
        const since = probe.mark();
        // another AF_PACKET socket in the device's namespace transmits on eth0 ...
        await pySend(NS_A, [frame(peerMac, devMac, ETHERTYPE_TEST + text('afpt-own-output'))]);
        // ... then the peer sends a sentinel: once it is in, the own frame would have been too
        await pySend(NS_B, [frame(devMac, peerMac, ETHERTYPE_TEST + text('afpt-sentinel-1'))]);
        await probe.waitEvent('the sentinel frame', 5000, rxWith('afpt-sentinel-1'), since);
        assert.equal(probe.events.slice(since).filter(rxWith('afpt-own-output')).length, 0);
      });

      it('drains a burst bigger than the vector in several handler calls, bounded per wakeup', async () => {
        const small = await startProbe();
        // small blocks so that V3 spreads the burst over several blocks
        await small.ok('open', {
          ifname: 'eth0',
          options: { ringVersion: version, blockSize: 4096, blockCount: 64, frameSize: 2048, vectorSize: 4, maxVectorsPerWakeup: 2 },
        });
        await small.ok('start', { report: true });
        const N = 50;
        const since = small.mark();
        const blocked = small.request('blockUntil', { packets: N, timeoutMs: 10_000 }, 20_000);
        await small.waitEvent('the probe to block its event loop', 5000, (e) => e.ev === 'blocking', since);
        const frames = Array.from({ length: N }, (_, i) => frame(devMac, peerMac, ETHERTYPE_TEST + text(`afpt-burst-${String(i).padStart(3, '0')}`)));
        await pySend(NS_B, frames);
        const b = await blocked;
        assert.equal(b.ok, true);
        assert.ok(Number(b.got) >= N, `the kernel put only ${String(b.got)} frames in the ring`);
        const before = (b.stats as Record<string, number>).rxWakeups;
        await small.waitEvent('the last frame of the burst', 5000, rxWith(`afpt-burst-${String(N - 1).padStart(3, '0')}`), since);
        const got = small.events.slice(since).filter(rxWith('afpt-burst-'));
        assert.deepEqual(
          got.map((e) => Buffer.from(String(e.head), 'hex').subarray(14, 28).toString()),
          Array.from({ length: N }, (_, i) => `afpt-burst-${String(i).padStart(3, '0')}`),
          'every frame once, in order',
        );
        assert.ok(got.every((e) => Number(e.count) <= 4), 'no vector larger than the descriptors');
        assert.ok(got.some((e) => Number(e.count) === 4), 'full vectors');
        const s = (await small.ok('stats')).stats as Record<string, number>;
        // at most 2 vectors of 4 per wakeup: 50 frames need at least 7 wakeups
        assert.ok(s.rxWakeups - before >= Math.ceil(N / 8), `wakeups ${s.rxWakeups - before}`);
        assert.equal(s.kernelDrops, 0);
        await small.ok('close');
        await small.stop();
      });

      it('takes frames that arrived while the handler ran in the same wakeup (no epoll round trip)', async () => {
        const p = await startProbe();
        await p.ok('open', { ifname: 'eth0', options: { ringVersion: version, vectorSize: 64 } });
        await p.ok('start', { report: true });
        const N = 5;
        const before = (await p.ok('stats')).stats as Record<string, number>;
        await p.ok('stallInHandler', { packets: N, holdMs: 20 });
        const since = p.mark();
        await pySend(NS_B, [frame(devMac, peerMac, ETHERTYPE_TEST + text('afpt-recheck-first'))]);
        await p.waitEvent('the handler to stall', 5000, (e) => e.ev === 'stalling', since);
        const tag = (i: number) => `afpt-recheck-${String(i).padStart(3, '0')}`;
        await pySend(NS_B, Array.from({ length: N }, (_, i) => frame(devMac, peerMac, ETHERTYPE_TEST + text(tag(i)))));
        await p.waitEvent('the last frame sent during the stall', 5000, rxWith(tag(N - 1)), since);
        const s = (await p.ok('stats')).stats as Record<string, number>;
        const got = p.events.slice(since).filter(rxWith('afpt-recheck-'));
        const tags = ['afpt-recheck-first', ...Array.from({ length: N }, (_, i) => tag(i))];
        assert.deepEqual(
          got.map((e) => tags.find((t) => rxWith(t)(e))),
          tags,
          'every frame once, in order',
        );
        const others = p.events.slice(since).filter((e) => e.ev === 'rx' && !rxWith('afpt-recheck-')(e)).length;
        assert.ok(s.rxRechecks - before.rxRechecks >= 1, `rechecks ${s.rxRechecks - before.rxRechecks}`);
        // the first frame woke the socket; the ones sent during the stall came in that same wakeup
        assert.ok(s.rxWakeups - before.rxWakeups <= 1 + others, `wakeups ${s.rxWakeups - before.rxWakeups}, ${others} other frames`);
        await p.ok('close');
        await p.stop();
      });

      it('review r/perf: polling an idle ring keeps the loop\'s other fds prompt (fs work, a unix socket): the spin ends for them', async () => {
        // Before, the C spin watched only the rings: every fs.stat completion and every socket
        // wakeup waited for the end of the 100 µs slice (fs.stat ~120 µs, a unix-socket echo
        // ~216 µs, against ~8 and ~14 µs in interrupt mode). Now the spin also looks at the
        // loop's epoll fd every ~10 µs. The bound is the slice itself (generous: ~16-32 µs now).
        const p = await startProbe();
        await p.ok('open', { ifname: 'eth0', options: { ringVersion: version, rxMode: 'polling' } });
        await p.ok('start', {});
        const since = p.mark();
        await p.ok('loopLatency', { n: 200 });
        const r = (await p.waitEvent('the loop latency probe', 20000, (e) => e.ev === 'loopLatency', since)) as unknown as {
          statMedUs: number; echoMedUs: number; polls: number; spinBreaks: number; polling: boolean; error?: unknown;
        };
        await p.ok('close');
        await p.stop();
        console.log(`# polling, idle ring (V${version}): fs.stat median ${r.statMedUs.toFixed(1)} µs, unix echo median ${r.echoMedUs.toFixed(1)} µs, ${r.spinBreaks} spin breaks in ${r.polls} polls`);
        assert.equal(r.error, undefined);
        assert.ok(r.polling, 'the ring was polled');
        assert.ok(r.spinBreaks > 0, `spun slices ended by the loop's fds: ${r.spinBreaks} (${r.polls} polls)`);
        assert.ok(r.echoMedUs < 100, `unix-socket echo median ${r.echoMedUs.toFixed(1)} µs (slice 100 µs)`);
        assert.ok(r.statMedUs < 100, `fs.stat median ${r.statMedUs.toFixed(1)} µs (slice 100 µs)`);
      });

      // Review r/perf: a frame's ring wait ends when its vector is picked up. Frames that came in
      // while the handler ran are stamped after the drain's start: they are counted (each once)
      // whether a recheck takes them (vector 64, one frame before the stall) or the walk goes on
      // past a vector boundary (vector 2, three frames before the stall: the stall is in the first
      // vector, the third frame and those sent during the stall follow in the same walk).
      for (const [vectorSize, first] of [[64, 1], [2, 3]] as const) {
        it(`review r/perf: frames taken after the handler ran (a recheck, a vector boundary) are counted in the ring-wait histogram, each once (vector ${vectorSize})`, async () => {
          const p = await startProbe();
          await p.ok('open', { ifname: 'eth0', options: { ringVersion: version, vectorSize } });
          await p.ok('start', { report: true });
          const N = 5;
          const sum = (h: number[] | undefined) => (h ?? []).reduce((x, y) => x + y, 0);
          const before = (await p.ok('stats')).stats as Record<string, unknown>;
          await p.ok('stallInHandler', { packets: N, holdMs: 20 });
          const since = p.mark();
          const firstTag = (i: number) => `afpt-lat-first-${i}`;
          await pySend(NS_B, Array.from({ length: first }, (_, i) => frame(devMac, peerMac, ETHERTYPE_TEST + text(firstTag(i)))));
          await p.waitEvent('the handler to stall', 5000, (e) => e.ev === 'stalling', since);
          const tag = (i: number) => `afpt-lat-${String(i).padStart(3, '0')}`;
          await pySend(NS_B, Array.from({ length: N }, (_, i) => frame(devMac, peerMac, ETHERTYPE_TEST + text(tag(i)))));
          await p.waitEvent('the last frame sent during the stall', 5000, rxWith(tag(N - 1)), since);
          const s = (await p.ok('stats')).stats as Record<string, unknown>;
          const frames = (s.rxFrames as number) - (before.rxFrames as number);
          const ringWait = sum(s.latRingWait as number[]) - sum(before.latRingWait as number[]);
          const rechecks = (s.rxRechecks as number) - (before.rxRechecks as number);
          await p.ok('close');
          await p.stop();
          assert.ok(frames >= first + N, `frames ${frames}`);
          assert.equal(ringWait, frames, `ring-wait histogram counted ${ringWait} of ${frames} frames (rechecks ${rechecks})`);
        });
      }

      for (const vectorSize of [4, 256]) {
        it(`a ring overrun during a stall: each frame at most once, in order (vector ${vectorSize})`, async () => {
          // A ring smaller than the burst (V2: 16 slots; V3: 4 blocks of 4 KiB) fills while the
          // event loop is blocked; the rest is dropped by the kernel. The next wakeup finds every
          // slot ours: the drain must stop after one lap, not hand slots it already took to JS
          // again (a vector of 256 is bigger than either ring).
          const p = await startProbe();
          await p.ok('open', {
            ifname: 'eth0',
            options: { ringVersion: version, blockSize: 4096, blockCount: version === 2 ? 8 : 4, frameSize: 2048, vectorSize, maxVectorsPerWakeup: 2 },
          });
          await p.ok('start', { report: true });
          const N = 200;
          const since = p.mark();
          const blocked = p.request('blockUntil', { packets: N, seen: true, timeoutMs: 10_000 }, 20_000);
          await p.waitEvent('the probe to block its event loop', 5000, (e) => e.ev === 'blocking', since);
          const tag = (i: number) => `afpt-full-${String(i).padStart(3, '0')}`;
          await pySend(NS_B, Array.from({ length: N }, (_, i) => frame(devMac, peerMac, ETHERTYPE_TEST + text(tag(i)))));
          const b = await blocked;
          assert.equal(b.ok, true);
          assert.ok(Number(b.got) >= N, `the kernel saw only ${String(b.got)} frames`);
          const inRing = (b.stats as Record<string, number>).kernelPackets;
          // Then one more frame: once it arrives, everything before it was drained.
          await pySend(NS_B, [frame(devMac, peerMac, ETHERTYPE_TEST + text('afpt-full-end'))]);
          await p.waitEvent('the frame after the stall', 5000, rxWith('afpt-full-end'), since);
          const got = p.events
            .slice(since)
            .filter(rxWith('afpt-full-'))
            .map((e) => Buffer.from(String(e.head), 'hex').subarray(14, 27).toString());
          const s = (await p.ok('stats')).stats as Record<string, number>;
          const numbers = got.filter((t) => t !== 'afpt-full-end').map((t) => Number(t.slice(10)));
          const detail = `${numbers.length} frames: ${numbers.join(',')}; stats ${JSON.stringify(s)}`;
          assert.ok(s.kernelDrops > 0, `the ring overflowed: ${detail}`);
          assert.equal(new Set(numbers).size, numbers.length, `a frame was handed over twice: ${detail}`);
          assert.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]), `in order: ${detail}`);
          assert.equal(got[got.length - 1], 'afpt-full-end');
          // Every frame that reached the ring was handed over once. The kernel may put a frame of
          // its own on the link meanwhile (an IPv6 router solicitation, say): count it as handed over.
          const others = p.events.slice(since).filter((e) => e.ev === 'rx' && !rxWith('afpt-full-')(e)).length;
          assert.equal(numbers.length + others, s.kernelPackets - 1, `${detail}; ${others} other frames`);
          assert.ok(inRing <= s.kernelPackets, detail);
          await p.ok('close');
          await p.stop();
        });
      }

      it('sends more frames than one sendmmsg() takes in one call', async () => {
        const N = 1100; // > 1024 (UIO_MAXIOV)
        const aBefore = linkJson(NS_A, true) as unknown as { stats64: { tx: { packets: number; dropped: number } } };
        const bBefore = linkJson(NS_B, true).stats64!.rx.packets;
        const r = await probe.ok('sendMany', { n: N, frame: frame(peerMac, devMac, ETHERTYPE_TEST + text('afpt-many')) });
        assert.equal(r.sent, N);
        assert.equal((r.stats as Record<string, number>).txErrors, 0);
        // veth hands each frame to the peer's backlog (1000 deep by default): received + dropped there = sent
        await until('the peer to account for every frame', 5000, () => {
          const a = linkJson(NS_A, true) as unknown as { stats64: { tx: { packets: number; dropped: number } } };
          const b = linkJson(NS_B, true).stats64!.rx.packets;
          return b - bBefore + (a.stats64.tx.dropped - aBefore.stats64.tx.dropped) >= N;
        });
      });

      it('counts frames outside the TX buffer as errors instead of throwing', async () => {
        const r = await probe.ok('sendBad');
        assert.equal(r.sent, 0);
        const stats = r.stats as Record<string, number>;
        assert.equal(stats.txInvalid, 3);
        assert.equal(stats.txErrors, 3);
      });

      it('refuses a TCP super-frame of 65,536 bytes or more, L2 included, and counts it (txGsoTooBig)', async () => {
        // The kernel drops a GSO frame whose length reaches gso_max_size (65,536) silently.
        const before = (await probe.ok('stats')).stats as Record<string, number>;
        const r = await probe.ok('sendGsoSizes', { lengths: [65_535, 65_536], dst: peerMac.replace(/:/g, ''), src: devMac.replace(/:/g, '') });
        const stats = r.stats as Record<string, number>;
        assert.equal(stats.txGsoTooBig - before.txGsoTooBig, 1);
        assert.equal(stats.txErrors - before.txErrors, 1);
        assert.equal(stats.txGsoFrames - before.txGsoFrames, 1, 'the 65,535-byte super-frame went as GSO');
      });

      it('hands an error thrown by the handler to onError and keeps receiving', async () => {
        const since = probe.mark();
        await probe.ok('throwNext', { n: 1 });
        await pySend(NS_B, [frame(devMac, peerMac, ETHERTYPE_TEST + text('afpt-throw'))]);
        const e = await probe.waitEvent('onError with the handler error', 5000, (e) => e.ev === 'onError', since);
        assert.equal(e.code, 'EPROBE');
        await pySend(NS_B, [frame(devMac, peerMac, ETHERTYPE_TEST + text('afpt-after-throw'))]);
        await probe.waitEvent('a frame after the handler error', 5000, rxWith('afpt-after-throw'), since);
        assert.equal(probe.events.slice(since).filter((e) => e.ev === 'uncaught').length, 0);
      });

      it('keeps receiving after the link goes down and up (ENETDOWN goes to onError)', async () => {
        const since = probe.mark();
        sh('ip', ['-n', NS_A, 'link', 'set', 'eth0', 'down']);
        const e = await probe.waitEvent('onError ENETDOWN', 5000, (e) => e.ev === 'onError' && e.code === 'ENETDOWN', since);
        assert.match(String(e.message), /eth0/);
        sh('ip', ['-n', NS_A, 'link', 'set', 'eth0', 'up']);
        let n = 0;
        await until('frames to arrive again after link up', 10_000, async () => {
          const marker = `afpt-link-up-${n++}`;
          await pySend(NS_B, [frame(devMac, peerMac, ETHERTYPE_TEST + text(marker))]);
          await new Promise((r) => setTimeout(r, 100));
          return probe.events.slice(since).some((e) => e.ev === 'rx' && String(e.head).includes(text('afpt-link-up-')));
        });
      });

      it('answers ping through the ring (the RTT is logged)', async () => {
        await probe.ok('start', { report: false, respond: RESPONDER_IP });
        sh('ip', ['-n', NS_B, 'neigh', 'flush', 'dev', 'eth0']);
        const r = await run('ip', ['netns', 'exec', NS_B, 'ping', '-c', '200', '-i', '0.005', '-W', '1', '-q', RESPONDER_IP], 30_000);
        const rtt = parseRtt(r.stdout);
        rtts[`V${version}`] = `min/avg/max ${rtt.min}/${rtt.avg}/${rtt.max} ms`;
        console.log(`# TPACKET_V${version} ping RTT min/avg/max/mdev ${rtt.min}/${rtt.avg}/${rtt.max}/${rtt.mdev} ms, loss ${rtt.loss}%`);
        assert.equal(rtt.loss, 0, r.stdout);
        const s = (await probe.ok('stats')).stats as Record<string, number>;
        assert.ok(s.rxFrames >= 200, `rxFrames ${s.rxFrames}`);
        assert.ok(s.kernelPackets >= 200, `kernelPackets ${s.kernelPackets}`);
        assert.equal(s.kernelDrops, 0);
        assert.equal(s.rxTruncated, 0);
        await probe.ok('start', { report: true });
      });

      it('close() stops, unmaps the ring (the data Buffer becomes empty) and is idempotent', async () => {
        const r = await probe.ok('close');
        assert.equal(r.closed, true);
        assert.equal(r.dataLengthAfterClose, 0);
        await probe.stop();
      });
    });
  }

  for (const txOffload of [true, false]) {
    it(`TX backpressure${txOffload ? ' (TX offload socket)' : ' (tx offload off: the RX socket sends)'}: a tbf qdisc and a small SO_SNDBUF give EAGAIN, every frame arrives once`, async () => {
      // Our own qdisc only sees our frames without PACKET_QDISC_BYPASS. The tbf queue (1 s at
      // 50 mbit) holds more than we send, so it never drops: the frames it holds stay charged
      // to our small send buffer, and the kernel answers EAGAIN until they leave.
      const N = 2000;
      const p = await startProbe();
      const r = await p.ok('open', { ifname: 'eth0', options: { qdiscBypass: false, txOffload, sendBufferSize: 65536 } });
      assert.equal(r.txOffload, txOffload);
      sh('ip', ['netns', 'exec', NS_A, 'tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', '50mbit', 'burst', '32kb', 'latency', '1s']);
      try {
        const rxBefore = linkJson(NS_B, true).stats64!.rx.packets;
        const since = p.mark();
        const body = ETHERTYPE_TEST + text('afpt-paced') + '00'.repeat(MTU - 20);
        await p.ok('sendPaced', { n: N, frame: frame(peerMac, devMac, body) });
        const done = await p.waitEvent('every paced frame accepted and the backlog sent', 20_000, (e) => e.ev === 'pacedDone', since);
        const st = done.stats as Record<string, number>;
        const detail = JSON.stringify({ waits: done.waits, ...st });
        console.log(`txOffload ${txOffload}: waits ${done.waits} eagain ${st.txEagain} nobufs ${st.txNobufs} blocked ${st.txBlocked} backlogged ${st.txBacklogged} peak ${st.txBacklogPeak} writable-wakeups ${st.txWritableWakeups} sndbuf ${st.txSendBuffer}`);
        assert.equal(done.accepted, N, detail);
        assert.ok(st.txEagain > 0, `the kernel never said EAGAIN: ${detail}`);
        assert.ok(st.txBlocked > 0 && st.txBacklogged > 0 && st.txWritableWakeups > 0, detail);
        assert.equal(st.txBacklogDrops, 0, detail);
        assert.equal(st.txBacklogFrames, 0, detail);
        assert.equal(st.txErrors, 0, detail);
        assert.ok(st.txSendBuffer >= 65536 && st.txSendBuffer <= 2 * 65536, `SO_SNDBUF as granted: ${st.txSendBuffer}`);
        // The peer's kernel is the judge: each frame arrived, none twice (nothing else is on the link).
        await until(`the peer to receive ${N} frames`, 10_000, () => linkJson(NS_B, true).stats64!.rx.packets - rxBefore >= N);
        await new Promise((res) => setTimeout(res, 200));
        assert.equal(linkJson(NS_B, true).stats64!.rx.packets - rxBefore, N, detail);
      } finally {
        sh('ip', ['netns', 'exec', NS_A, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
        await p.ok('close');
        await p.stop();
      }
    });

    it(`TX backpressure${txOffload ? ' (TX offload socket)' : ' (tx offload off)'}: close() from onTxReady (inside the writable callback) is safe`, async () => {
      const p = await startProbe();
      await p.ok('open', { ifname: 'eth0', options: { qdiscBypass: false, txOffload, sendBufferSize: 65536 } });
      sh('ip', ['netns', 'exec', NS_A, 'tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', '50mbit', 'burst', '32kb', 'latency', '1s']);
      try {
        const since = p.mark();
        await p.ok('sendPaced', { n: 2000, closeOnReady: true, frame: frame(peerMac, devMac, ETHERTYPE_TEST + text('afpt-close') + '00'.repeat(MTU - 20)) });
        const e = await p.waitEvent('close() from the writable callback', 10_000, (e) => e.ev === 'closedOnReady' || e.ev === 'uncaught', since);
        assert.equal(e.ev, 'closedOnReady', JSON.stringify(e));
        assert.equal(e.closed, true);
        // Still alive and answering after the callback returned into the addon.
        const alive = await p.ok('alive');
        assert.equal(alive.closed, true);
        await new Promise((res) => setTimeout(res, 100));
        assert.equal((await p.ok('alive')).closed, true);
      } finally {
        sh('ip', ['netns', 'exec', NS_A, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
        await p.stop();
      }
    });
  }

  it('without onError, a handler error becomes an uncaught exception (not a silent crash)', async () => {
    const probe = await startProbe();
    await probe.ok('open', { ifname: 'eth0', options: {} });
    await probe.ok('start', { report: true });
    const since = probe.mark();
    await probe.ok('throwNext', { n: 1 });
    await pySend(NS_B, [frame(devMac, peerMac, ETHERTYPE_TEST + text('afpt-uncaught'))]);
    const e = await probe.waitEvent('uncaughtException in the probe', 5000, (e) => e.ev === 'uncaught', since);
    assert.equal(e.code, 'EPROBE');
    await pySend(NS_B, [frame(devMac, peerMac, ETHERTYPE_TEST + text('afpt-after-uncaught'))]);
    await probe.waitEvent('a frame after the uncaught exception', 5000, rxWith('afpt-after-uncaught'), since);
    await probe.ok('close');
    await probe.stop();
  });

  it('close() from inside the handler is safe (the ring goes away after the handler returns)', async () => {
    const probe = await startProbe();
    await probe.ok('open', { ifname: 'eth0', options: {} });
    await probe.ok('start', { report: true });
    const since = probe.mark();
    await probe.ok('closeInHandler');
    await pySend(NS_B, [frame(devMac, peerMac, ETHERTYPE_TEST + text('afpt-close-in-handler'))]);
    const e = await probe.waitEvent('the handler to close the device', 5000, (e) => e.ev === 'closedInHandler', since);
    assert.ok(Number(e.lengthBefore) > 0);
    assert.equal(e.lengthAfter, 0);
    assert.equal(e.closed, true);
    const r = await probe.ok('alive');
    assert.equal(r.closed, true);
    await probe.stop();
  });

  it('leaves promiscuity alone by default and raises it only with promiscuous: true', async () => {
    const probe = await startProbe();
    assert.equal(linkJson(NS_A).promiscuity, 0);
    await probe.ok('open', { ifname: 'eth0', options: {} });
    assert.equal(linkJson(NS_A).promiscuity, 0, 'default must not touch promiscuity');
    await probe.ok('close');
    await probe.ok('open', { ifname: 'eth0', options: { promiscuous: true } });
    assert.equal(linkJson(NS_A).promiscuity, 1);
    await probe.ok('close');
    assert.equal(linkJson(NS_A).promiscuity, 0, 'close() drops the membership');
    await probe.stop();
  });

  it('a missing interface fails with code ENODEV', async () => {
    const probe = await startProbe();
    const r = await probe.request('open', { ifname: 'macvlan9', options: {} });
    assert.equal(r.ok, false);
    const err = r.error as { code: string; message: string };
    assert.equal(err.code, 'ENODEV');
    assert.match(err.message, /interface 'macvlan9' not found in this network namespace/);
    await probe.stop();
  });

  it('uid 10000 without capabilities gets EPERM naming CAP_NET_RAW', async () => {
    const probe = await startProbe([
      'setpriv', '--reuid', '10000', '--regid', '10000', '--clear-groups',
      '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs',
    ]);
    const r = await probe.request('open', { ifname: 'eth0', options: {} });
    assert.equal(r.ok, false);
    const err = r.error as { code: string; message: string };
    assert.equal(err.code, 'EPERM');
    assert.match(err.message, /CAP_NET_RAW/);
    assert.match(err.message, /cap_net_raw\+ep/);
    assert.match(err.message, /ambient-caps/);
    await probe.stop();
  });

  // Ambient on purpose, and NOT how a pod gets the capability: this test is about the device
  // layer (a non-root uid holding exactly CAP_NET_RAW can open, bind, receive and send), whatever
  // the capability came from; the probe runs the plain node binary. How a pod really gets it (a
  // file capability under no_new_privs, no ambient set) is tested by test/e2e/deploy-kubelet.test.ts,
  // every lab-based e2e test (podNode) and make test-image (runc).
  it('uid 10000 with only CAP_NET_RAW (ambient) opens, receives and sends', async () => {
    const probe = await startProbe([
      'setpriv', '--reuid', '10000', '--regid', '10000', '--clear-groups',
      '--inh-caps=-all,+net_raw', '--ambient-caps=-all,+net_raw', '--bounding-set=-all,+net_raw', '--no-new-privs',
    ]);
    const ready = probe.events.find((e) => e.ev === 'ready');
    assert.equal(ready?.uid, 10000);
    const r = await probe.ok('open', { ifname: 'eth0', options: { ringVersion: 3 } });
    assert.equal(r.mac, devMac);
    await probe.ok('start', { report: true });
    const since = probe.mark();
    await pySend(NS_B, [frame(devMac, peerMac, ETHERTYPE_TEST + text('afpt-unprivileged'))]);
    await probe.waitEvent('a frame in the unprivileged probe', 5000, rxWith('afpt-unprivileged'), since);
    const s = await probe.ok('send', { frames: [frame(peerMac, devMac, ETHERTYPE_TEST + text('afpt-unpriv-tx'))] });
    assert.equal(s.sent, 1);
    await probe.ok('close');
    await probe.stop();
  });
});
