/**
 * Issue 2's acceptance tests against the lab: the kernel's ping, tshark and raw frames from an
 * independent sender are the peers; our dataplane is the system under test.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { defaultSettings, Lab } from '../../src/lab/lab.js';
import { inNs } from '../../src/lab/exec.js';
import { writeEthernet, writeEthernetVlan, ETHERTYPE_IPV4 } from '../../src/wire/ethernet.js';
import { writeIpv4, IP_PROTO_ICMP } from '../../src/wire/ipv4.js';
import { writeIcmpChecksum } from '../../src/wire/icmp.js';
import { parseIpv4, parseMac } from '../../src/wire/address.js';
import { cli, counter, errorCount, isRoot, SEND_FRAMES, startCapture } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';

/** An ICMP echo request frame, optionally with an inline 802.1Q tag. */
function echoFrame(dstMac: string, dstIp: string, vlan: number | null): string {
  const buf = Buffer.alloc(18 + 20 + 16);
  const src = parseMac('02:00:00:00:00:99')!;
  const l2 = vlan === null ? writeEthernet(buf, 0, parseMac(dstMac)!, src, ETHERTYPE_IPV4) : writeEthernetVlan(buf, 0, parseMac(dstMac)!, src, vlan, ETHERTYPE_IPV4);
  const icmp = l2 + 20;
  buf[icmp] = 8;
  buf.writeUInt16BE(0x1234, icmp + 4);
  buf.writeUInt16BE(1, icmp + 6);
  buf.write('vpp-server', icmp + 8);
  writeIcmpChecksum(buf, icmp, 16);
  writeIpv4(buf, l2, parseIpv4('192.168.123.10')!, parseIpv4(dstIp)!, IP_PROTO_ICMP, 16, 7);
  return buf.subarray(0, l2 + 36).toString('hex');
}

describe('lab: the seed network on one machine', { skip }, () => {
  const lab = new Lab(defaultSettings('e2elab'));
  let podMac = '';

  before(async () => {
    lab.down();
    await lab.up();
    podMac = (JSON.parse(inNs(lab.ns.pod, ['ip', '-j', 'link', 'show', 'macvlan0'])) as { address: string }[])[0].address;
  });
  after(() => lab.down());

  it('answers 3 of 3 pings as the very first traffic after lab up', () => {
    const out = inNs(lab.ns.client, ['ping', '-c', '3', '-W', '1', lab.serverIp], { timeoutMs: 15_000 });
    assert.match(out, /3 packets transmitted, 3 received/);
  });

  it('sends echo replies tagged 802.1Q VID 123 from the MAC of macvlan0 (tshark on the worker NIC)', async () => {
    const capture = await startCapture(lab.ns.worker, 'eth0', 'vlan and icmp', ['vlan.id', 'eth.src', 'icmp.type'], { count: 4, seconds: 10 });
    inNs(lab.ns.client, ['ping', '-c', '2', '-W', '1', '-i', '0.2', lab.serverIp], { timeoutMs: 10_000 });
    const rows = (await capture.done).trim().split('\n').map((l) => l.split('\t'));
    const replies = rows.filter((r) => r[2] === '0');
    assert.equal(replies.length, 2, `expected 2 echo replies in ${JSON.stringify(rows)}`);
    for (const [vid, src] of replies) {
      assert.equal(vid, '123');
      assert.equal(src, podMac);
    }
  });

  it('keeps macvlan0 at promiscuity 0 and never raises the worker NIC\'s', () => {
    const promiscuity = (ns: string, dev: string) =>
      (JSON.parse(inNs(ns, ['ip', '-d', '-j', 'link', 'show', dev])) as { promiscuity: number }[])[0].promiscuity;
    assert.equal(promiscuity(lab.ns.pod, 'macvlan0'), 0);
    // A veth has no unicast filter, so the kernel itself counts one promiscuity on it for the
    // macvlan's extra MAC before any dataplane runs (a real NIC, as in the seed, stays at 0).
    // What matters is that our dataplane adds nothing.
    assert.equal(promiscuity(lab.ns.worker, 'eth0'), lab.workerPromiscuityBaseline());
    assert.ok(lab.workerPromiscuityBaseline() <= 1);
  });

  it('runs the dataplane as uid 10000 with no_new_privs and CAP_NET_RAW as its only capability', () => {
    const pid = lab.pid('pod');
    assert.ok(pid !== undefined, 'pod dataplane runs');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1].trim();
    assert.equal(field('Uid')?.split(/\s+/)[0], '10000');
    assert.equal(field('NoNewPrivs'), '1');
    const netRaw = (1n << 13n).toString(16).padStart(16, '0');
    assert.equal(field('CapEff'), netRaw);
    assert.equal(field('CapPrm'), netRaw);
    // Cross-check with an independent decoder.
    assert.equal(execFileSync('capsh', [`--decode=${field('CapEff')}`], { encoding: 'utf8' }).trim(), `0x${netRaw}=cap_net_raw`);
  });

  it('shows counters, the address and the client neighbour on the CLI', async () => {
    const before = await cli(lab.podSocket, 'show interface host-macvlan0.123');
    inNs(lab.ns.client, ['ping', '-c', '2', '-W', '1', '-i', '0.2', lab.serverIp], { timeoutMs: 10_000 });
    const afterShow = await cli(lab.podSocket, 'show interface host-macvlan0.123');
    assert.ok(counter(afterShow, 'rx packets') >= counter(before, 'rx packets') + 2);
    assert.ok(counter(afterShow, 'tx packets') >= counter(before, 'tx packets') + 2);
    assert.match(await cli(lab.podSocket, 'show int addr'), /host-macvlan0\.123 \(up\):\n\s+L3 192\.168\.123\.150\/24/);
    assert.match(await cli(lab.podSocket, 'show ip neighbors'), /192\.168\.123\.10\s+D\s+[0-9a-f:]{17}\s+host-macvlan0\.123/);
  });

  it('leaves another IP, another VLAN and untagged frames unanswered, and counts them', async () => {
    const errorsBefore = await cli(lab.podSocket, 'show errors');
    const txBefore = counter(await cli(lab.podSocket, 'show interface host-macvlan0'), 'tx packets');

    const ping151 = (() => {
      try {
        inNs(lab.ns.client, ['ping', '-c', '2', '-W', '1', '-i', '0.2', '192.168.123.151'], { timeoutMs: 10_000 });
        return true;
      } catch {
        return false;
      }
    })();
    assert.equal(ping151, false, 'nobody answers 192.168.123.151');
    // Frames arrive at the worker NIC from the wire: send them from the switch side of the trunk.
    inNs(lab.ns.switch, ['python3', SEND_FRAMES, 'trunk0', echoFrame(podMac, lab.serverIp, 124), echoFrame(podMac, lab.serverIp, 124), echoFrame(podMac, lab.serverIp, null)]);

    let errorsAfter = '';
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      errorsAfter = await cli(lab.podSocket, 'show errors');
      if (errorCount(errorsAfter, 'ethernet-input', 'unknown vlan') >= errorCount(errorsBefore, 'ethernet-input', 'unknown vlan') + 2 &&
        errorCount(errorsAfter, 'ip4-input', 'no IPv4 address') >= errorCount(errorsBefore, 'ip4-input', 'no IPv4 address') + 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(errorCount(errorsAfter, 'arp-input', 'not ours') >= errorCount(errorsBefore, 'arp-input', 'not ours') + 1, `ARP for .151 counted:\n${errorsAfter}`);
    assert.equal(errorCount(errorsAfter, 'ethernet-input', 'unknown vlan') - errorCount(errorsBefore, 'ethernet-input', 'unknown vlan'), 2, errorsAfter);
    assert.equal(errorCount(errorsAfter, 'ip4-input', 'no IPv4 address') - errorCount(errorsBefore, 'ip4-input', 'no IPv4 address'), 1, errorsAfter);
    const txAfter = counter(await cli(lab.podSocket, 'show interface host-macvlan0'), 'tx packets');
    assert.equal(txAfter, txBefore, 'nothing was sent in reply');
    assert.ok(counter(await cli(lab.podSocket, 'show interface host-macvlan0'), 'drops') >= 3);
  });

  it('lab up is idempotent and lab status reports the running lab', async () => {
    assert.equal(await lab.up(), 'already-up');
    const s = await lab.status();
    assert.ok(Object.values(s.namespaces).every(Boolean));
    assert.ok(s.podPid !== undefined && s.switchPid !== undefined);
  });
});
