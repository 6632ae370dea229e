/**
 * Tracing, capture and ping through the real graph (the seed's configuration on in-memory
 * devices): `show trace` golden output of an ARP request, a ping, a ping whose tag came as
 * kernel metadata and a frame on an unknown VLAN; hooks that cost nothing while off; `pcap
 * trace` rx/tx/drop read back by tshark; `ping` from the dataplane against a scripted peer.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seedTestBed, type TestBed } from '../helpers/dataplane.js';
import { arpRequestFrame, CLIENT_IP, CLIENT_MAC, decodeEthernet, ETH_P_ARP, ETH_P_IPV4, OUR_IP, OUR_MAC, pingFrame } from '../helpers/frames.js';

const golden = (name: string): string =>
  readFileSync(join(fileURLToPath(new URL('.', import.meta.url)), '../../../test/unit/golden', name), 'utf8');

const made: string[] = [];
const pcapName = (stem: string) => {
  const name = `trace-graph-${process.pid}-${randomBytes(3).toString('hex')}-${stem}.pcap`;
  made.push(`/tmp/${name}`);
  return name;
};

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The four frames of the golden trace, delivered as one vector each. */
function sendGoldenFrames(tb: TestBed): void {
  tb.send(arpRequestFrame());
  tb.clock.now += 1.5;
  tb.send(pingFrame({ seq: 1 }));
  tb.clock.now += 0.25;
  tb.send(pingFrame({ seq: 2, tags: [] }), { vlanTci: 123 });
  tb.clock.now += 0.25;
  tb.send(pingFrame({ tags: [{ vid: 124 }] }));
}

/**
 * A peer on the memory device: answers ARP requests for the client's address and echo
 * requests to it, `rttMs` later on the test clock.
 */
function scriptedClient(tb: TestBed, rttMs: number, answer = (_seq: number) => true): void {
  const dev = tb.device();
  dev.onSend = (frame) => {
    const eth = decodeEthernet(frame);
    if (eth.type === ETH_P_ARP && eth.payload.readUInt16BE(6) === 1 && eth.payload.readUInt32BE(24) === CLIENT_IP) {
      queueMicrotask(() => {
        dev.inject(arpRequestFrame({ op: 2, dst: OUR_MAC, sha: CLIENT_MAC, spa: CLIENT_IP, tha: OUR_MAC, tpa: OUR_IP }));
        dev.deliver();
      });
      return;
    }
    if (eth.type !== ETH_P_IPV4) return;
    const ip = eth.payload;
    const icmp = ip.subarray((ip[0] & 15) * 4, ip.readUInt16BE(2));
    if (ip[9] !== 1 || icmp[0] !== 8 || ip.readUInt32BE(16) !== CLIENT_IP) return;
    const seq = icmp.readUInt16BE(6);
    if (!answer(seq)) return;
    queueMicrotask(() => {
      tb.clock.now += rttMs;
      dev.inject(pingFrame({ type: 0, id: icmp.readUInt16BE(4), seq, data: Buffer.from(icmp.subarray(8)), ipSrc: CLIENT_IP, ipDst: OUR_IP }));
      dev.deliver();
    });
  };
}

describe('tracing through the graph', () => {
  after(() => {
    for (const f of made) rmSync(f, { force: true });
  });

  it('show trace: golden output of an ARP request, two pings (tag inline and as metadata) and an unknown VLAN', async () => {
    const tb = await seedTestBed();
    await tb.cli('trace add af-packet-input 10');
    sendGoldenFrames(tb);
    assert.equal(`${await tb.cli('show trace')}\n`, golden('show-trace-graph.txt'));
  });

  it('costs nothing while off: no tracer call, no capture, whatever the traffic', async () => {
    const tb = await seedTestBed();
    const t = tb.dp.tracer;
    let calls = 0;
    t.startVector = () => void calls++;
    t.record = () => void calls++;
    t.recordDrop = () => void calls++;
    assert.equal(t.armed, false);
    sendGoldenFrames(tb);
    assert.equal(calls, 0);
    assert.equal(tb.dp.pcap, null);
  });

  it('trace add 2: the first two frames of a vector are traced, the budget is then spent', async () => {
    const tb = await seedTestBed();
    await tb.cli('trace add af-packet-input 2');
    tb.send([pingFrame({ seq: 1 }), pingFrame({ seq: 2 }), pingFrame({ seq: 3 })]);
    tb.send(pingFrame({ seq: 4 }));
    const out = await tb.cli('show trace');
    assert.match(out, /echo_request .* seq 1$/m);
    assert.match(out, /echo_request .* seq 2$/m);
    assert.doesNotMatch(out, /seq [34]$/m);
    assert.equal(tb.dp.tracer.armed, false);
  });

  it('pcap trace rx tx drop: tshark reads what was on the wire, VID put back on rx, drops with their tag', { skip: !hasTshark() && 'tshark not installed' }, async () => {
    const tb = await seedTestBed();
    const name = pcapName('rxtxdrop');
    await tb.cli(`pcap trace rx tx drop file ${name}`);
    tb.send(arpRequestFrame());
    tb.send(pingFrame({ seq: 7, tags: [] }), { vlanTci: 123 });
    tb.send(pingFrame({ seq: 8, tags: [{ vid: 124 }] }));
    assert.equal(await tb.cli('pcap trace off'), `Write 6 packets to /tmp/${name}, and stop capture...`);
    const fields = ['vlan.id', 'arp.opcode', 'ip.src', 'icmp.type', 'icmp.seq'];
    const rows = execFileSync('tshark', ['-r', `/tmp/${name}`, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    assert.deepEqual(rows, [
      '123|1|||', // rx: the client's ARP request
      '123|2|||', // tx: our ARP reply
      '123||192.168.123.10|8|7', // rx, the tag came as metadata
      '123||192.168.123.150|0|7', // tx
      '124||192.168.123.10|8|8', // rx
      '124||192.168.123.10|8|8', // drop: unknown vlan
    ]);
  });

  it('ping from the dataplane: ARP, then 3 replies in VPP layout, RTT on the dataplane clock', async () => {
    const tb = await seedTestBed();
    scriptedClient(tb, 0.25);
    const out = await tb.cli('ping 192.168.123.10 repeat 3 interval 0.01');
    assert.equal(
      out,
      [
        '88 bytes from 192.168.123.10: icmp_seq=1 ttl=64 time=.2500 ms',
        '88 bytes from 192.168.123.10: icmp_seq=2 ttl=64 time=.2500 ms',
        '88 bytes from 192.168.123.10: icmp_seq=3 ttl=64 time=.2500 ms',
        '',
        'Statistics: 3 sent, 3 received, 0% packet loss',
        '',
      ].join('\n'),
    );
  });

  it('ping: a lost reply, a payload too big for the interface, an address with no route', async () => {
    const tb = await seedTestBed();
    scriptedClient(tb, 1, (seq) => seq !== 2);
    const out = await tb.cli('ping 192.168.123.10 repeat 3 interval 0.01 size 100');
    assert.match(out, /^128 bytes from 192\.168\.123\.10: icmp_seq=1 ttl=64 time=1\.0000 ms\n128 bytes .*icmp_seq=3 .*\n\nStatistics: 3 sent, 2 received, 33% packet loss\n$/);
    const big = await tb.run('ping 192.168.123.10 repeat 1 size 1473');
    assert.deepEqual(big, { ok: false, output: 'ping: 1473 is bigger than maximum allowed payload size 1472' });
    const noRoute = await tb.cli('ping 10.1.2.3 repeat 2 interval 0.01');
    assert.equal(noRoute, 'Failed: no egress interface\nFailed: no egress interface\n\nStatistics: 0 sent, 0 received, 0% packet loss\n');
  });
});
