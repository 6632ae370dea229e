/** Commands that create and configure interfaces, with VPP's syntax. */
import { wrap } from './dataplane-call.js';
import { CLASS_E_REASON, formatMac, isClassE, parseIpv4Prefix, parseMac } from '../wire/address.js';
import { parseIpv6Prefix } from '../wire/ipv6-address.js';
import { type Args, CommandError, type CommandRegistry } from './registry.js';
import type { CliContext } from './context.js';


/** Most RX queues (AF_PACKET sockets in one fanout group) an interface may have. */
export const MAX_RX_QUEUES = 64;

function interfaceName(args: Args, ctx: CliContext): string {
  const name = args.next(`interface name (interfaces: ${ctx.dp.interfaces.map((s) => s.name).join(', ') || 'none yet'})`);
  return wrap(() => ctx.dp.get(name)).name;
}

function macArg(args: Args): Buffer {
  const text = args.next('MAC address (e.g. c6:b4:b5:74:11:88)');
  const mac = parseMac(text);
  if (mac === null) throw new CommandError(`\`${text}' is not a MAC address (expected e.g. c6:b4:b5:74:11:88)`);
  if ((mac[0] & 1) === 1) throw new CommandError(`${formatMac(mac)} is a multicast address; an interface needs a unicast MAC`);
  return mac;
}

export function registerInterfaceCommands(registry: CommandRegistry<CliContext>): void {
  registry.register({
    path: 'create host-interface',
    help: 'create host-interface name <ifname> [hw-addr <mac>] [num-rx-queues <n>] [num-tx-queues <n>]',
    run(args, ctx) {
      let ifname: string | undefined;
      let mac: Buffer | undefined;
      let rxQueues = 1;
      let txQueues: number | null = null;
      while (!args.done) {
        const key = args.oneOf('option', ['name', 'hw-addr', 'num-rx-queues', 'num-tx-queues']);
        if (key === 'name') ifname = args.next('host interface name');
        else if (key === 'num-rx-queues') rxQueues = args.integer('number of RX queues', 1, MAX_RX_QUEUES);
        // VPP: thread j sends on TX queue j % n, threads beyond n share one under a spin lock. Here
        // every thread always sends through a socket of its own (VPP with n = threads): the value
        // is kept for show hardware-interfaces, which says so.
        else if (key === 'num-tx-queues') txQueues = args.integer('number of TX queues', 1, MAX_RX_QUEUES + 1);
        else mac = macArg(args);
      }
      if (ifname === undefined) throw new CommandError('missing name <ifname> (the kernel interface to attach to, e.g. macvlan0)');
      if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(ifname)) throw new CommandError(`\`${ifname}' is not a valid Linux interface name`);
      try {
        return wrap(() => ctx.dp.createHostInterface(ifname!, mac, rxQueues, txQueues));
      } catch (err) {
        const e = err as { code?: string; message: string };
        if (err instanceof CommandError) throw err;
        throw new CommandError(e.message);
      }
    },
  });

  registry.register({
    path: 'create sub-interfaces',
    help: 'create sub-interfaces <interface> <subId> [dot1q <vlanId> [exact-match]]',
    run(args, ctx) {
      const parent = interfaceName(args, ctx);
      const subId = args.integer('sub-interface id', 1, 4294967295);
      let vlanId = subId;
      if (args.accept('dot1q')) {
        vlanId = args.integer('VLAN ID', 1, 4094);
        args.accept('exact-match');
      } else if (subId > 4094) {
        throw new CommandError(`VLAN ID ${subId} is out of range (valid: 1-4094)`);
      }
      args.end();
      return wrap(() => ctx.dp.createSubInterface(parent, subId, vlanId));
    },
  });

  registry.register({
    path: 'set interface state',
    help: 'set interface state <interface> up|down',
    run(args, ctx) {
      const name = interfaceName(args, ctx);
      const state = args.oneOf('state', ['up', 'down']);
      args.end();
      wrap(() => ctx.dp.setAdminState(name, state === 'up'));
    },
  });

  registry.register({
    path: 'set interface mac address',
    help: 'set interface mac address <interface> <mac-address>',
    run(args, ctx) {
      const name = interfaceName(args, ctx);
      const mac = macArg(args);
      args.end();
      wrap(() => ctx.dp.setMac(name, mac));
    },
  });

  registry.register({
    path: 'set interface ip address',
    help: 'set interface ip address [del] <interface> <ip4-or-ip6-address>/<prefix-length> | [del] <interface> all',
    run(args, ctx) {
      const del = args.accept('del');
      const name = interfaceName(args, ctx);
      const text = args.next('address/prefix-length (e.g. 192.168.123.150/24 or 2001:db8:123::150/64)');
      if (del && text === 'all') {
        const sw = ctx.dp.get(name);
        for (const a of [...sw.addresses]) ctx.dp.deleteAddress(name, a);
        for (const a of [...(sw.ip6?.addresses ?? [])]) ctx.dp.deleteAddress6(name, a);
        return;
      }
      const prefix = parseIpv4Prefix(text);
      if (prefix !== null) {
        args.end();
        if (!del && isClassE(prefix.address)) throw new CommandError(`\`${text}' ${CLASS_E_REASON}: use another interface address`);
        wrap(() => (del ? ctx.dp.deleteAddress(name, prefix) : ctx.dp.addAddress(name, prefix)));
        return;
      }
      const prefix6 = parseIpv6Prefix(text);
      if (prefix6 === null) {
        throw new CommandError(`\`${text}' is not an IPv4 or IPv6 address with prefix length (expected e.g. 192.168.123.150/24 or 2001:db8:123::150/64)`);
      }
      args.end();
      wrap(() => (del ? ctx.dp.deleteAddress6(name, prefix6) : ctx.dp.addAddress6(name, prefix6)));
    },
  });

  registry.register({
    path: 'set interface l2 xconnect',
    help: 'set interface l2 xconnect <rx-interface> <tx-interface>',
    run(args, ctx) {
      const rx = interfaceName(args, ctx);
      const tx = interfaceName(args, ctx);
      args.end();
      wrap(() => ctx.dp.setXconnect(rx, tx));
    },
  });

  registry.register({
    path: 'set interface l3',
    help: 'set interface l3 <interface>',
    run(args, ctx) {
      const name = interfaceName(args, ctx);
      args.end();
      ctx.dp.clearXconnect(name);
    },
  });

  registry.register({
    path: 'set interface l2 tag-rewrite',
    help: 'set interface l2 tag-rewrite <interface> pop 1 | push dot1q <vlanId> | disable',
    run(args, ctx) {
      const name = interfaceName(args, ctx);
      const op = args.oneOf('operation', ['pop', 'push', 'disable']);
      if (op === 'disable') {
        args.end();
        wrap(() => ctx.dp.setTagRewrite(name, null));
      } else if (op === 'pop') {
        const n = args.integer('number of tags to pop', 1, 1);
        args.end();
        wrap(() => ctx.dp.setTagRewrite(name, { op: 'pop', count: n as 1 }));
      } else {
        args.oneOf('tag type', ['dot1q']);
        const vlanId = args.integer('VLAN ID', 1, 4094);
        args.end();
        wrap(() => ctx.dp.setTagRewrite(name, { op: 'push', vlanId }));
      }
    },
  });
}
