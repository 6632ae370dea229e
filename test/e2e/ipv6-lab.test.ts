/**
 * Issue 10 in the lab, against the real kernel: the client's `ping -6` is the first IPv6 traffic
 * after `lab up` (its NS reaches us only because the dataplane joined the solicited-node group on
 * macvlan0: the pod's kernel has IPv6 off there); tshark on the worker's eth0 (the "NIC") sees our
 * NA tagged VLAN 123 with macvlan0's MAC, and the unsolicited NA when the address comes up; scapy
 * on the switch's trunk side injects bad ND and echo frames, which are dropped and counted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSettings, Lab, POD_UID } from '../../src/lab/lab.js';
import { inNs, run, waitFor } from '../../src/lab/exec.js';
import { cli, errorCount, isRoot, REPO_ROOT, startCapture } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';
const ND_INJECT = join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'nd_inject.py');
const SUB = 'host-macvlan0.123';
const OUR_IP6 = '2001:db8:123::150';

function macOf(ns: string, dev: string): string {
  return (JSON.parse(inNs(ns, ['ip', '-j', 'link', 'show', dev])) as { address: string }[])[0].address;
}

describe('lab: IPv6 (neighbour discovery, DAD, ICMPv6) against the kernel', { skip }, () => {
  const lab = new Lab(defaultSettings('v6lab'));
  const ctl = (command: string) => cli(lab.podSocket, command);

  const big = randomBytes(10 * 1024 * 1024);
  const bigSha = createHash('sha256').update(big).digest('hex');
  const pcapName = `ipv6-lab-${process.pid}.pcap`;

  before(async () => {
    lab.down();
    await lab.up();
    writeFileSync(join(lab.podWwwDir, 'big.bin'), big);
    chownSync(join(lab.podWwwDir, 'big.bin'), POD_UID, POD_UID);
  });
  after(() => {
    lab.down();
    rmSync(join('/tmp', pcapName), { force: true });
  });

  it('lab up waited for DAD; ping -6 -c 3 is 3/3 as the first IPv6 traffic', async () => {
    assert.match(await ctl(`show ip6 interface ${SUB}`), /      2001:db8:123::150: preferred\n/);
    assert.equal(errorCount(await ctl('show errors'), 'ip6-icmp-input', 'neighbor solicitations answered'), 0, 'nothing IPv6 has happened yet');
    const out = inNs(lab.ns.client, ['ping', '-6', '-c', '3', '-W', '2', '-i', '0.2', OUR_IP6], { timeoutMs: 15_000 });
    assert.match(out, /3 packets transmitted, 3 received, 0% packet loss/);
    assert.doesNotMatch(out, /DUP!/);
    const errors = await ctl('show errors');
    assert.ok(errorCount(errors, 'ip6-icmp-input', 'neighbor solicitations answered') >= 1, errors);
    assert.equal(errorCount(errors, 'ip6-icmp-input', 'echo replies sent'), 3);
    // The kernel's neighbour entry for us carries macvlan0's MAC (from our NA's TLLA).
    const neigh = inNs(lab.ns.client, ['ip', '-6', 'neigh', 'show', OUR_IP6]);
    assert.match(neigh, new RegExp(`lladdr ${macOf(lab.ns.pod, 'macvlan0')}`));
  });

  it('dual stack: the same dataplane answers curl over IPv4 and IPv6 (Welcome, HTTPS too), show session brackets IPv6', async () => {
    assert.equal(inNs(lab.ns.client, ['curl', '-sS', '--max-time', '5', 'http://192.168.123.150/index.html']).trim(), 'Welcome');
    assert.equal(inNs(lab.ns.client, ['curl', '-6', '-sS', '--max-time', '5', `http://[${OUR_IP6}]/index.html`]).trim(), 'Welcome');
    assert.equal(inNs(lab.ns.client, ['curl', '-6', '-sS', '--max-time', '5', '--cacert', lab.caFile, `https://[${OUR_IP6}]/index.html`]).trim(), 'Welcome');
    // A connection held open by the client (bash's /dev/tcp), shown with bracketed IPv6 endpoints.
    const holder = spawn('ip', ['netns', 'exec', lab.ns.client, 'bash', '-c', `exec 3<>/dev/tcp/${OUR_IP6}/80; sleep 10`], { stdio: 'ignore' });
    try {
      const sessions = await waitFor('the held connection in show session', async () => {
        const out = await ctl('show session');
        return /ESTABLISHED/.test(out) ? out : undefined;
      }, 5000);
      assert.match(sessions, /^\[T\] \[::\]:80->\[::\]:0 LISTEN$/m);
      assert.match(sessions, /^\[T\] 0\.0\.0\.0:80->0\.0\.0\.0:0 LISTEN$/m);
      assert.match(sessions, /^\[T\] \[2001:db8:123::150\]:80->\[2001:db8:123::10\]:\d+ ESTABLISHED/m);
    } finally {
      holder.kill();
    }
    assert.ok(errorCount(await ctl('show errors'), 'tcp6-input', 'segments delivered to TCP') > 0);
  });

  it("the worker's NIC sees our NA tagged VID 123 with TLLA = macvlan0's MAC, and the unsolicited NA when the address comes up", async () => {
    const podMac = macOf(lab.ns.pod, 'macvlan0');
    const fields = ['vlan.id', 'eth.src', 'ipv6.src', 'ipv6.dst', 'icmpv6.type', 'icmpv6.nd.na.flag.s', 'icmpv6.nd.na.flag.o', 'icmpv6.opt.linkaddr', 'icmpv6.nd.na.target_address'];
    // tshark stops by itself (duration): killing it could lose the packets dumpcap still buffers.
    const cap = await startCapture(lab.ns.worker, 'eth0', 'vlan and icmp6', fields, { count: 40, seconds: 5 });
    // The address comes up again: DAD, then the unsolicited NA.
    await ctl(`set interface state ${SUB} down`);
    await ctl(`set interface state ${SUB} up`);
    await waitFor('DAD after the bounce', async () => ((await ctl(`show ip6 interface ${SUB}`)).includes(`      ${OUR_IP6}: preferred`) ? true : undefined), 5000);
    // And an NS from the client (its cache forgotten) gets our solicited NA.
    inNs(lab.ns.client, ['ip', '-6', 'neigh', 'flush', 'dev', 'eth0']);
    inNs(lab.ns.client, ['ping', '-6', '-c', '1', '-W', '2', OUR_IP6], { timeoutMs: 5000 });
    const rows = (await cap.done).trim().split('\n').map((l) => l.split('\t'));
    const na = rows.filter((r) => r[4] === '136' && r[1] === podMac);
    const unsolicited = na.filter((r) => r[3] === 'ff02::1' && r[5] !== '1' && r[5] !== 'True' && r[8] === OUR_IP6);
    const solicited = na.filter((r) => r[3] === '2001:db8:123::10' && (r[5] === '1' || r[5] === 'True'));
    assert.ok(unsolicited.length >= 1, `no unsolicited NA for ${OUR_IP6}:\n${rows.map((r) => r.join(' ')).join('\n')}`);
    assert.ok(solicited.length >= 1, `no solicited NA:\n${rows.map((r) => r.join(' ')).join('\n')}`);
    for (const r of [...unsolicited, ...solicited]) {
      assert.equal(r[0], '123', 'tagged VID 123 on the trunk side');
      assert.equal(r[7], podMac, "target link-layer address = macvlan0's MAC");
      assert.ok(r[6] === '1' || r[6] === 'True', 'Override');
    }
    // The DAD probe went out too: from ::, to the solicited-node group.
    assert.ok(rows.some((r) => r[4] === '135' && r[2] === '::' && r[3] === 'ff02::1:ff00:150'), 'DAD probe seen');
  });

  it('scapy on the trunk side: NS hop limit 254, bad checksums, another VLAN, a target not ours: dropped and counted', async () => {
    const podMac = macOf(lab.ns.pod, 'macvlan0');
    const before = await ctl('show errors');
    const cases: Array<[string, string, string]> = [
      ['ns-hoplimit', 'ip6-icmp-input', 'ND hop limit is not 255'],
      ['ns-checksum', 'ip6-icmp-input', 'icmp6 bad checksum'],
      ['ns-vlan', 'ethernet-input', 'unknown vlan'],
      ['ns-other', 'ip6-icmp-input', 'NS target is not our address'],
      ['echo-checksum', 'ip6-icmp-input', 'icmp6 bad checksum'],
    ];
    // Frames sent on the switch's trunk0 leave towards the worker's eth0 and reach macvlan0.
    // /usr/bin/python3: the interpreter Debian's python3-scapy is installed for (a pyenv python on PATH has no scapy).
    inNs(lab.ns.switch, ['/usr/bin/python3', ND_INJECT, 'trunk0', '123', '124', '52:54:00:de:ad:01', podMac, '2001:db8:123::66', OUR_IP6, ...cases.map((c) => c[0])], { timeoutMs: 30_000 });
    const expected = new Map<string, number>();
    for (const [, node, reason] of cases) expected.set(`${node}/${reason}`, (expected.get(`${node}/${reason}`) ?? 0) + 1);
    await waitFor(
      'the injected frames to be counted',
      async () => {
        const now = await ctl('show errors');
        for (const [key, n] of expected) {
          const [node, reason] = key.split('/');
          if (errorCount(now, node!, reason!) - errorCount(before, node!, reason!) < n) return undefined;
        }
        return true;
      },
      5000,
    );
    const after = await ctl('show errors');
    for (const [key, n] of expected) {
      const [node, reason] = key.split('/');
      assert.equal(errorCount(after, node!, reason!) - errorCount(before, node!, reason!), n, key);
    }
    // None of them got an answer: the sender's address never entered our neighbour table.
    assert.doesNotMatch(await ctl('show ip6 neighbors'), /2001:db8:123::66/);
  });

  // TX offload over IPv6: the kernel is the judge. A wrong csum_start/pseudo-header sum or GSO
  // header gives the client bad checksums (dropped, counted in InCsumErrors) or a corrupt file.
  const offloadCounters = async () => {
    const m = /tx checksum-offloaded (\d+) gso super-frames (\d+)/.exec(await ctl('show hardware-interfaces'));
    assert.ok(m !== null, 'show hardware-interfaces has the TX offload counters (the lab runs with tx-offload)');
    return { csum: Number(m[1]), gso: Number(m[2]) };
  };
  const clientCsumErrors = () => {
    const lines = inNs(lab.ns.client, ['cat', '/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Tcp:'));
    const names = lines[0].split(/\s+/);
    return Number(lines[1].split(/\s+/)[names.indexOf('InCsumErrors')]);
  };
  const download6 = () =>
    inNs(lab.ns.client, ['sh', '-c', `curl -6 -sS --max-time 60 'http://[${OUR_IP6}]/big.bin' | sha256sum`], { timeoutMs: 65_000 }).split(' ')[0];

  it('a 10 MB download over IPv6 is intact with TX offload: checksum-offloaded GSO_TCPV6 super-frames, no checksum errors at the client', async () => {
    const before = await offloadCounters();
    const errorsBefore = clientCsumErrors();
    assert.equal(download6(), bigSha);
    const after = await offloadCounters();
    assert.equal(clientCsumErrors(), errorsBefore, 'the client kernel saw no bad TCP checksum');
    // 10 MiB in 64 KiB super-frames is 160 at least; allow for the slow start's one-MSS segments.
    assert.ok(after.gso - before.gso >= 50, `GSO super-frames ${before.gso} -> ${after.gso}`);
    assert.ok(after.csum - before.csum >= after.gso - before.gso);
  });

  it('with pcap trace tx running, the IPv6 download stays intact and the capture holds whole super-frames with their payload', async () => {
    rmSync(join('/tmp', pcapName), { force: true });
    assert.equal(await ctl(`pcap trace tx max 400 max-bytes-per-pkt 8000 file ${pcapName}`), '');
    assert.equal(download6(), bigSha);
    assert.match(await ctl('pcap trace off'), /^Write \d+ packets to/);
    const pcap = readFileSync(join('/tmp', pcapName));
    let superFrames = 0;
    let checked = 0;
    for (let o = 24; o + 16 <= pcap.length; ) {
      const incl = pcap.readUInt32LE(o + 8);
      const orig = pcap.readUInt32LE(o + 12);
      const f = pcap.subarray(o + 16, o + 16 + incl);
      o += 16 + incl;
      let l3 = 14;
      if (f.readUInt16BE(12) === 0x8100) l3 = 18;
      if (f.readUInt16BE(l3 - 2) !== 0x86dd || f[l3 + 6] !== 6) continue;
      const payloadLen = f.readUInt16BE(l3 + 4);
      assert.equal(orig, l3 + 40 + payloadLen, 'the record is the whole frame (IPv6 payload length = what follows)');
      const t = l3 + 40;
      const hl = (f[t + 12] >>> 4) * 4;
      if (payloadLen - hl <= 1440) continue;
      superFrames++;
      // The payload in the capture is the file's bytes (copied into the frame, not left behind an
      // iovec); 1 KiB in, past the response header that the first segment carries.
      const piece = f.subarray(t + hl + 1024, Math.min(f.length, t + hl + 1024 + 256));
      if (piece.length === 256) {
        assert.ok(big.indexOf(piece) >= 0, 'a captured super-frame carries bytes of big.bin');
        checked++;
      }
    }
    assert.ok(superFrames > 0 && checked > 0, `${superFrames} super-frames in the capture, ${checked} checked against the file`);
  });

  it('ip route add ::/0 via fe80::1: a client on another IPv6 prefix, behind a Linux router, fetches index.html', async () => {
    // The lab client doubles as the router (fe80::1 on VLAN 123, forwarding), with a far host
    // on 2001:db8:999::/64 behind it, in a namespace this test makes.
    const far = `${lab.settings.prefix}-far`;
    run(['ip', 'netns', 'add', far]);
    try {
      run(['ip', 'link', 'add', 'rtr1', 'netns', lab.ns.client, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', far]);
      inNs(lab.ns.client, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1', 'net.ipv6.conf.rtr1.disable_ipv6=0']);
      inNs(far, ['sysctl', '-qw', 'net.ipv6.conf.eth0.disable_ipv6=0', 'net.ipv6.conf.eth0.accept_ra=0']);
      inNs(lab.ns.client, ['ip', '-6', 'addr', 'add', 'fe80::1/64', 'dev', 'eth0', 'nodad']);
      inNs(lab.ns.client, ['ip', '-6', 'addr', 'add', '2001:db8:999::1/64', 'dev', 'rtr1', 'nodad']);
      inNs(lab.ns.client, ['ip', 'link', 'set', 'rtr1', 'up']);
      inNs(far, ['ip', 'link', 'set', 'lo', 'up']);
      inNs(far, ['ip', 'link', 'set', 'eth0', 'up']);
      inNs(far, ['ip', '-6', 'addr', 'add', '2001:db8:999::10/64', 'dev', 'eth0', 'nodad']);
      inNs(far, ['ip', '-6', 'route', 'add', 'default', 'via', '2001:db8:999::1']);
      // Without the route the far host gets nothing back: our reply has no route.
      const before = await ctl('show errors');
      assert.throws(() => inNs(far, ['curl', '-6', '-sS', '--max-time', '2', `http://[${OUR_IP6}]/index.html`], { timeoutMs: 6000 }));
      assert.ok(errorCount(await ctl('show errors'), 'ip6-lookup', 'no route') > errorCount(before, 'ip6-lookup', 'no route'));
      await ctl(`ip route add ::/0 via fe80::1 ${SUB}`);
      assert.equal(inNs(far, ['curl', '-6', '-sS', '--max-time', '5', `http://[${OUR_IP6}]/index.html`], { timeoutMs: 10_000 }).trim(), 'Welcome');
      const fib = await ctl('show ip6 fib ::/0');
      assert.match(fib, /\[@5\]: ipv6 via fe80::1 host-macvlan0\.123: mtu:1500 flags:\[\] [0-9a-f]+86dd/, fib);
      assert.match(await ctl('show ip6 neighbors'), /fe80::1 +D /);
      assert.equal(inNs(far, ['ping', '-6', '-c', '2', '-W', '2', '-i', '0.2', OUR_IP6], { timeoutMs: 10_000 }).includes('2 received'), true);
    } finally {
      await ctl(`ip route del ::/0 via fe80::1 ${SUB}`).catch(() => undefined);
      run(['ip', 'netns', 'del', far]);
    }
  });
});
