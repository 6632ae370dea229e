/**
 * IPv6 commands with VPP's syntax and layouts: `enable ip6 interface`, `disable ip6 interface`,
 * `show ip6 interface`, `show ip6 fib`, `show ip6 neighbors`. (Addresses, routes and neighbours
 * go through the family-independent commands: `set interface ip address`, `ip route`,
 * `set ip neighbor`.)
 */
import type { Dataplane } from '../dataplane/dataplane.js';
import type { Fib6Entry } from '../dataplane/fib6.js';
import { DAD_NAMES, DadState, type Ip6Address, type SwInterface } from '../dataplane/interface.js';
import { ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { formatIpv6, parseIpv6, parseIpv6Prefix, type Ipv6Prefix } from '../wire/ipv6-address.js';
import type { CliContext } from './context.js';
import { wrap } from './dataplane-call.js';
import { rewriteHex, showNeighbors } from './ip-commands.js';
import { type Args, CommandError, type CommandRegistry } from './registry.js';

function interfaceArg(args: Args, ctx: CliContext): SwInterface {
  const name = args.next(`interface name (interfaces: ${ctx.dp.interfaces.map((s) => s.name).join(', ') || 'none yet'})`);
  return wrap(() => ctx.dp.get(name));
}

function dadLine(a: Ip6Address): string {
  const result = DAD_NAMES[a.dad];
  return `      ${formatIpv6(a.address)}: ${a.dad === DadState.Duplicate ? `${result} (in use: ${a.conflict}), refused` : result}`;
}

/** VPP's `show ip6 interface` (ip6_link.c, then the ND, MLD and RA delegates), with our DAD results. */
export function showIp6Interface(dp: Dataplane, sw: SwInterface): string {
  const link = sw.ip6;
  if (link === null) return 'IP6 disabled';
  const errors = dp.icmp6Error;
  const lines = [`${sw.name} is admin ${sw.adminUp ? 'up' : 'down'}`];
  if (link.addresses.length > 0) {
    lines.push('  Global unicast address(es):');
    for (const a of link.addresses) lines.push(`    ${formatIpv6(a.address)}/${a.prefixLength}`);
  }
  lines.push('  Link-local address(es):', `    ${formatIpv6(link.linkLocal.address)}`);
  lines.push('  Neighbor Discovery: enabled', '    ICMP redirects are disabled', '    ICMP unreachables are sent', '    ND DAD is enabled');
  for (const a of [...link.addresses, link.linkLocal]) lines.push(dadLine(a));
  lines.push('  Joined group address(es):');
  for (const g of link.groups.values()) lines.push(`    ${formatIpv6(g)}`);
  lines.push(
    '  Advertised Prefixes:',
    `    MTU is ${sw.mtu}`,
    `    ICMP error messages are limited to ${errors.perSecond} per second (burst ${errors.burst})`,
    '    ICMP redirects are disabled',
    '    ICMP unreachables are sent',
    '    ND DAD is enabled',
    '    ND advertised reachable time is 0',
    '    ND advertised retransmit interval is 0 (msec)',
    '    ND router advertisements are not sent',
    `    ND neighbor solicitations received ${link.nsReceived}`,
    `    ND neighbor advertisements sent ${link.naSent}`,
  );
  return lines.join('\n');
}

function pathLine(dp: Dataplane, e: Fib6Entry): string {
  switch (e.source) {
    case 'local':
      return `[@2]: dpo-receive: ${formatIpv6(e.prefix)} on ${e.sw!.name}`;
    case 'drop':
      return '[@0]: dpo-drop ip6';
    case 'link-local':
      return '[@14]: ip6-link-local';
    case 'connected':
      return `[@4]: ip6-glean: [src:${formatIpv6(e.prefix)}/${e.length}] ${e.sw!.name}: mtu:${e.sw!.mtu} flags:[] ${rewriteHex(e.sw!, null, ETHERTYPE_IPV6)}`;
    default: {
      const via = formatIpv6(e.via!);
      if (e.sw === null) return `[@0]: dpo-drop ip6 (next hop ${via} is not resolvable)`;
      const n = dp.neighbors6.lookup6(e.sw, e.via!, 0);
      if (n === undefined || !n.usable) return `[@3]: arp-ipv6: via ${via} ${e.sw.name}`;
      return `[@5]: ipv6 via ${via} ${e.sw.name}: mtu:${e.sw.mtu} flags:[] ${rewriteHex(e.sw, n.mac, ETHERTYPE_IPV6)}`;
    }
  }
}

/** VPP's `show ip6 fib [<prefix> | <address>]`. */
export function showIp6Fib(dp: Dataplane, only: Ipv6Prefix | null): string {
  const entries = dp.fib6.entries();
  const locks = [`adjacency:${entries.filter((e) => e.source === 'connected').length}`, 'default-route:1'];
  const lines = [`ipv6-VRF:0, fib_index:0, flow hash:[src dst sport dport proto flowlabel ] epoch:${dp.fib6.epoch} flags:none locks:[${locks.map((l) => `${l}, `).join('')}]`];
  const rows: Array<{ prefix: Buffer; length: number; path: string; to: string }> = [];
  if (!entries.some((e) => e.length === 0)) rows.push({ prefix: Buffer.alloc(16), length: 0, path: '[@0]: dpo-drop ip6', to: '0:0' });
  for (const e of entries) rows.push({ prefix: e.prefix, length: e.length, path: pathLine(dp, e), to: `${e.packets}:${e.bytes}` });
  rows.sort((a, b) => Buffer.compare(a.prefix, b.prefix) || a.length - b.length);
  for (const r of rows) {
    if (only !== null && !(r.length === only.prefixLength && r.prefix.equals(only.address))) continue;
    lines.push(`${formatIpv6(r.prefix)}/${r.length}`, '  unicast-ip6-chain', `  [@0]: dpo-load-balance: [proto:ip6 buckets:1 to:[${r.to}]]`, `    [0] ${r.path}`);
  }
  return lines.join('\n');
}

export function registerIp6Commands(registry: CommandRegistry<CliContext>): void {
  registry.register({
    path: 'enable ip6 interface',
    help: 'enable ip6 interface <interface>',
    run(args, ctx) {
      const sw = interfaceArg(args, ctx);
      args.end();
      // VPP: enabling twice fails (ip6_link_enable returns VALUE_EXIST); an IPv6 address enables it too.
      if (!wrap(() => ctx.dp.enableIp6(sw.name))) throw new CommandError(`Failed (IPv6 is already enabled on ${sw.name})`);
    },
  });
  registry.register({
    path: 'disable ip6 interface',
    help: 'disable ip6 interface <interface>',
    run(args, ctx) {
      const sw = interfaceArg(args, ctx);
      args.end();
      wrap(() => ctx.dp.disableIp6(sw.name));
    },
  });
  registry.register({
    path: 'show ip6 interface',
    help: 'show ip6 interface <interface>',
    run(args, ctx) {
      const sw = interfaceArg(args, ctx);
      args.end();
      return showIp6Interface(ctx.dp, sw);
    },
  });
  registry.register({
    path: 'show ip6 fib',
    help: 'show ip6 fib [<ip6-addr>[/<width>]]',
    run(args, ctx) {
      let only: Ipv6Prefix | null = null;
      if (!args.done) {
        const text = args.next('prefix');
        only = parseIpv6Prefix(text);
        if (only === null) {
          const addr = parseIpv6(text);
          if (addr === null) throw new CommandError(`\`${text}' is not an IPv6 address or prefix (expected e.g. 2001:db8:123::10 or 2001:db8:123::/64)`);
          // An address alone: the entry a lookup finds for it, as VPP does.
          const e = ctx.dp.fib6.lookup(addr, 0);
          only = e !== undefined ? { address: e.prefix, prefixLength: e.length } : { address: Buffer.alloc(16), prefixLength: 0 };
        }
      }
      args.end();
      return showIp6Fib(ctx.dp, only);
    },
  });
  registry.register({
    path: 'show ip6 neighbors',
    help: 'show ip6 neighbors [<interface>] [verbose]',
    run(args, ctx) {
      let only: string | null = null;
      let verbose = false;
      while (!args.done) {
        if (args.accept('verbose')) verbose = true;
        else only = interfaceArg(args, ctx).name;
      }
      return showNeighbors(ctx.dp, verbose, only, 6);
    },
  });
}
