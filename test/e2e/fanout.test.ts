/**
 * RX queues as a PACKET_FANOUT_HASH group (issue 12, item 4), against the real kernel: a veth
 * pair between two namespaces, the probe (fixtures/fanout-probe.ts) opens the groups in one, a
 * python raw sender in the other sends UDP and ICMP frames whose payload carries a tag.
 *
 * What must hold for workers to be correct: every frame of a flow reaches the same queue (in
 * both directions, tagged or not), the flows spread over the queues, and two dataplanes on one
 * device get two groups (each sees every frame) — a fixed group id would have put them in one
 * group, silently splitting the traffic between them.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const PROBE = join(here, 'fixtures', 'fanout-probe.js');
const SKIP = process.getuid?.() === 0 ? false : 'needs root: it creates network namespaces and opens AF_PACKET sockets';
const PREFIX = `fan${randomBytes(3).toString('hex')}`;
const NS_A = `${PREFIX}-a`;
const NS_B = `${PREFIX}-b`;

/**
 * argv: IFACE DST_MAC then flows "tag,src,dst,sport,dport,vlan,proto" (proto udp|icmp, vlan 0 = untagged).
 * Builds Ethernet [802.1Q] IPv4 UDP/ICMP frames (valid IPv4 checksum; the flow hash does not look at L4 checksums).
 */
const PY_SEND = `
import socket, struct, sys
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
iface, dst_mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':', ''))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src_mac = s.getsockname()[4]
for spec in sys.argv[3:]:
    tag, src, dst, sport, dport, vlan, proto = spec.split(',')
    payload = struct.pack('!I', int(tag)) + b'x' * 20
    if proto == 'udp':
        l4 = struct.pack('!HHHH', int(sport), int(dport), 8 + len(payload), 0) + payload
        p = 17
    else:
        l4 = struct.pack('!BBHHH', 8, 0, 0, int(sport), int(dport)) + payload
        l4 = l4[:2] + struct.pack('!H', csum(l4)) + l4[4:]
        p = 1
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), int(tag) & 0xffff, 0x4000, 64, p, 0, socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    eth = dst_mac + src_mac + (struct.pack('!HH', 0x8100, int(vlan)) if int(vlan) else b'') + b'\\x08\\x00'
    s.send(eth + ip + l4)
`;

function sh(args: string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Dump {
  groups: Array<{ id: number; sockets: number[][] }>;
}

class FanoutProbe {
  private readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  private stderr = '';
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (l) => {
      this.lines.push(l);
      for (const w of this.waiters) w();
    });
    child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }
  static async start(spec: string): Promise<{ probe: FanoutProbe; ids: number[] }> {
    const p = new FanoutProbe(spawn('ip', ['netns', 'exec', NS_A, process.execPath, PROBE, 'eth0', spec], { stdio: 'pipe' }));
    const ready = JSON.parse(await p.next()) as { ready: boolean; groups: number[] };
    return { probe: p, ids: ready.groups };
  }
  next(timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fanout probe: no output in ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      const check = () => {
        const l = this.lines.shift();
        if (l === undefined) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(l);
      };
      this.waiters.push(check);
      check();
    });
  }
  async command(line: string): Promise<string> {
    this.child.stdin.write(`${line}\n`);
    return this.next();
  }
}

interface Flow {
  tag: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  vlan: number;
  proto: 'udp' | 'icmp';
}

function send(flows: Flow[]): void {
  const mac = (JSON.parse(sh(['ip', '-n', NS_A, '-j', 'link', 'show', 'eth0'])) as Array<{ address: string }>)[0]!.address;
  // In chunks: the argument list stays short.
  for (let i = 0; i < flows.length; i += 200) {
    const specs = flows.slice(i, i + 200).map((f) => `${f.tag},${f.src},${f.dst},${f.sport},${f.dport},${f.vlan},${f.proto}`);
    sh(['ip', 'netns', 'exec', NS_B, 'python3', '-c', PY_SEND, 'eth0', mac, ...specs]);
  }
}

/** tag -> index of the socket of `group` that received it (throws if a tag arrived twice in the group). */
function placement(dump: Dump, group: number): Map<number, number> {
  const where = new Map<number, number>();
  dump.groups[group]!.sockets.forEach((tags, s) => {
    for (const t of tags) {
      assert.ok(!where.has(t), `tag ${t} reached two sockets of one group`);
      where.set(t, s);
    }
  });
  return where;
}

describe('RX queues in a PACKET_FANOUT_HASH group with a unique id', { skip: SKIP }, () => {
  before(() => {
    sh(['ip', 'netns', 'add', NS_A]);
    sh(['ip', 'netns', 'add', NS_B]);
    sh(['ip', '-n', NS_A, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS_B]);
    sh(['ip', '-n', NS_A, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', NS_B, 'link', 'set', 'eth0', 'up']);
  });
  after(() => {
    for (const ns of [NS_A, NS_B]) {
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
  });

  it('two dataplanes with two queues each on one device: two groups, each sees every frame, split by flow', async () => {
    const { probe, ids } = await FanoutProbe.start('2,2');
    assert.equal(ids.length, 2);
    assert.notEqual(ids[0], ids[1], 'the kernel gave both dataplanes the same group id');
    const flows: Flow[] = [];
    for (let i = 0; i < 400; i++) flows.push({ tag: i, src: '10.9.0.2', dst: '10.9.0.1', sport: 10_000 + i, dport: 9, vlan: 0, proto: 'udp' });
    send(flows);
    await new Promise((r) => setTimeout(r, 200)); // let the last frames reach the rings before the dump
    const dump = JSON.parse(await probe.command('dump')) as Dump;
    for (const g of [0, 1]) {
      const where = placement(dump, g);
      assert.equal(where.size, 400, `group ${g} (id ${dump.groups[g]!.id}) saw ${where.size} of 400 frames`);
      const perSocket = dump.groups[g]!.sockets.map((s) => s.length);
      assert.ok(perSocket.every((n) => n > 0), `400 flows all went to one queue: ${perSocket}`);
    }
  });

  it('keeps a flow on one queue: its frames, its reverse direction and its VLAN-tagged frames; ICMP by addresses', async () => {
    const { probe } = await FanoutProbe.start('2');
    const flows: Flow[] = [];
    let tag = 0;
    const groupsOf: number[][] = [];
    for (let f = 0; f < 40; f++) {
      const sport = 20_000 + f * 7;
      const tags: number[] = [];
      for (let k = 0; k < 3; k++) {
        tags.push(tag);
        flows.push({ tag: tag++, src: '10.9.0.2', dst: '10.9.0.1', sport, dport: 9, vlan: 0, proto: 'udp' });
      }
      tags.push(tag);
      flows.push({ tag: tag++, src: '10.9.0.1', dst: '10.9.0.2', sport: 9, dport: sport, vlan: 0, proto: 'udp' });
      tags.push(tag);
      flows.push({ tag: tag++, src: '10.9.0.2', dst: '10.9.0.1', sport, dport: 9, vlan: 123, proto: 'udp' });
      groupsOf.push(tags);
    }
    // ICMP (no ports): echo ids differ but the queue follows the addresses.
    for (let a = 0; a < 10; a++) {
      const tags: number[] = [];
      for (let k = 0; k < 4; k++) {
        tags.push(tag);
        flows.push({ tag: tag++, src: `10.9.1.${a + 2}`, dst: '10.9.0.1', sport: 100 + k, dport: k, vlan: 0, proto: 'icmp' });
      }
      groupsOf.push(tags);
    }
    send(flows);
    await new Promise((r) => setTimeout(r, 200));
    const where = placement(JSON.parse(await probe.command('dump')) as Dump, 0);
    const missing = [...Array(tag).keys()].filter((t) => !where.has(t));
    assert.equal(where.size, tag, `the group saw ${where.size} of ${tag} frames; missing ${missing.slice(0, 20)}`);
    for (const tags of groupsOf) {
      const queues = new Set(tags.map((t) => where.get(t)));
      assert.equal(queues.size, 1, `frames ${tags} of one flow reached queues ${[...queues]}`);
    }
  });

  it('joining an id nobody holds makes a new group: only the id read back from the kernel keeps the queues together', async () => {
    const { probe, ids } = await FanoutProbe.start('1');
    const missing = (ids[0]! + 1) & 0xffff;
    const r = JSON.parse(await probe.command(`join ${missing}`)) as { joinError: string };
    // Joining a free id creates a new group: the kernel cannot tell a typo; it is the UNIQUEID
    // protocol (the id comes from getsockopt) that keeps the queues of one interface together.
    assert.equal(r.joinError, '', `joining a fresh id: ${r.joinError}`);
    await probe.command('dump');
  });
});
