/**
 * `ping <address> [source <interface>] [repeat <n>] [interval <s>] [size <n>]` from the
 * dataplane, with VPP's output layout (src/plugins/ping/ping.c): one line per reply, a blank
 * line, then the statistics. The command is asynchronous: it sends one request per interval and
 * collects replies until one interval after the last request, then answers.
 *
 * Unlike VPP, "N bytes from" counts the IPv4 header once: it is the reply's IPv4 total length.
 */
import { formatIpv4, parseIpv4 } from '../wire/address.js';
import type { CliContext } from './context.js';
import { type Args, CommandError, type CommandRegistry } from './registry.js';

export type EchoSendResult = 'sent' | 'no-route' | 'no-source-address';
export type EchoReplyHandler = (src: number, id: number, seq: number, ttl: number, icmpBytes: number) => void;

/** The dataplane's ICMP echo service (dp.icmp). */
export interface EchoService {
  sendEcho(dst: number, id: number, seq: number, dataBytes: number, sourceSwName?: string): EchoSendResult;
  onEchoReply: EchoReplyHandler | null;
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
const dispatchers = new WeakMap<EchoService, { table: Map<number, EchoReplyHandler>; handler: EchoReplyHandler }>();

function register(icmp: EchoService, preferredId: number, handler: EchoReplyHandler): number {
  let d = dispatchers.get(icmp);
  if (d === undefined) {
    const table = new Map<number, EchoReplyHandler>();
    d = { table, handler: (src, id, seq, ttl, bytes) => table.get(id)?.(src, id, seq, ttl, bytes) };
    dispatchers.set(icmp, d);
  }
  // Installed again if something replaced it (the dataplane was rebuilt, a test reset it).
  if (icmp.onEchoReply !== d.handler) icmp.onEchoReply = d.handler;
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
  const id = register(host.icmp, nextId, (src, _id, seq, ttl, icmpBytes) => {
    const t0 = sentAt.get(seq);
    if (t0 === undefined) return; // not one of ours (an old id's late reply)
    const dup = answered.has(seq);
    answered.add(seq);
    const rtt = formatVppFloat(host.now() - t0, 4);
    lines.push(`${IPV4_HEADER_LEN + icmpBytes} bytes from ${formatIpv4(src)}: icmp_seq=${seq} ttl=${ttl} time=${rtt} ms${dup ? ' (DUP!)' : ''}`);
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
        r = host.icmp.sendEcho(req.dst, id, seq, req.size, req.source);
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

/** Parses `ping`'s arguments (VPP's keywords; IPv6, burst and table-id other than 0 are not supported). */
export function parsePing(args: Args, host: Pick<PingHost, 'find' | 'interfaces'>): PingRequest {
  let dst: number | null = null;
  const req: PingRequest = { dst: 0, repeat: PING_DEFAULTS.repeat, intervalMs: PING_DEFAULTS.intervalMs, size: PING_DEFAULTS.size };
  const maxMtu = Math.max(1500, ...host.interfaces.map((s) => s.mtu));
  const maxSize = maxMtu - IPV4_HEADER_LEN - ICMP_ECHO_HEADER_LEN;
  const address = (w: string): number => {
    const ip = parseIpv4(w);
    if (ip !== null) return ip;
    if (w.includes(':')) throw new CommandError(`\`${w}': IPv6 ping is not supported (ping <ipv4-address>)`);
    throw new CommandError(`\`${w}' is not an IPv4 address (ping <address> [source <interface>] [repeat <n>] [interval <s>] [size <n>])`);
  };
  while (!args.done) {
    const w = args.next('argument');
    switch (w.toLowerCase()) {
      case 'ipv4':
        dst = address(args.next('IPv4 address'));
        break;
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
  req.dst = dst;
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
    help: 'ping <ip-addr> [source <interface>] [size <pktsize:60>] [interval <sec:1>] [repeat <cnt:5>]',
    run(args, ctx) {
      const host: PingHost = ctx.dp;
      return runPing(host, parsePing(args, host), sleep, ctx.session?.signal);
    },
  });
}
