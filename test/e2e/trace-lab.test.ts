/**
 * Issue 8's tracing tools in the lab, against the real kernel: the client's `ping` is the
 * traffic, tshark reads what `pcap trace` wrote and watches the client's wire while the
 * dataplane pings it, and `vpp-server ctl` shows the errors an operator sees.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSettings, Lab, POD_UID } from '../../src/lab/lab.js';
import { inNs } from '../../src/lab/exec.js';
import { cli, isRoot, REPO_ROOT, startCapture } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';
const CLI_ENTRY = join(REPO_ROOT, 'bin', 'vpp-server.js');

/** The node names of each packet of a `show trace`, in the order they appear. */
function tracePaths(showTrace: string): string[][] {
  const packets = showTrace.split(/^Packet \d+$/m).slice(1);
  return packets.map((p) => [...p.matchAll(/^\d\d:\d\d:\d\d:\d{6}: (\S+)$/gm)].map((m) => m[1]));
}

function macOf(ns: string, dev: string): string {
  return (JSON.parse(inNs(ns, ['ip', '-j', 'link', 'show', dev])) as { address: string }[])[0].address;
}

describe('lab: trace, pcap trace and ping from the dataplane', { skip }, () => {
  const lab = new Lab(defaultSettings('tracelab'));
  const ctl = (command: string) => cli(lab.podSocket, command);
  const runId = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const pcapFiles: string[] = [];

  before(async () => {
    lab.down();
    await lab.up();
    // Neither side ARPs during a traced series: every frame the pod receives is one of the pings.
    const clientMac = macOf(lab.ns.client, 'eth0');
    const podMac = macOf(lab.ns.pod, 'macvlan0');
    inNs(lab.ns.client, ['ip', 'neigh', 'replace', lab.serverIp, 'lladdr', podMac, 'nud', 'permanent', 'dev', 'eth0']);
    await ctl(`set ip neighbor host-macvlan0.123 192.168.123.10 ${clientMac} static`);
  });
  after(() => {
    for (const f of pcapFiles) rmSync(f, { force: true });
    lab.down();
  });

  it('trace add af-packet-input 5 + 5 pings: 5 traces, each through the graph in order', async () => {
    await ctl('clear trace');
    assert.equal(await ctl('show trace'), 'No packets in trace buffer');
    await ctl('trace add af-packet-input 5');
    const out = inNs(lab.ns.client, ['ping', '-c', '5', '-i', '0.2', '-W', '1', lab.serverIp], { timeoutMs: 15_000 });
    assert.match(out, /5 packets transmitted, 5 received/);
    const trace = await ctl('show trace');
    assert.match(trace, /^------------------- Start of thread 0 vpp_main -------------------\n/);
    const paths = tracePaths(trace);
    assert.equal(paths.length, 5, trace);
    const expected = ['af-packet-input', 'ethernet-input', 'ip4-input', 'ip4-icmp-input', 'ip4-lookup', 'ip4-rewrite', 'interface-output'];
    paths.forEach((path, i) => assert.deepEqual(path, expected, `packet ${i + 1}:\n${trace}`));
    // Each packet is one of the client's echo requests, on VLAN 123.
    const packets = trace.split(/^Packet \d+$/m).slice(1);
    for (const p of packets) {
      assert.match(p, /192\.168\.123\.10 -> 192\.168\.123\.150/, p);
      assert.match(p, /echo_request/, p);
      assert.match(p, /vlan 123/, p);
    }
    // The budget is spent: more pings add no traces.
    inNs(lab.ns.client, ['ping', '-c', '2', '-i', '0.2', '-W', '1', lab.serverIp], { timeoutMs: 10_000 });
    assert.equal(tracePaths(await ctl('show trace')).length, 5);
    await ctl('clear trace');
    assert.equal(await ctl('show trace'), 'No packets in trace buffer');
  });

  it('pcap trace rx tx max 20 file <name>, pings, pcap trace off: tshark reads VID 123 both ways', async () => {
    const name = `trace-lab-${runId}.pcap`;
    const file = `/tmp/${name}`;
    pcapFiles.push(file);
    assert.equal(await ctl(`pcap trace rx tx max 20 file ${name}`), '');
    assert.match(await ctl('pcap trace status'), new RegExp(`^pcap rx and tx dispatch capture enabled: 0 of 20 pkts\\.\\.\\.\\ncapture to file /tmp/${name}$`));
    inNs(lab.ns.client, ['ping', '-c', '5', '-i', '0.2', '-W', '1', lab.serverIp], { timeoutMs: 15_000 });
    assert.equal(existsSync(file), false, 'VPP writes the file only on off');
    assert.equal(await ctl('pcap trace off'), `Write 10 packets to ${file}, and stop capture...`);
    assert.equal(statSync(file).uid, POD_UID, 'written by the pod dataplane itself');
    const rows = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'vlan.id', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type', '-e', 'icmp.seq'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
      .trim()
      .split('\n')
      .map((l) => l.split('|'));
    const requests = rows.filter((r) => r[3] === '8');
    const replies = rows.filter((r) => r[3] === '0');
    assert.equal(requests.length, 5, JSON.stringify(rows));
    assert.equal(replies.length, 5, JSON.stringify(rows));
    for (const r of requests) assert.deepEqual(r.slice(0, 3), ['123', '192.168.123.10', '192.168.123.150'], 'rx: the tag the kernel stripped is back');
    for (const r of replies) assert.deepEqual(r.slice(0, 3), ['123', '192.168.123.150', '192.168.123.10'], 'tx: the tag we sent');
    assert.deepEqual(requests.map((r) => r[4]), replies.map((r) => r[4]), 'every request has its reply');
    rmSync(file, { force: true });
  });

  it('CLI ping 192.168.123.10 repeat 3 reaches the lab client (seen on its wire) and prints 3 replies', async () => {
    const capture = await startCapture(lab.ns.client, 'eth0', 'icmp', ['ip.src', 'icmp.type', 'icmp.seq'], { count: 6, seconds: 15 });
    const out = await ctl('ping 192.168.123.10 repeat 3');
    const wire = (await capture.done).trim().split('\n').map((l) => l.split('\t'));
    const lines = out.split('\n');
    for (let seq = 1; seq <= 3; seq++) {
      assert.match(lines[seq - 1], new RegExp(`^88 bytes from 192\\.168\\.123\\.10: icmp_seq=${seq} ttl=64 time=(\\d+)?\\.\\d{4} ms$`), out);
    }
    assert.deepEqual(lines.slice(3), ['', 'Statistics: 3 sent, 3 received, 0% packet loss', ''], out);
    const requests = wire.filter((r) => r[0] === '192.168.123.150' && r[1] === '8').map((r) => r[2]);
    const replies = wire.filter((r) => r[0] === '192.168.123.10' && r[1] === '0').map((r) => r[2]);
    assert.deepEqual(requests, ['1', '2', '3'], `the client's wire: ${JSON.stringify(wire)}`);
    assert.deepEqual(replies, ['1', '2', '3']);
  });

  it('ping to nobody: an on-link address that never answers ARP loses all, an off-link one has no route', async () => {
    const nobody = await ctl('ping 192.168.123.99 repeat 2 interval 0.5');
    assert.equal(nobody, '\nStatistics: 2 sent, 0 received, 100% packet loss\n');
    const offLink = await ctl('ping 10.99.0.1 repeat 2 interval 0.1');
    assert.equal(offLink, 'Failed: no egress interface\nFailed: no egress interface\n\nStatistics: 0 sent, 0 received, 0% packet loss\n');
    // The lab client is still answered afterwards.
    assert.match(await ctl('ping 192.168.123.10 repeat 1 interval 0.2'), /^88 bytes from 192\.168\.123\.10: icmp_seq=1 /);
  });

  it('bad input: clear VPP-style errors from vpp-server ctl (exit 1), and nothing starts', async () => {
    const ctlExit = (command: string) => {
      const r = spawnSync(process.execPath, [CLI_ENTRY, 'ctl', '-s', lab.podSocket, ...command.split(' ')], { encoding: 'utf8', timeout: 15_000 });
      return { status: r.status, stderr: r.stderr.trim(), stdout: r.stdout };
    };
    const tmpBefore = new Set(readdirSync('/tmp'));
    const cases: Array<[string, string]> = [
      ['trace add no-such-node 5', "trace add: unknown node `no-such-node' (trace add takes an input node: af-packet-input)"],
      ['trace add ip4-input 5', "trace add: node 'ip4-input' doesn't support per-node tracing. There may be another way to initiate trace on this node. (nodes that do: af-packet-input)"],
      ['trace add af-packet-input -5', "trace add: count `-5' is not valid (expected an integer 0-2147483647)"],
      ['trace add af-packet-input many', "trace add: count `many' is not valid (expected an integer 0-2147483647)"],
      ['pcap trace rx tx file ../etc/t.pcap', "pcap trace: file name `../etc/t.pcap' contains '/': pcap trace writes only to /tmp; give a plain name such as t.pcap"],
      ['pcap trace rx tx file a..pcap', "pcap trace: file name `a..pcap' contains '..': pcap trace writes only to /tmp; give a plain name such as t.pcap"],
      ['pcap trace rx max 0', "pcap trace: max `0' is not valid (expected an integer 1-2147483647)"],
      ['pcap trace rx max-bytes-per-pkt 8', 'pcap trace: Max bytes per pkt must be > 32, < 9000...'],
      ['ping 192.168.123.10 repeat 0', "ping: repeat `0' is not valid (expected an integer 1-1000000)"],
    ];
    for (const [command, message] of cases) {
      const r = ctlExit(command);
      assert.equal(r.status, 1, command);
      assert.equal(r.stderr, message, command);
    }
    assert.equal(await ctl('pcap trace status'), 'pcap dispatch capture disabled');
    assert.equal(await ctl('show trace'), 'No packets in trace buffer');
    const created = readdirSync('/tmp').filter((f) => !tmpBefore.has(f) && f.endsWith('.pcap'));
    assert.deepEqual(created, []);
  });
});
