/** The show and clear commands, with layouts modelled on VPP's. */
import { VERSION } from '../version.js';
import { formatIpv4, formatMac } from '../wire/address.js';
import type { SwInterface } from '../dataplane/interface.js';
import type { GraphNode } from '../dataplane/node.js';
import type { Severity } from '../dataplane/nodes.js';
import type { CliContext } from './context.js';
import { CommandError, type Args, type CommandRegistry } from './registry.js';

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
    const dev = hw.device as unknown as { ring?: RingInfo };
    const stats = hw.device.stats();
    lines.push('  Link speed: unknown');
    lines.push('  RX Queues:');
    lines.push('    queue thread         mode');
    lines.push('    0     main (0)       interrupt');
    lines.push(`  Ethernet address ${formatMac(sw.mac)}`);
    if (dev.ring !== undefined) {
      const r = dev.ring;
      lines.push(`  Linux PACKET socket interface v${r.version}`);
      lines.push('  FEATURES:');
      lines.push('    qdisc-bpass-enabled');
      lines.push('  RX Queue 0:');
      lines.push(`    block size:${r.blockSize} nr:${r.blockCount} frame size:${r.frameSize} nr:${r.frameCount}`);
      lines.push('  TX: sendmmsg, one call per vector');
    } else {
      lines.push(`  in-memory device ${hw.device.ifname}`);
    }
    lines.push(`  kernel socket statistics: packets ${stats.kernelPackets} drops ${stats.kernelDrops} freeze ${stats.kernelFreezes}`);
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

function showNeighbors(ctx: CliContext): string {
  const now = ctx.dp.now();
  const lines = [`${'Time'.padStart(10)}${'IP'.padStart(24)}${'Flags'.padStart(10)}      ${'Ethernet'.padEnd(22)}Interface`];
  for (const n of ctx.dp.neighbors.all()) {
    const age = ((now - n.updated) / 1000).toFixed(4);
    lines.push(`${age.padStart(10)}${formatIpv4(n.ip).padStart(24)}${(n.isStatic ? 'S' : 'D').padStart(8)}        ${formatMac(n.mac).padEnd(22)}${n.sw.name}`);
  }
  return lines.join('\n');
}

interface ErrorRow {
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
  const lines = [`${'Count'.padStart(12)}  ${'Node'.padEnd(28)}${'Reason'.padEnd(48)}Severity`];
  for (const r of errorRows(ctx)) {
    lines.push(`${String(r.count).padStart(12)}  ${r.node.padEnd(28)}${r.reason.padEnd(48)}${r.severity}`);
  }
  return lines.join('\n');
}

function showRuntime(ctx: CliContext, since: number): string {
  const seconds = (Date.now() - since) / 1000;
  const lines = [
    `Time ${seconds.toFixed(1)}, since the last 'clear runtime'`,
    `${'Name'.padEnd(28)}${'State'.padEnd(10)}${'Calls'.padStart(12)}${'Vectors'.padStart(14)}${'Vectors/Call'.padStart(14)}${'ns/Packet'.padStart(12)}`,
  ];
  for (const node of ctx.dp.graphNodes()) {
    const r = node.runtime;
    if (r.calls === 0) continue;
    const perCall = r.vectors / r.calls;
    const perPacket = r.vectors > 0 ? r.nanos / r.vectors : 0;
    lines.push(
      `${node.name.padEnd(28)}${'active'.padEnd(10)}${String(r.calls).padStart(12)}${String(r.vectors).padStart(14)}${perCall.toFixed(2).padStart(14)}${perPacket.toFixed(1).padStart(12)}`,
    );
  }
  return lines.join('\n');
}

export function registerShowCommands(registry: CommandRegistry<CliContext>): void {
  let runtimeSince = Date.now();

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
    path: 'show ip neighbors',
    help: 'show ip neighbors',
    run(args, ctx) {
      args.end();
      return showNeighbors(ctx);
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
    path: 'show runtime',
    help: 'show runtime',
    run(args, ctx) {
      args.end();
      return showRuntime(ctx, runtimeSince);
    },
  });
  registry.register({
    path: 'clear runtime',
    help: 'clear runtime',
    run(args, ctx) {
      args.end();
      for (const node of ctx.dp.graphNodes()) node.clearRuntime();
      runtimeSince = Date.now();
    },
  });
}

export { errorRows };
