/**
 * `ping <address> [source <interface>] [repeat <n>] [interval <s>] [size <n>]` from the
 * dataplane, with VPP's output layout (src/plugins/ping/ping.c): one line per reply, a blank
 * line, then the statistics. The command is asynchronous: it sends one request per interval and
 * collects replies until one interval after the last request, then answers.
 *
 * Unlike VPP, "N bytes from" counts the IPv4 header once: it is the reply's IPv4 total length.
 * For IPv6 it is the reply's payload length, as in VPP (`ping 2001:db8::1` or `ping ipv6 …`; a
 * link-local destination needs `source <interface>`).
 */
import { formatIpv4, parseIpv4 } from '../wire/address.js';
import { formatIpv6, parseIpv6 } from '../wire/ipv6-address.js';
import type { CliContext } from './context.js';
import { type Args, CommandError, type CommandRegistry } from './registry.js';

export type EchoSendResult = 'sent' | 'no-route' | 'no-source-address';
export type EchoReplyHandler = (src: number, id: number, seq: number, ttl: number, icmpBytes: number) => void;
export type Echo6ReplyHandler = (src: Buffer, srcOff: number, id: number, seq: number, hopLimit: number, icmpBytes: number) => void;

/** The dataplane's ICMP echo service (dp.icmp), IPv4 and IPv6. */
export interface EchoService {
  sendEcho(dst: number, id: number, seq: number, dataBytes: number, sourceSwName?: string): EchoSendResult;
  onEchoReply: EchoReplyHandler | null;
  sendEcho6(dst: Buffer, id: number, seq: number, dataBytes: number, sourceSwName?: string): EchoSendResult;
  onEchoReply6: Echo6ReplyHandler | null;
}

/** What `ping` needs of the dataplane. */
export interface PingHost {
  readonly icmp: EchoService;
  /** The dataplane's monotonic clock, ms. */
  now(): number;
  find(name: string): { readonly name: string; readonly mtu: number } | undefined;
  readonly interfaces: readonly { readonly mtu: number }[];
}

export interface PingRequest {
  dst: number;
  /** An IPv6 destination (then `dst` is unused). */
  dst6?: Buffer;
  source?: string;
  repeat: number;
  intervalMs: number;
  /** ICMP data bytes after the 8-byte echo header. */
  size: number;
}

export const PING_DEFAULTS = { repeat: 5, intervalMs: 1000, size: 60 } as const;
const IPV4_HEADER_LEN = 20;
const ICMP_ECHO_HEADER_LEN = 8;

/** VPP's float formatting with a precision: no leading zero below 1 (`.2851`). */
export function formatVppFloat(x: number, digits: number): string {
  const s = x.toFixed(digits);
  if (s.startsWith('0.')) return s.slice(1);
  if (s.startsWith('-0.')) return `-${s.slice(2)}`;
  return s;
}

const FAILURES: Record<Exclude<EchoSendResult, 'sent'>, string> = {
  'no-route': 'no egress interface',
  'no-source-address': 'no source address for egress interface',
};

/**
 * Replies are handed to the ping that owns their ICMP id. One dispatcher per echo service, so
 * that pings in several CLI sessions run at once.
 */
/** A reply as ping sees it: the source as text (formatted only for our own pings' replies). */
type Reply = (src: () => string, seq: number, ttl: number, icmpBytes: number) => void;

const dispatchers = new WeakMap<EchoService, { table: Map<number, Reply>; h4: EchoReplyHandler; h6: Echo6ReplyHandler }>();

function register(icmp: EchoService, preferredId: number, handler: Reply): number {
  let d = dispatchers.get(icmp);
  if (d === undefined) {
    const table = new Map<number, Reply>();
    d = {
      table,
      h4: (src, id, seq, ttl, bytes) => table.get(id)?.(() => formatIpv4(src), seq, ttl, IPV4_HEADER_LEN + bytes),
      h6: (src, off, id, seq, hopLimit, bytes) => table.get(id)?.(() => formatIpv6(src, off), seq, hopLimit, bytes),
    };
    dispatchers.set(icmp, d);
  }
  // Installed again if something replaced them (the dataplane was rebuilt, a test reset it).
  if (icmp.onEchoReply !== d.h4) icmp.onEchoReply = d.h4;
  if (icmp.onEchoReply6 !== d.h6) icmp.onEchoReply6 = d.h6;
  let id = preferredId & 0xffff;
  while (d.table.has(id)) id = (id + 1) & 0xffff; // VPP: "ICMP ID collision at %d, incrementing"
  d.table.set(id, handler);
  return id;
}

let nextId = (process.pid * 7) & 0xffff;

/**
 * Runs one ping; `sleep` waits (timers in production, a fake clock in tests) and may return
 * early once `signal` aborts (the CLI client went away): the ping then stops, as VPP's does on
 * a keypress.
 */
export async function runPing(host: PingHost, req: PingRequest, sleep: (ms: number, signal?: AbortSignal) => Promise<void>, signal?: AbortSignal): Promise<string> {
  const lines: string[] = [];
  const sentAt = new Map<number, number>();
  const answered = new Set<number>();
  let sent = 0;
  const id = register(host.icmp, nextId, (src, seq, ttl, bytes) => {
    const t0 = sentAt.get(seq);
    if (t0 === undefined) return; // not one of ours (an old id's late reply)
    const dup = answered.has(seq);
    answered.add(seq);
    const rtt = formatVppFloat(host.now() - t0, 4);
    lines.push(`${bytes} bytes from ${src()}: icmp_seq=${seq} ttl=${ttl} time=${rtt} ms${dup ? ' (DUP!)' : ''}`);
  });
  nextId = (id + 1) & 0xffff;
  try {
    for (let seq = 1; seq <= req.repeat; seq++) {
      if (signal?.aborted === true) {
        lines.push('Aborted due to a keypress.');
        break;
      }
      const t0 = host.now();
      sentAt.set(seq, t0);
      let r: EchoSendResult;
      try {
        r = req.dst6 !== undefined ? host.icmp.sendEcho6(req.dst6, id, seq, req.size, req.source) : host.icmp.sendEcho(req.dst, id, seq, req.size, req.source);
      } catch (err) {
        // The payload does not fit the egress interface (its MTU is known only after the lookup).
        if (err instanceof RangeError) throw new CommandError(err.message);
        throw err;
      }
      if (r === 'sent') sent++;
      else {
        sentAt.delete(seq);
        lines.push(`Failed: ${FAILURES[r] ?? r}`);
      }
      // VPP waits one interval after every request, the last one included.
      const wait = t0 + req.intervalMs - host.now();
      if (wait > 0) await sleep(wait, signal);
    }
  } finally {
    dispatchers.get(host.icmp)?.table.delete(id);
  }
  const received = answered.size;
  const loss = sent === 0 ? 0 : Math.trunc((100 * (sent - received)) / sent);
  const body = lines.length > 0 ? `${lines.join('\n')}\n` : '';
  return `${body}\nStatistics: ${sent} sent, ${received} received, ${loss}% packet loss\n`;
}

/** Parses `ping`'s arguments (VPP's keywords; burst and table-id other than 0 are not supported). */
export function parsePing(args: Args, host: Pick<PingHost, 'find' | 'interfaces'>): PingRequest {
  let dst: number | Buffer | null = null;
  const req: PingRequest = { dst: 0, repeat: PING_DEFAULTS.repeat, intervalMs: PING_DEFAULTS.intervalMs, size: PING_DEFAULTS.size };
  const maxMtu = Math.max(1500, ...host.interfaces.map((s) => s.mtu));
  const maxSize = maxMtu - IPV4_HEADER_LEN - ICMP_ECHO_HEADER_LEN;
  const address = (w: string): number | Buffer => {
    const ip = parseIpv4(w);
    if (ip !== null) return ip;
    const ip6 = parseIpv6(w);
    if (ip6 !== null) return ip6;
    throw new CommandError(`\`${w}' is not an IPv4 or IPv6 address (ping <address> [source <interface>] [repeat <n>] [interval <s>] [size <n>])`);
  };
  while (!args.done) {
    const w = args.next('argument');
    switch (w.toLowerCase()) {
      case 'ipv4': {
        const a = args.next('IPv4 address');
        dst = parseIpv4(a);
        if (dst === null) throw new CommandError(`\`${a}' is not an IPv4 address`);
        break;
      }
      case 'ipv6': {
        const a = args.next('IPv6 address');
        dst = parseIpv6(a);
        if (dst === null) throw new CommandError(`\`${a}' is not an IPv6 address`);
        break;
      }
      case 'source': {
        const name = args.next('interface name');
        const sw = host.find(name);
        if (sw === undefined) throw new CommandError(`unknown interface \`${name}'`);
        req.source = sw.name;
        break;
      }
      case 'repeat':
        req.repeat = intArg(args, 'repeat', 1, 1_000_000);
        break;
      case 'size': {
        const v = args.next(`size (0-${maxSize})`);
        if (!/^\d+$/.test(v)) throw new CommandError(`size \`${v}' is not valid (expected an integer 0-${maxSize})`);
        if (Number(v) > maxSize) throw new CommandError(`${v} is bigger than maximum allowed payload size ${maxSize}`);
        req.size = Number(v);
        break;
      }
      case 'interval': {
        const v = args.next('interval in seconds (e.g. 1 or 0.2)');
        if (!/^(\d+(\.\d*)?|\.\d+)$/.test(v) || Number(v) < 0.001 || Number(v) > 3600) {
          throw new CommandError(`interval \`${v}' is not valid (expected seconds, 0.001-3600)`);
        }
        req.intervalMs = Number(v) * 1000;
        break;
      }
      case 'table-id':
        if (intArg(args, 'table-id', 0, 0xffffffff) !== 0) throw new CommandError('only table-id 0 exists');
        break;
      case 'burst':
        if (intArg(args, 'burst', 1, 1) !== 1) throw new CommandError('burst size must be between 1 and 1');
        break;
      default:
        if (dst !== null) throw new CommandError(`unknown input \`${w}' (valid: source, repeat, interval, size, table-id)`);
        dst = address(w);
    }
  }
  if (dst === null) throw new CommandError('missing address (ping <address> [source <interface>] [repeat <n>] [interval <s>] [size <n>])');
  if (typeof dst === 'number') req.dst = dst;
  else {
    req.dst6 = dst;
    // IPv6's header is 40 bytes: the largest payload is 20 bytes smaller than IPv4's.
    if (req.size > maxSize - 20) throw new CommandError(`${req.size} is bigger than maximum allowed payload size ${maxSize - 20}`);
  }
  return req;
}

function intArg(args: Args, what: string, min: number, max: number): number {
  const v = args.next(`${what} (an integer ${min}-${max})`);
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new CommandError(`${what} \`${v}' is not valid (expected an integer ${min}-${max})`);
  return Number(v);
}

export interface PingCommandOptions {
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Waits `ms`, or less if `signal` aborts first. */
function timerSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function registerPingCommand(registry: CommandRegistry<CliContext>, options: PingCommandOptions = {}): void {
  const sleep = options.sleep ?? timerSleep;
  registry.register({
    path: 'ping',
    help: 'ping {<ip-addr> | ipv4 <ip4-addr> | ipv6 <ip6-addr>} [source <interface>] [size <pktsize:60>] [interval <sec:1>] [repeat <cnt:5>]',
    run(args, ctx) {
      const host: PingHost = ctx.dp;
      return runPing(host, parsePing(args, host), sleep, ctx.session?.signal);
    },
  });
}
