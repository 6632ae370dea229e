/**
 * IPv4 routing and neighbours, VPP's syntax and layouts: `ip route add|del`, `show ip fib`,
 * `set ip neighbor`, `show ip neighbors [verbose]`.
 */
import { wrap } from './dataplane-call.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { FibEntry } from '../dataplane/fib.js';
import type { SwInterface } from '../dataplane/interface.js';
import { l2Length } from '../dataplane/interface-output.js';
import { NUD_NAMES, NudState, type Neighbor } from '../dataplane/neighbor.js';
import { CLASS_E_REASON, formatIpv4, formatMac, isClassE, parseIpv4, parseIpv4Prefix, parseMac } from '../wire/address.js';
import { ETHERTYPE_IPV4, writeEthernet, writeEthernetVlan } from '../wire/ethernet.js';
import { formatIpv6, parseIpv6, parseIpv6Prefix, type Ipv6Prefix } from '../wire/ipv6-address.js';
import type { CliContext } from './context.js';
import { type Args, CommandError, type CommandRegistry } from './registry.js';
import { centre, vppFixed } from './vpp-format.js';


function ipv4Arg(args: Args, what: string): number {
  const text = args.next(`${what} (e.g. 192.168.123.1)`);
  const ip = parseIpv4(text);
  if (ip === null) throw new CommandError(`\`${text}' is not an IPv4 address (${what}, e.g. 192.168.123.1)`);
  return ip;
}

type Route =
  | { family: 4; del: boolean; prefix: { address: number; prefixLength: number }; via: number | null; ifname: string | null }
  | { family: 6; del: boolean; prefix: Ipv6Prefix; via: Buffer | null; ifname: string | null };

/** `ip route [add|del] <prefix>/<len> via <next-hop> [<interface>]` (VPP's order; `add` is the default), IPv4 or IPv6. */
function parseRoute(args: Args, ctx: CliContext): Route {
  let del = false;
  if (args.accept('add')) del = false;
  else if (args.accept('del')) del = true;
  const text = args.next('destination prefix (e.g. 0.0.0.0/0 or ::/0)');
  const prefix4 = parseIpv4Prefix(text);
  const prefix6 = prefix4 === null ? parseIpv6Prefix(text) : null;
  if (prefix4 === null && prefix6 === null) throw new CommandError(`\`${text}' is not an IPv4 or IPv6 prefix (expected e.g. 0.0.0.0/0, 10.0.0.0/8 or ::/0)`);
  let via: number | Buffer | null = null;
  let ifname: string | null = null;
  if (!args.done) {
    if (!args.accept('via')) throw new CommandError(`unknown input \`${args.peek()}' (expected via <next-hop> [<interface>])`);
    if (prefix4 !== null) via = ipv4Arg(args, 'next hop');
    else {
      const hop = args.next('next hop (e.g. fe80::1)');
      via = parseIpv6(hop);
      if (via === null) throw new CommandError(`\`${hop}' is not an IPv6 address (next hop, e.g. fe80::1 or 2001:db8:123::1)`);
    }
    if (!args.done) {
      const name = args.next('interface');
      const sw = ctx.dp.find(name);
      if (sw === undefined) {
        const known = ctx.dp.interfaces.map((s) => s.name).join(', ') || 'none yet';
        throw new CommandError(`unknown interface \`${name}' (interfaces: ${known})`);
      }
      ifname = sw.name;
    }
  } else if (!del) {
    throw new CommandError('missing via <next-hop> [<interface>] (e.g. ip route add 0.0.0.0/0 via 192.168.123.1 host-macvlan0.123, or ::/0 via fe80::1 host-macvlan0.123)');
  }
  args.end();
  if (prefix4 !== null && !del) {
    // A route inside 240.0.0.0/4 (or via it) could never carry a packet: refused, not silently dead.
    if (prefix4.prefixLength >= 4 && isClassE(prefix4.address)) throw new CommandError(`\`${text}' ${CLASS_E_REASON}: no route can be added there`);
    if (typeof via === 'number' && isClassE(via)) throw new CommandError(`next hop ${formatIpv4(via)} ${CLASS_E_REASON}`);
  }
  if (prefix4 !== null) return { family: 4, del, prefix: prefix4, via: via as number | null, ifname };
  return { family: 6, del, prefix: prefix6!, via: via as Buffer | null, ifname };
}

// ---- show ip fib ------------------------------------------------------------------------

function pathLine(dp: Dataplane, e: FibEntry): string {
  switch (e.source) {
    case 'local':
      return `[@2]: dpo-receive: ${formatIpv4(e.prefix)} on ${e.sw!.name}`;
    case 'drop':
      return '[@0]: dpo-drop ip4';
    case 'connected':
      return `[@4]: ipv4-glean: [src:${formatIpv4(e.prefix)}/${e.length}] ${e.sw!.name}: mtu:${e.sw!.mtu} flags:[] ${rewriteHex(e.sw!, null)}`;
    default: {
      if (e.sw === null) return `[@0]: dpo-drop ip4 (next hop ${formatIpv4(e.via)} is on no connected prefix)`;
      const n = dp.neighbors.lookup(e.sw, e.via);
      if (n === undefined || !n.usable) return `[@3]: arp-ipv4: via ${formatIpv4(e.via)} ${e.sw.name}`;
      return `[@5]: ipv4 via ${formatIpv4(e.via)} ${e.sw.name}: mtu:${e.sw.mtu} flags:[] ${rewriteHex(e.sw, n.mac)}`;
    }
  }
}

/** The L2 header we would write (VPP prints its rewrite string): dst, src, tag, EtherType. */
export function rewriteHex(sw: SwInterface, dst: Buffer | null, type = ETHERTYPE_IPV4): string {
  const b = Buffer.alloc(l2Length(sw));
  const to = dst ?? Buffer.alloc(6, 0xff);
  if (sw.isSub) writeEthernetVlan(b, 0, to, sw.mac, sw.vlanId, type);
  else writeEthernet(b, 0, to, sw.mac, type);
  return b.toString('hex');
}

export function showIpFib(dp: Dataplane, only: { address: number; prefixLength: number } | null): string {
  const entries = dp.fib.entries();
  const hasDefault = entries.some((e) => e.prefix === 0 && e.length === 0);
  // VPP's table locks: the adjacency source per connected prefix, and the default route's.
  const locks = [`adjacency:${entries.filter((e) => e.source === 'connected').length}`, 'default-route:1'];
  const lines = [`ipv4-VRF:0, fib_index:0, flow hash:[src dst sport dport proto flowlabel ] epoch:${dp.fib.epoch} flags:none locks:[${locks.map((l) => `${l}, `).join('')}]`];
  const rows: Array<{ prefix: number; length: number; path: string; to: string }> = [];
  if (!hasDefault) rows.push({ prefix: 0, length: 0, path: '[@0]: dpo-drop ip4', to: '0:0' });
  for (const e of entries) rows.push({ prefix: e.prefix, length: e.length, path: pathLine(dp, e), to: `${e.packets}:${e.bytes}` });
  rows.sort((a, b) => a.prefix - b.prefix || a.length - b.length);
  for (const r of rows) {
    if (only !== null && !(r.prefix === only.address >>> 0 && r.length === only.prefixLength)) continue;
    lines.push(`${formatIpv4(r.prefix)}/${r.length}`, '  unicast-ip4-chain', `  [@0]: dpo-load-balance: [proto:ip4 buckets:1 to:[${r.to}]]`, `    [0] ${r.path}`);
  }
  return lines.join('\n');
}

// ---- show ip neighbors --------------------------------------------------------------------

function flags(n: Neighbor): string {
  if (n.state === NudState.Permanent) return 'S';
  // VPP shows no NUD states; P (pending) marks an entry still resolving. `verbose` shows the state.
  if (n.state === NudState.Incomplete || n.state === NudState.Failed) return 'DP';
  return 'D';
}

/** `show ip neighbors` (both families, as VPP's) or `show ip6 neighbors` (family 6). */
export function showNeighbors(dp: Dataplane, verbose: boolean, only: string | null, family: 4 | 6 | 0 = 0): string {
  const now = dp.now();
  const tables = family === 4 ? [dp.neighbors] : family === 6 ? [dp.neighbors6] : [dp.neighbors, dp.neighbors6];
  const all = tables.flatMap((t) => t.all()).filter((n) => only === null || n.sw.name === only);
  const lines: string[] = [];
  // VPP prints the header only when there are entries.
  if (all.length > 0) {
    let header = `${centre('Age', 12)}${centre('IP', 40)}${centre('Flags', 6)}${centre('Ethernet', 20)}${centre('Interface', 24)}`;
    if (verbose) header += `${'State'.padEnd(12)}${'Probes'.padEnd(8)}${'Confirmed'.padEnd(12)}Held`;
    lines.push(header); // VPP's %=24s leaves the trailing spaces
  }
  for (const n of all) {
    const age = vppFixed((now - n.updated) / 1000, 4).padStart(12);
    const mac = n.state === NudState.Incomplete ? '00:00:00:00:00:00' : formatMac(n.mac);
    let row = `${centre(age, 12)}${centre(n.ip6 !== null ? formatIpv6(n.ip6) : formatIpv4(n.ip), 40)}${centre(flags(n), 6)}${centre(mac, 20)}${n.sw.name}`;
    if (verbose) {
      const confirmed = n.confirmed > 0 ? `${vppFixed((now - n.confirmed) / 1000, 1)}s ago` : 'never';
      row = `${row.padEnd(102)}${NUD_NAMES[n.state].padEnd(12)}${String(n.probes).padEnd(8)}${confirmed.padEnd(12)}${n.held.length}`;
    }
    lines.push(row);
  }
  for (const table of tables) {
    if (table.refused > 0) lines.push(`${table.family === 6 ? 'ip6 ' : ''}table full (${table.maxEntries} entries): ${table.refused} new neighbours not learnt`);
  }
  return lines.join('\n');
}

export function registerIpCommands(registry: CommandRegistry<CliContext>): void {
  registry.register({
    path: 'ip route',
    help: 'ip route [add|del] <dst-ip-addr>/<width> via <next-hop-address> [<next-hop-interface>] (IPv4 or IPv6)',
    run(args, ctx) {
      const r = parseRoute(args, ctx);
      if (r.family === 4) wrap(() => (r.del ? ctx.dp.deleteRoute(r.prefix, r.via, r.ifname) : ctx.dp.addRoute(r.prefix, r.via!, r.ifname)));
      else wrap(() => (r.del ? ctx.dp.deleteRoute6(r.prefix, r.via, r.ifname) : ctx.dp.addRoute6(r.prefix, r.via!, r.ifname)));
    },
  });

  registry.register({
    path: 'show ip fib',
    help: 'show ip fib [<ip4-addr>/<mask>]',
    run(args, ctx) {
      let only = null;
      if (!args.done) {
        const text = args.next('prefix');
        only = parseIpv4Prefix(text);
        if (only === null) {
          // An address alone: the entry a lookup finds for it, as VPP does.
          const addr = parseIpv4(text);
          const e = addr === null ? undefined : ctx.dp.fib.lookup(addr);
          if (addr === null) throw new CommandError(`\`${text}' is not an IPv4 address or prefix (expected e.g. 192.168.123.10 or 192.168.123.0/24)`);
          only = e !== undefined ? { address: e.prefix, prefixLength: e.length } : { address: 0, prefixLength: 0 };
        }
      }
      args.end();
      return showIpFib(ctx.dp, only);
    },
  });

  registry.register({
    path: 'set ip neighbor',
    help: 'set ip neighbor [del] <interface> <ip4-or-ip6-address> <mac-address> [static]',
    run(args, ctx) {
      const del = args.accept('del') || args.accept('delete');
      const name = args.next(`interface (interfaces: ${ctx.dp.interfaces.map((s) => s.name).join(', ') || 'none yet'})`);
      const sw = wrap(() => ctx.dp.get(name));
      const ipText = args.next('neighbour address (e.g. 192.168.123.1 or fe80::1)');
      const ip4 = parseIpv4(ipText);
      const ip6 = ip4 === null ? parseIpv6(ipText) : null;
      if (ip4 === null && ip6 === null) throw new CommandError(`\`${ipText}' is not an IPv4 or IPv6 address (neighbour address, e.g. 192.168.123.1 or fe80::1)`);
      if (del) {
        // VPP takes (and ignores) the MAC on delete too.
        if (!args.done && parseMac(args.peek()!) !== null) args.next('mac');
        args.end();
        wrap(() => (ip4 !== null ? ctx.dp.deleteNeighbor(sw.name, ip4) : ctx.dp.deleteNeighbor6(sw.name, ip6!)));
        return;
      }
      const text = args.next('MAC address (e.g. 52:54:00:12:34:56)');
      const mac = parseMac(text);
      if (mac === null) throw new CommandError(`\`${text}' is not a MAC address (expected e.g. 52:54:00:12:34:56)`);
      if ((mac[0] & 1) === 1) throw new CommandError(`${formatMac(mac)} is a multicast address; a neighbour has a unicast MAC`);
      const isStatic = args.accept('static');
      args.end();
      wrap(() => (ip4 !== null ? ctx.dp.setNeighbor(sw.name, ip4, mac, isStatic) : ctx.dp.setNeighbor6(sw.name, ip6!, mac, isStatic)));
    },
  });

  registry.register({
    path: 'show ip neighbors',
    help: 'show ip neighbors [<interface>] [verbose]',
    run(args, ctx) {
      let only: string | null = null;
      let verbose = false;
      while (!args.done) {
        if (args.accept('verbose')) verbose = true;
        else {
          const name = args.next('interface');
          only = wrap(() => ctx.dp.get(name)).name;
        }
      }
      return showNeighbors(ctx.dp, verbose, only);
    },
  });
}
