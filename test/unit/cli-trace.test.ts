/**
 * The tracing and ping commands as an operator types them: `trace add` / `show trace` /
 * `clear trace`, `pcap trace …` with VPP's defaults and errors, and `ping` with VPP's layout,
 * its statistics and its failures. Bad input gets a clear error and leaves state as it was.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { PacketTracer } from '../../src/dataplane/trace.js';
import type { PcapTrace } from '../../src/dataplane/pcap-trace.js';
import { Args } from '../../src/cli/registry.js';
import { formatVppFloat, parsePing, runPing, type EchoReplyHandler, type Echo6ReplyHandler, type EchoService, type PingHost } from '../../src/cli/ping-command.js';
import { seedTestBed, type TestBed } from '../helpers/dataplane.js';
import { ETH_P_8021Q, pingFrame } from '../helpers/frames.js';

interface Hooks {
  tracer: PacketTracer;
  pcap: PcapTrace | null;
}

/** The dataplane's trace hooks, with the capture as the CLI made it. */
function hooks(tb: TestBed): Hooks {
  return tb.dp as unknown as Hooks;
}

const tag = randomBytes(4).toString('hex');
const made: string[] = [];
const pcapName = (stem: string) => {
  const name = `cli-trace-${process.pid}-${tag}-${stem}.pcap`;
  made.push(`/tmp/${name}`);
  return name;
};

describe('cli: trace add / show trace / clear trace', () => {
  it('trace add arms the tracer; show trace shows what the nodes recorded; clear trace empties it', async () => {
    const tb = await seedTestBed();
    const h = hooks(tb);
    assert.equal(await tb.cli('show trace'), 'No packets in trace buffer');
    assert.equal(await tb.cli('trace add af-packet-input 5'), '');
    assert.equal(h.tracer.remaining, 5);
    assert.equal(await tb.cli('tr add af-packet-input 2'), '', 'abbreviated, and the count adds up');
    assert.equal(h.tracer.remaining, 7);
    h.tracer.startVector(1);
    h.tracer.record(h.tracer.frameTrace[0], 'af-packet-input', 'af_packet: hw_if_index 1');
    const out = await tb.cli('show trace');
    assert.match(out, /^------------------- Start of thread 0 vpp_main -------------------\nPacket 1\n\n\d\d:\d\d:\d\d:\d{6}: af-packet-input\n  af_packet: hw_if_index 1\n$/);
    assert.equal(await tb.cli('show trace max 1'), out);
    assert.equal(await tb.cli('clear trace'), '');
    assert.equal(h.tracer.remaining, 0);
    assert.equal(h.tracer.armed, false);
    assert.equal(await tb.cli('show trace'), 'No packets in trace buffer');
  });

  it('bad input: unknown node, a node without trace support, bad or missing counts; nothing armed', async () => {
    const tb = await seedTestBed();
    const h = hooks(tb);
    const cases: Array<[string, string]> = [
      ['trace add foo-input 5', "trace add: unknown node `foo-input' (trace add takes an input node: af-packet-input)"],
      ['trace add ip4-input 5', "trace add: node 'ip4-input' doesn't support per-node tracing. There may be another way to initiate trace on this node. (nodes that do: af-packet-input)"],
      ['trace add af-packet-input', 'trace add: missing count (an integer 0-2147483647)'],
      ['trace add af-packet-input -1', "trace add: count `-1' is not valid (expected an integer 0-2147483647)"],
      ['trace add af-packet-input ten', "trace add: count `ten' is not valid (expected an integer 0-2147483647)"],
      ['trace add af-packet-input 99999999999', "trace add: count `99999999999' is not valid (expected an integer 0-2147483647)"],
      ['trace add af-packet-input 5 verbose', "trace add: `verbose' is not supported (trace add <input-node> <count>)"],
      ['trace add af-packet-input 5 6', "trace add: unknown input `6'"],
      ['trace add', "trace add: expected NODE COUNT, got `' (input nodes: af-packet-input)"],
      ['show trace max 0', "show trace: max `0' is not valid (expected an integer 1-2147483647)"],
      ['show trace 5', "show trace: unknown input `5' (show trace [max COUNT])"],
      ['clear trace now', "clear trace: unknown input `now'"],
    ];
    for (const [line, message] of cases) {
      const r = await tb.run(line);
      assert.deepEqual(r, { ok: false, output: message }, line);
    }
    assert.equal(h.tracer.armed, false);
    assert.equal(h.tracer.remaining, 0);
  });

  it('a budget beyond the trace buffer is cut, and the command says so', async () => {
    const tb = await seedTestBed();
    hooks(tb);
    assert.equal(await tb.cli('trace add af-packet-input 100000'), "the trace buffer holds at most 1000 packets: tracing 1000 more, not 100000 ('clear trace' frees it)");
  });
});

describe('cli: pcap trace', () => {
  after(() => {
    for (const f of made) rmSync(f, { force: true });
  });

  it('rx tx max 20 file <name>: VPP defaults, status, off writes /tmp/<name> with the tag back on rx', async () => {
    const tb = await seedTestBed();
    const h = hooks(tb);
    const name = pcapName('t');
    assert.equal(await tb.cli(`pcap trace rx tx max 20 file ${name}`), '');
    assert.ok(h.pcap !== null);
    assert.deepEqual(h.pcap.options, { rx: true, tx: true, drop: false, max: 20, maxBytesPerPacket: 512, swIndex: 0, file: `/tmp/${name}` });
    assert.equal(await tb.cli('pcap trace status'), `pcap rx and tx dispatch capture enabled: 0 of 20 pkts...\ncapture to file /tmp/${name}`);
    const f = pingFrame({ tags: [] });
    h.pcap.captureRx(f, 0, f.length, ETH_P_8021Q, 123, 1);
    assert.match(await tb.cli('pcap trace status'), /enabled: 1 of 20 pkts/);
    const r = await tb.run('pcap trace rx');
    assert.deepEqual(r, { ok: false, output: `pcap trace: dispatch trace already enabled... (capturing to /tmp/${name}; 'pcap trace off' first)` });
    assert.equal(existsSync(`/tmp/${name}`), false, 'VPP writes the file only on off');
    assert.equal(await tb.cli('pcap trace off'), `Write 1 packets to /tmp/${name}, and stop capture...`);
    assert.equal(h.pcap, null);
    const img = readFileSync(`/tmp/${name}`);
    assert.equal(img.readUInt16BE(24 + 16 + 12), ETH_P_8021Q, 'tag re-inserted after the MACs');
    assert.equal(img.readUInt16BE(24 + 16 + 14) & 0xfff, 123);
    assert.equal(await tb.cli('pcap trace status'), 'pcap dispatch capture disabled');
    assert.deepEqual(await tb.run('pcap trace off'), { ok: false, output: 'pcap trace: dispatch trace already disabled...' });
  });

  it('defaults: 1000 packets, 512 bytes, any interface, /tmp/rxtxdrop.pcap; intfc picks the interface', async () => {
    const tb = await seedTestBed();
    const h = hooks(tb);
    await tb.cli('pcap trace rx tx drop');
    assert.deepEqual(h.pcap!.options, { rx: true, tx: true, drop: true, max: 1000, maxBytesPerPacket: 512, swIndex: 0, file: '/tmp/rxtxdrop.pcap' });
    assert.deepEqual(await tb.run('pcap trace off'), { ok: false, output: 'pcap trace: No packets captured...' });
    assert.equal(h.pcap, null, 'stopped even so');
    await tb.cli('pcap trace tx intfc host-macvlan0.123 max-bytes-per-pkt 128');
    assert.equal(h.pcap!.options.swIndex, tb.dp.get('host-macvlan0.123').index);
    assert.equal(h.pcap!.options.maxBytesPerPacket, 128);
    assert.equal(h.pcap!.options.file, '/tmp/tx.pcap');
    h.pcap = null;
    // rx on a sub-interface matches nothing in VPP: say so.
    assert.match(await tb.cli('pcap trace rx intfc host-macvlan0.123'), /rx on host-macvlan0\.123 captures nothing; use intfc host-macvlan0/);
    h.pcap = null;
  });

  it('bad input: names with / or .., bad counts and sizes, unknown words and interfaces; nothing starts', async () => {
    const tb = await seedTestBed();
    const h = hooks(tb);
    const cases: Array<[string, RegExp]> = [
      ['pcap trace rx file ../etc/passwd', /^pcap trace: file name `\.\.\/etc\/passwd' contains '\/': pcap trace writes only to \/tmp; give a plain name such as t\.pcap$/],
      ['pcap trace rx file /tmp/x.pcap', /file name `\/tmp\/x\.pcap' contains '\/'/],
      ['pcap trace rx file x..pcap', /file name `x\.\.pcap' contains '\.\.'/],
      ['pcap trace rx file', /missing file name/],
      ['pcap trace rx max 0', /^pcap trace: max `0' is not valid \(expected an integer 1-2147483647\)$/],
      ['pcap trace rx max lots', /max `lots' is not valid/],
      ['pcap trace rx max-bytes-per-pkt 16', /^pcap trace: Max bytes per pkt must be > 32, < 9000\.\.\.$/],
      ['pcap trace rx max-bytes-per-pkt 10000', /Max bytes per pkt must be > 32, < 9000/],
      ['pcap trace rx max 1000000', /needs 503\.5 MiB of capture buffer/],
      ['pcap trace rx intfc host-macvlan9', /^pcap trace: unknown interface `host-macvlan9'$/],
      ['pcap trace rx sideways', /^pcap trace: unknown input `sideways' \(valid: rx, tx, drop, off, status, max <n>/],
      ['pcap trace rx filter', /unknown input `filter'/],
      ['pcap trace', /^pcap trace: specify rx, tx, drop, off or status/],
      ['pcap trace max 5', /^pcap trace: specify rx, tx and\/or drop to capture/],
      ['pcap trace rx off', /off cannot be combined/],
    ];
    for (const [line, re] of cases) {
      const r = await tb.run(line);
      assert.equal(r.ok, false, line);
      assert.match(r.output, re, line);
    }
    assert.equal(h.pcap, null);
  });
});

/** An echo service whose peer answers `rtt` ms later (on the fake clock), except for seqs in `lose`. */
class FakeEcho implements EchoService {
  onEchoReply: EchoReplyHandler | null = null;
  onEchoReply6: Echo6ReplyHandler | null = null;
  readonly sent: Array<{ dst: number; id: number; seq: number; size: number; source?: string }> = [];
  private readonly due: Array<{ at: number; run: () => void }> = [];

  constructor(
    private readonly clock: { now: number },
    private readonly rtt: number,
    private readonly lose: Set<number> = new Set(),
    private readonly result: 'sent' | 'no-route' | 'no-source-address' = 'sent',
    /** Also answer seq 2 with another ICMP id (a reply that belongs to nobody). */
    private readonly stray = false,
  ) {}

  sendEcho(dst: number, id: number, seq: number, size: number, source?: string) {
    if (this.result !== 'sent') return this.result;
    this.sent.push({ dst, id, seq, size, source });
    if (!this.lose.has(seq)) {
      this.due.push({ at: this.clock.now + this.rtt, run: () => this.onEchoReply?.(dst, id, seq, 64, 8 + size) });
      if (this.stray && seq === 2) this.due.push({ at: this.clock.now + this.rtt * 2, run: () => this.onEchoReply?.(dst, id ^ 1, seq, 64, 8 + size) });
    }
    return 'sent' as const;
  }

  sendEcho6(dst: Buffer, id: number, seq: number, size: number, source?: string) {
    if (this.result !== 'sent') return this.result;
    this.sent.push({ dst: -1, id, seq, size, source });
    if (!this.lose.has(seq)) this.due.push({ at: this.clock.now + this.rtt, run: () => this.onEchoReply6?.(dst, 0, id, seq, 64, 8 + size) });
    return 'sent' as const;
  }

  /** Advances the clock by ms, delivering replies that fall due. */
  async sleep(ms: number): Promise<void> {
    const end = this.clock.now + ms;
    this.due.sort((a, b) => a.at - b.at);
    while (this.due.length > 0 && this.due[0].at <= end) {
      const d = this.due.shift()!;
      this.clock.now = d.at;
      d.run();
    }
    this.clock.now = end;
  }
}

function fakeHost(echo: FakeEcho, clock: { now: number }): PingHost {
  return { icmp: echo, now: () => clock.now, find: (n) => (n === 'host-macvlan0.123' ? { name: n, mtu: 1500 } : undefined), interfaces: [{ mtu: 1500 }] };
}

const parse = (line: string) => {
  const clock = { now: 0 };
  return parsePing(new Args(line.split(' ').filter((w) => w !== ''), 'ping'), fakeHost(new FakeEcho(clock, 1), clock));
};

describe('cli: ping', () => {
  it('formats floats as vppinfra does: no leading zero below 1', () => {
    assert.equal(formatVppFloat(0.28514, 4), '.2851');
    assert.equal(formatVppFloat(1.155, 4), '1.1550');
    assert.equal(formatVppFloat(12.5, 4), '12.5000');
    assert.equal(formatVppFloat(0, 4), '.0000');
  });

  it('prints one line per reply in VPP layout (bytes = IPv4 total length, counted once), then the statistics', async () => {
    const clock = { now: 1000 };
    const echo = new FakeEcho(clock, 0.2851, new Set(), 'sent', true);
    const out = await runPing(fakeHost(echo, clock), parse('192.168.123.10 repeat 3'), (ms) => echo.sleep(ms));
    assert.equal(
      out,
      [
        '88 bytes from 192.168.123.10: icmp_seq=1 ttl=64 time=.2851 ms',
        '88 bytes from 192.168.123.10: icmp_seq=2 ttl=64 time=.2851 ms',
        '88 bytes from 192.168.123.10: icmp_seq=3 ttl=64 time=.2851 ms',
        '',
        'Statistics: 3 sent, 3 received, 0% packet loss',
        '',
      ].join('\n'),
    );
    assert.deepEqual(echo.sent.map((s) => s.seq), [1, 2, 3]);
    assert.equal(clock.now, 1000 + 3 * 1000, 'one interval after every request, the last included');
    assert.equal(echo.sent[0].size, 60, 'VPP default size');
    assert.ok(echo.sent.every((s) => s.id === echo.sent[0].id));
    assert.equal(echo.onEchoReply !== null, true);
  });

  it('counts loss with a truncated integer percentage; a reply for another ping id is not ours', async () => {
    const clock = { now: 0 };
    const echo = new FakeEcho(clock, 3, new Set([2]));
    const out = await runPing(fakeHost(echo, clock), parse('192.168.123.10 repeat 3 interval 0.01 size 100'), (ms) => echo.sleep(ms));
    assert.match(out, /^128 bytes from 192\.168\.123\.10: icmp_seq=1 ttl=64 time=3\.0000 ms$/m);
    assert.doesNotMatch(out, /icmp_seq=2/);
    assert.match(out, /\n\nStatistics: 3 sent, 2 received, 33% packet loss\n$/);
    assert.equal(clock.now, 30);
  });

  it('says why a request was not sent (VPP reasons), and loss is over what was sent', async () => {
    for (const [result, reason] of [
      ['no-route', 'no egress interface'],
      ['no-source-address', 'no source address for egress interface'],
    ] as const) {
      const clock = { now: 0 };
      const echo = new FakeEcho(clock, 1, new Set(), result);
      const out = await runPing(fakeHost(echo, clock), parse('10.9.9.9 repeat 2'), (ms) => echo.sleep(ms));
      assert.equal(out, `Failed: ${reason}\nFailed: ${reason}\n\nStatistics: 0 sent, 0 received, 0% packet loss\n`);
    }
  });

  it('stops when the CLI client goes away (the session signal aborts), as VPP does on a keypress', async () => {
    const clock = { now: 0 };
    const echo = new FakeEcho(clock, 1);
    const gone = new AbortController();
    let sleeps = 0;
    const sleep = async (ms: number, signal?: AbortSignal) => {
      assert.equal(signal, gone.signal);
      if (++sleeps === 2) gone.abort();
      await echo.sleep(ms);
    };
    const out = await runPing(fakeHost(echo, clock), parse('192.168.123.10 repeat 100'), sleep, gone.signal);
    assert.equal(echo.sent.length, 2);
    assert.match(out, /icmp_seq=2 .*\nAborted due to a keypress\.\n\nStatistics: 2 sent, 2 received, 0% packet loss\n$/);
  });

  it('two pings at once get different ICMP ids and each sees only its replies', async () => {
    const clock = { now: 0 };
    const echo = new FakeEcho(clock, 1);
    const host = fakeHost(echo, clock);
    const a = runPing(host, parse('192.168.123.10 repeat 2 interval 0.01'), (ms) => echo.sleep(ms));
    const b = runPing(host, parse('192.168.123.11 repeat 2 interval 0.01'), (ms) => echo.sleep(ms));
    const [oa, ob] = await Promise.all([a, b]);
    assert.notEqual(echo.sent[0].id, echo.sent[1].id);
    assert.match(oa, /2 sent, 2 received/);
    assert.match(ob, /2 sent, 2 received/);
    assert.doesNotMatch(oa, /192\.168\.123\.11/);
  });

  it('pings IPv6 (`ping <ip6>` or `ping ipv6 <ip6>`): bytes = the ICMPv6 length, as VPP prints the payload length', async () => {
    const clock = { now: 0 };
    const echo = new FakeEcho(clock, 0.5);
    const req = parse('ipv6 2001:db8:123::10 repeat 2 interval 0.01');
    assert.deepEqual(req.dst6, Buffer.from('20010db8012300000000000000000010', 'hex'));
    const out = await runPing(fakeHost(echo, clock), req, (ms) => echo.sleep(ms));
    assert.match(out, /^68 bytes from 2001:db8:123::10: icmp_seq=1 ttl=64 time=\.5000 ms\n68 bytes from 2001:db8:123::10: icmp_seq=2 /);
    assert.match(out, /Statistics: 2 sent, 2 received, 0% packet loss/);
    assert.deepEqual(parse('fe80::1 source host-macvlan0.123').source, 'host-macvlan0.123');
  });

  it('parses VPP keywords; bad input is a clear error', () => {
    assert.deepEqual(parse('192.168.123.10'), { dst: 0xc0a87b0a, repeat: 5, intervalMs: 1000, size: 60 });
    assert.deepEqual(parse('ipv4 192.168.123.10 source host-macvlan0.123 repeat 2 interval .5 size 0 table-id 0 burst 1'), {
      dst: 0xc0a87b0a,
      source: 'host-macvlan0.123',
      repeat: 2,
      intervalMs: 500,
      size: 0,
    });
    const bad: Array<[string, RegExp]> = [
      ['', /missing address \(ping <address>/],
      ['192.168.123', /`192\.168\.123' is not an IPv4 or IPv6 address/],
      ['2001:db8::1::2', /`2001:db8::1::2' is not an IPv4 or IPv6 address/],
      ['ipv6 192.168.123.10', /`192\.168\.123\.10' is not an IPv6 address/],
      ['2001:db8::1 size 1453', /: 1453 is bigger than maximum allowed payload size 1452$/],
      ['192.168.123.10 repeat 0', /repeat `0' is not valid \(expected an integer 1-1000000\)/],
      ['192.168.123.10 repeat x', /repeat `x' is not valid/],
      ['192.168.123.10 interval 0', /interval `0' is not valid \(expected seconds, 0\.001-3600\)/],
      ['192.168.123.10 interval -1', /interval `-1' is not valid/],
      ['192.168.123.10 size 1473', /: 1473 is bigger than maximum allowed payload size 1472$/],
      ['192.168.123.10 size big', /size `big' is not valid/],
      ['192.168.123.10 source host-macvlan9', /unknown interface `host-macvlan9'/],
      ['192.168.123.10 table-id 1', /only table-id 0 exists/],
      ['192.168.123.10 burst 2', /burst/],
      ['192.168.123.10 192.168.123.11', /unknown input `192\.168\.123\.11'/],
      ['192.168.123.10 repeat', /missing repeat/],
    ];
    for (const [line, re] of bad) assert.throws(() => parse(line), re, line);
  });
});
