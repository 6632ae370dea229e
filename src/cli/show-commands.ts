/** The show and clear commands, with layouts modelled on VPP's. */
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { VERSION } from '../version.js';
import { formatHistogram } from '../io/latency-histogram.js';
import { formatIpv4, formatMac } from '../wire/address.js';
import { DAD_NAMES, DadState, type SwInterface } from '../dataplane/interface.js';
import { formatIpv6 } from '../wire/ipv6-address.js';
import type { GraphNode } from '../dataplane/node.js';
import type { Severity } from '../dataplane/node.js';
import type { CliContext } from './context.js';
import { CommandError, type Args, type CommandRegistry } from './registry.js';
import { queueMode, rxPlacement } from './rx-mode-commands.js';
import { formatThreads, threadName } from './threads.js';

const state = (sw: SwInterface): string => (sw.up ? 'up' : 'down');

function selectInterfaces(args: Args, ctx: CliContext): SwInterface[] | null {
  if (args.done) return null;
  const name = args.next('interface name');
  const sw = ctx.dp.find(name);
  if (sw === undefined) throw new CommandError(`unknown interface \`${name}'`);
  args.end();
  return [sw];
}

function showInterface(ctx: CliContext, only: SwInterface[] | null): string {
  const lines = [
    `${'Name'.padStart(18).padEnd(32)}${'Idx'.padEnd(7)}${'State'.padEnd(7)}${'MTU (L3/IP4/IP6/MPLS)'.padEnd(26)}${'Counter'.padEnd(21)}Count`,
  ];
  const rows: Array<[string, number]> = [];
  for (const sw of only ?? ctx.dp.interfaces) {
    const c = sw.counters;
    rows.length = 0;
    if (c.rxPackets) rows.push(['rx packets', c.rxPackets], ['rx bytes', c.rxBytes]);
    if (c.txPackets) rows.push(['tx packets', c.txPackets], ['tx bytes', c.txBytes]);
    if (c.drops) rows.push(['drops', c.drops]);
    if (c.ip4) rows.push(['ip4', c.ip4]);
    if (c.ip6) rows.push(['ip6', c.ip6]);
    if (c.txErrors) rows.push(['tx-error', c.txErrors]);
    const mtu = `${sw.isSub ? 0 : sw.mtu}/0/0/0`;
    const head = `${sw.name.padEnd(32)}${String(sw.index).padEnd(7)}${state(sw).padEnd(7)}${mtu.padEnd(26)}`;
    if (rows.length === 0) {
      lines.push(head.trimEnd());
      continue;
    }
    rows.forEach(([name, value], i) => {
      lines.push(`${i === 0 ? head : ' '.repeat(72)}${name.padEnd(21)}${String(value).padStart(12)}`);
    });
  }
  if (only === null) lines.push(`${'local0'.padEnd(32)}${'0'.padEnd(7)}${'down'.padEnd(7)}0/0/0/0`);
  return lines.join('\n');
}

function showInterfaceAddress(ctx: CliContext, only: SwInterface[] | null): string {
  const lines: string[] = [];
  for (const sw of only ?? ctx.dp.interfaces) {
    lines.push(`${sw.name} (${sw.up ? 'up' : 'dn'}):`);
    if (sw.xconnect !== null) lines.push(`  L2 xconnect ${sw.xconnect.name}`);
    for (const a of sw.addresses) lines.push(`  L3 ${formatIpv4(a.address)}/${a.prefixLength}`);
    // VPP lists IPv6 interface addresses the same way (the link-local is not one: show ip6 interface).
    for (const a of sw.ip6?.addresses ?? []) lines.push(`  L3 ${formatIpv6(a.address)}/${a.prefixLength}${a.dad === DadState.Preferred ? '' : ` (${DAD_NAMES[a.dad]})`}`);
  }
  if (only === null) lines.push('local0 (dn):');
  return lines.join('\n');
}

function showHardware(ctx: CliContext, brief: boolean): string {
  const lines = [`${'Name'.padStart(18).padEnd(32)}${'Idx'.padEnd(6)}${'Link'.padEnd(6)}Hardware`];
  for (const hw of ctx.dp.hardware) {
    const sw = hw.sw;
    lines.push(`${hw.name.padEnd(32)}${String(sw.index).padEnd(6)}${state(sw).padEnd(6)}${hw.name}`);
    if (brief) continue;
    const dev = hw.device as unknown as { ring?: RingInfo; txOffload?: unknown };
    const stats = hw.device.stats();
    lines.push('  Link speed: unknown');
    lines.push('  RX Queues:');
    lines.push('    queue thread         mode');
    for (const q of rxPlacement(ctx)) {
      if (q.hw !== hw.name) continue;
      const thread = q.thread === 0 ? 'main (0)' : `${threadName(q.thread)} (${q.thread})`;
      lines.push(`    ${String(q.queue).padEnd(6)}${thread.padEnd(15)}${q.mode}`);
    }
    // VPP's TX queue table: thread j uses queue j % num-tx-queues, shared under a lock when
    // several threads map to one. Each of our threads has a TX socket of its own: one queue per
    // thread, never shared, whatever num-tx-queues asked (VPP with num-tx-queues = threads).
    const self = ctx.threads?.self ?? 0;
    lines.push('  TX Queues:');
    lines.push('    queue shared thread(s)');
    lines.push(`    ${String(self).padEnd(6)}${'no'.padEnd(7)}${self}`);
    if (hw.txQueuesAsked !== null) lines.push(`    (num-tx-queues ${hw.txQueuesAsked}: every thread sends on its own socket, as VPP with num-tx-queues = threads)`);
    lines.push(`  Ethernet address ${formatMac(sw.mac)}`);
    if (dev.ring !== undefined) {
      const r = dev.ring;
      lines.push(`  Linux PACKET socket interface v${r.version}`);
      lines.push('  FEATURES:');
      lines.push('    qdisc-bpass-enabled');
      if (dev.txOffload !== undefined) lines.push('    tx-offload (vnet-hdr: tcp checksum, tcp4 and tcp6 gso)');
      lines.push('  RX Queue 0:');
      lines.push(`    block size:${r.blockSize} nr:${r.blockCount} frame size:${r.frameSize} nr:${r.frameCount}`);
      lines.push('  TX: sendmmsg, one call per vector');
    } else {
      lines.push(`  in-memory device ${hw.device.ifname}`);
    }
    lines.push(`  kernel socket statistics: packets ${stats.kernelPackets} drops ${stats.kernelDrops} freeze ${stats.kernelFreezes}`);
    const x = stats as unknown as Record<string, number | string | undefined>;
    if (typeof x.rxFrames === 'number') {
      lines.push(`  rx frames ${x.rxFrames} bytes ${x.rxBytes} vectors ${x.rxVectors} wakeups ${x.rxWakeups} truncated ${x.rxTruncated}${typeof x.rxRechecks === 'number' ? ` rechecks ${x.rxRechecks}` : ''}`);
      lines.push(`  tx frames ${x.txFrames} bytes ${x.txBytes} eagain ${x.txEagain} nobufs ${x.txNobufs}${x.txLastError ? ` last error ${x.txLastError}` : ''}`);
      if (typeof x.txCsumOffloaded === 'number') lines.push(`  tx checksum-offloaded ${x.txCsumOffloaded} gso super-frames ${x.txGsoFrames}${typeof x.txGsoTooBig === 'number' && x.txGsoTooBig > 0 ? ` gso-too-big (refused, ≥ 65,536 bytes) ${x.txGsoTooBig}` : ''}`);
      lines.push(`  socket errors ${x.socketErrors}${x.socketLastError ? ` (last ${x.socketLastError})` : ''}, handler errors ${x.handlerErrors}`);
    }
    const lat = stats as unknown as Partial<Record<'latRingWait' | 'latHandler' | 'latReply', number[]>>;
    if (Array.isArray(lat.latRingWait)) {
      // Where a frame's time goes (native/af_packet.c): kernel RX timestamp -> our drain, the JS
      // handler per vector, our drain -> a reply's sendmmsg returning inside that vector.
      lines.push(`  latency ring-wait (kernel rx timestamp to pickup) ${formatHistogram(lat.latRingWait)}`);
      lines.push(`  latency handler (per vector) ${formatHistogram(lat.latHandler ?? [])}`);
      lines.push(`  latency pickup to reply sent (per send in a vector) ${formatHistogram(lat.latReply ?? [])}`);
    }
    if (typeof x.txBlocked === 'number') {
      // TX backpressure: frames the kernel refused for now (EAGAIN/ENOBUFS) wait in the device's backlog.
      lines.push(
        `  tx backpressure: blocked ${x.txBlocked} backlogged ${x.txBacklogged} backlog-drops ${x.txBacklogDrops} ` +
          `backlog ${x.txBacklogFrames} (peak ${x.txBacklogPeak}) resumes ${x.txResumes}${typeof x.txWritableWakeups === 'number' ? ` writable-wakeups ${x.txWritableWakeups}` : ''}`,
      );
    }
    if (typeof x.txSendBuffer === 'number') lines.push(`  tx socket send buffer ${x.txSendBuffer} bytes (SO_SNDBUF as granted)`);
    lines.push(`  tx errors ${stats.txErrors}, mtu ${hw.device.mtu}, sub-interfaces ${hw.subByVlan.size}`);
  }
  lines.push(`${'local0'.padEnd(32)}${'0'.padEnd(6)}${'down'.padEnd(6)}local0`);
  if (!brief) lines.push('  Link speed: unknown', '  local');
  return lines.join('\n');
}

interface RingInfo {
  version: number;
  blockSize: number;
  blockCount: number;
  frameSize: number;
  frameCount: number;
}

export interface ErrorRow {
  count: number;
  node: string;
  reason: string;
  severity: Severity;
}

function errorRows(ctx: CliContext): ErrorRow[] {
  const rows: ErrorRow[] = [];
  for (const node of ctx.dp.graphNodes()) {
    const sev = (node as GraphNode & { severities?: Severity[] }).severities;
    node.errorNames.forEach((reason, i) => {
      if (node.errors[i] > 0) rows.push({ count: node.errors[i], node: node.name, reason, severity: sev?.[i] ?? 'error' });
    });
  }
  for (const source of ctx.errorSources) {
    for (const [reason, count] of Object.entries(source.counts())) {
      if (count > 0) rows.push({ count, node: source.node, reason, severity: 'error' });
    }
  }
  return rows;
}

function showErrors(ctx: CliContext): string {
  return formatErrors(errorRows(ctx));
}

/** `show errors` from rows (the main thread with workers sums every thread's rows first). */
export function formatErrors(rows: readonly ErrorRow[]): string {
  const lines = [`${'Count'.padStart(12)}  ${'Node'.padEnd(28)}${'Reason'.padEnd(48)}Severity`];
  for (const r of rows) {
    lines.push(`${String(r.count).padStart(12)}  ${r.node.padEnd(28)}${r.reason.padEnd(48)}${r.severity}`);
  }
  return lines.join('\n');
}

/** What `show runtime` counts from: the last `clear runtime` (or the start). */
interface RuntimeMark {
  at: number;
  cpu: NodeJS.CpuUsage;
  /** Per hardware interface: its device's poll counters at the mark. */
  polls: Map<string, PollCounters>;
}

/** A device's RX poll counters; spinBreaks: polling slices cut short because another fd of the loop had an event. */
interface PollCounters {
  polls: number;
  empty: number;
  wakeups: number;
  spinBreaks: number;
}

function pollCounters(hw: { device: { stats(): unknown } }): PollCounters {
  const x = hw.device.stats() as { rxPolls?: number; rxEmptyPolls?: number; rxWakeups?: number; rxSpinBreaks?: number };
  return { polls: x.rxPolls ?? 0, empty: x.rxEmptyPolls ?? 0, wakeups: x.rxWakeups ?? 0, spinBreaks: x.rxSpinBreaks ?? 0 };
}

function runtimeMark(ctx: CliContext): RuntimeMark {
  return { at: Date.now(), cpu: cpuUsage(ctx), polls: new Map(ctx.dp.hardware.map((hw) => [hw.name, pollCounters(hw)])) };
}

/**
 * The CPU time show runtime reports: the process's with one thread (it includes libuv's file
 * threads, which serve the HTTP cache's reads); with worker threads each thread's own, from
 * /proc/thread-self/stat (utime and stime in clock ticks, 100 per second), so that every thread
 * says what it cost.
 */
function cpuUsage(ctx: CliContext): NodeJS.CpuUsage {
  if (ctx.threads === undefined) return process.cpuUsage();
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    // Fields after the command name (which may hold spaces) start at state: utime is field 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) * 10_000, system: Number(f[12]) * 10_000 };
  } catch {
    return process.cpuUsage();
  }
}

function showRuntime(ctx: CliContext, mark: RuntimeMark): string {
  const seconds = (Date.now() - mark.at) / 1000;
  // The CPU this process used meanwhile: in polling mode the loop never sleeps, so this is where
  // the mode's cost shows (about one core), while interrupt mode costs only the work done.
  const total = cpuUsage(ctx);
  const cpu = { user: total.user - mark.cpu.user, system: total.system - mark.cpu.system };
  const busy = seconds > 0 ? (cpu.user + cpu.system) / 1e6 / seconds : 0;
  const polling = ctx.dp.hardware.some((hw) => hw.device.rxPolling === true);
  const lines = [
    `Time ${seconds.toFixed(1)}, since the last 'clear runtime'`,
    `  cpu ${(busy * 100).toFixed(1)}% of one core (user ${(cpu.user / 1e6).toFixed(2)} s, system ${(cpu.system / 1e6).toFixed(2)} s${ctx.threads !== undefined ? ', this thread' : ''})`,
    `${'Name'.padEnd(28)}${'State'.padEnd(16)}${'Calls'.padStart(12)}${'Vectors'.padStart(14)}${'Vectors/Call'.padStart(14)}${'ns/Packet'.padStart(12)}`,
  ];
  for (const node of ctx.dp.graphNodes()) {
    const r = node.runtime;
    if (r.calls === 0) continue;
    const perCall = r.vectors / r.calls;
    const perPacket = r.vectors > 0 ? r.nanos / r.vectors : 0;
    // VPP's states: an input node is "polling" or "interrupt wait"; the others run when fed.
    const state = node.name === 'af-packet-input' ? (polling ? 'polling' : 'interrupt wait') : 'active';
    lines.push(
      `${node.name.padEnd(28)}${state.padEnd(16)}${String(r.calls).padStart(12)}${String(r.vectors).padStart(14)}${perCall.toFixed(2).padStart(14)}${perPacket.toFixed(1).padStart(12)}`,
    );
  }
  // Work done outside the graph on the same thread (e.g. OpenSSL handshakes), in the same columns.
  for (const src of ctx.runtimeSources ?? []) {
    const r = src.runtime();
    if (r.calls === 0) continue;
    const perCall = r.vectors / r.calls;
    const perPacket = r.vectors > 0 ? r.nanos / r.vectors : 0;
    lines.push(
      `${src.name.padEnd(28)}${'active'.padEnd(16)}${String(r.calls).padStart(12)}${String(r.vectors).padStart(14)}${perCall.toFixed(2).padStart(14)}${perPacket.toFixed(1).padStart(12)}`,
    );
  }
  // How each RX queue was read: ring looks on loop turns (polling) and epoll wakeups (interrupt).
  for (const hw of ctx.dp.hardware) {
    if (hw.device.rxMode === undefined) continue;
    const now = pollCounters(hw);
    const then = mark.polls.get(hw.name) ?? { polls: 0, empty: 0, wakeups: 0, spinBreaks: 0 };
    const polls = now.polls - then.polls;
    const empty = now.empty - then.empty;
    const breaks = now.spinBreaks - then.spinBreaks;
    const queues = (hw.device.rxQueueIds ?? [0]).join(',');
    lines.push(
      `${hw.name} queue ${queues} rx-mode ${queueMode(hw)}${hw.device.rxPolling === true ? ' (polling now)' : ''}: ` +
        `${polls} polls (${empty} empty${seconds > 0 ? `, ${(polls / seconds).toFixed(0)}/s` : ''}${breaks > 0 ? `, ${breaks} spins cut short by loop events` : ''}), ` +
        `${now.wakeups - then.wakeups} interrupt wakeups`,
    );
  }
  return lines.join('\n');
}

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

/** `show memory`: the process's memory as V8 and the kernel see it. */
function showMemory(): string {
  const m = process.memoryUsage();
  const h = process.resourceUsage();
  const lines = [
    `Process ${process.pid}, Node.js ${process.version}, up ${process.uptime().toFixed(0)} s`,
    `  rss                 ${mib(m.rss).padStart(12)}   (resident set, what the container's memory limit counts)`,
    `  max rss             ${mib(h.maxRSS * 1024).padStart(12)}`,
    `  heap used / total   ${mib(m.heapUsed).padStart(12)} / ${mib(m.heapTotal)}`,
    `  external            ${mib(m.external).padStart(12)}   (Buffers, rings and TX batches live here)`,
    `  array buffers       ${mib(m.arrayBuffers).padStart(12)}`,
    '  V8 heap spaces (used / size):',
  ];
  // Where RSS growth sits: live objects (old space) or the young generation's semi-spaces, which
  // V8 grows under a high allocation rate and which hold garbage between scavenges.
  for (const sp of getHeapSpaceStatistics()) {
    if (sp.space_size === 0) continue;
    lines.push(`    ${sp.space_name.padEnd(26)}${mib(sp.space_used_size).padStart(12)} / ${mib(sp.space_size)}`);
  }
  return lines.join('\n');
}

/** `show buffers`: the packet memory the dataplane holds: RX rings, TX batches, the frame vector. */
function showBuffers(ctx: CliContext): string {
  const dp = ctx.dp;
  const lines = [`${'Name'.padEnd(28)}${'Kind'.padEnd(12)}${'Slots'.padStart(10)}${'Slot size'.padStart(12)}${'In use'.padStart(10)}${'Bytes'.padStart(14)}`];
  let total = 0;
  for (const hw of dp.hardware) {
    const ring = (hw.device as unknown as { ring?: RingInfo }).ring;
    if (ring !== undefined) {
      const bytes = ring.blockSize * ring.blockCount;
      total += bytes;
      lines.push(`${hw.name.padEnd(28)}${`rx ring v${ring.version}`.padEnd(12)}${String(ring.frameCount).padStart(10)}${String(ring.frameSize).padStart(12)}${'-'.padStart(10)}${String(bytes).padStart(14)}`);
    }
    const tx = hw.tx;
    total += tx.data.length;
    lines.push(`${hw.name.padEnd(28)}${'tx batch'.padEnd(12)}${String(tx.capacity).padStart(10)}${String(tx.slotSize).padStart(12)}${String(tx.count).padStart(10)}${String(tx.data.length).padStart(14)}`);
  }
  lines.push(`${'dataplane'.padEnd(28)}${'vector'.padEnd(12)}${String(dp.frames.capacity).padStart(10)}${'-'.padStart(12)}${'-'.padStart(10)}${'-'.padStart(14)}`);
  lines.push(`packet memory: ${mib(total)} (${total} bytes); see also show memory`);
  return lines.join('\n');
}

export function registerShowCommands(registry: CommandRegistry<CliContext>): void {
  // null: count from the start (the process's CPU, the devices' counters); `clear runtime` sets it.
  let runtimeSince: RuntimeMark | null = null;

  registry.register({
    path: 'show version',
    help: 'show version',
    run(args) {
      args.end();
      return `vpp-server v${VERSION} (TypeScript dataplane on Node.js ${process.version}, VPP-compatible CLI)`;
    },
  });
  registry.register({
    path: 'show interface',
    help: 'show interface [address] [<interface>]',
    run: (args, ctx) => showInterface(ctx, selectInterfaces(args, ctx)),
  });
  registry.register({
    path: 'show interface address',
    help: 'show interface address [<interface>]',
    run: (args, ctx) => showInterfaceAddress(ctx, selectInterfaces(args, ctx)),
  });
  registry.register({
    path: 'show hardware-interfaces',
    help: 'show hardware-interfaces [brief]',
    run(args, ctx) {
      const brief = args.accept('brief');
      args.end();
      return showHardware(ctx, brief);
    },
  });
  registry.register({
    path: 'show threads',
    help: 'show threads',
    run(args, ctx) {
      args.end();
      return formatThreads(ctx.threads?.threads() ?? [{ index: 0, name: 'vpp_main', type: '', lwp: process.pid, lcore: null, cpuNow: -1 }]);
    },
  });
  registry.register({
    path: 'show errors',
    help: 'show errors',
    run(args, ctx) {
      args.end();
      return showErrors(ctx);
    },
  });
  registry.register({
    path: 'clear errors',
    help: 'clear errors',
    run(args, ctx) {
      args.end();
      for (const node of ctx.dp.graphNodes()) node.clearErrors();
      for (const source of ctx.errorSources) source.clear?.();
    },
  });
  registry.register({
    path: 'clear interfaces',
    help: 'clear interfaces',
    run(args, ctx) {
      args.end();
      ctx.dp.clearInterfaceCounters();
    },
  });
  registry.register({
    path: 'show memory',
    help: 'show memory: process memory (RSS, V8 heap, external buffers)',
    run(args) {
      args.end();
      return showMemory();
    },
  });
  registry.register({
    path: 'show buffers',
    help: 'show buffers: RX rings, TX batches and the frame vector, with their sizes',
    run(args, ctx) {
      args.end();
      return showBuffers(ctx);
    },
  });
  registry.register({
    path: 'show runtime',
    help: 'show runtime',
    run(args, ctx) {
      args.end();
      return showRuntime(ctx, runtimeSince ?? { at: ctx.startedAt, cpu: { user: 0, system: 0 }, polls: new Map() });
    },
  });
  registry.register({
    path: 'clear runtime',
    help: 'clear runtime',
    run(args, ctx) {
      args.end();
      for (const node of ctx.dp.graphNodes()) node.clearRuntime();
      for (const src of ctx.runtimeSources ?? []) src.clear();
      runtimeSince = runtimeMark(ctx);
    },
  });
}

export { errorRows };
