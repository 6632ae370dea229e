/**
 * VPP's tracing commands: `trace add`, `show trace`, `clear trace` (per-packet, per-node trace)
 * and `pcap trace` (frames at rx, tx and drop into a pcap file in /tmp, written on `off`).
 */
import { performance } from 'node:perf_hooks';
import { wrap } from './dataplane-call.js';
import { DEFAULT_SHOW_MAX, MAX_TRACE_RECORDS, TRACE_INPUT_NODES, type PacketTracer } from '../dataplane/trace.js';
import {
  defaultPcapFileName,
  PCAP_DEFAULT_BYTES_PER_PACKET,
  PCAP_DEFAULT_MAX,
  PCAP_DIRECTORY,
  PCAP_MAX_BYTES_PER_PACKET,
  pcapFileNameProblem,
  PcapTrace,
  type PcapTraceOptions,
} from '../dataplane/pcap-trace.js';
import type { PacketCapture } from '../dataplane/context.js';
import type { CliContext } from './context.js';
import { type Args, CommandError, type CommandRegistry } from './registry.js';

/** What these commands need of the dataplane. */
export interface TraceHost {
  readonly tracer: PacketTracer;
  pcap: PacketCapture | null;
  graphNodes(): readonly { readonly name: string }[];
  find(name: string): { readonly index: number; readonly name: string; readonly isSub: boolean; readonly hw: { readonly name: string } } | undefined;
}

function host(ctx: CliContext): TraceHost {
  return ctx.dp;
}

/** The running `pcap trace`, if the CLI started one. */
function running(dp: TraceHost): PcapTrace | null {
  return dp.pcap instanceof PcapTrace ? dp.pcap : null;
}


/** A count word: a non-negative integer up to `max`, else VPP-style "expected" error. */
function count(args: Args, what: string, min: number, max: number): number {
  const w = args.next(`${what} (an integer ${min}-${max})`);
  if (!/^\d+$/.test(w) || Number(w) < min || Number(w) > max) throw new CommandError(`${what} \`${w}' is not valid (expected an integer ${min}-${max})`);
  return Number(w);
}

function traceAdd(args: Args, ctx: CliContext): string | void {
  const dp = host(ctx);
  if (args.done) throw new CommandError(`expected NODE COUNT, got \`' (input nodes: ${TRACE_INPUT_NODES.join(', ')})`);
  const node = args.next('node');
  const known = dp.graphNodes().map((n) => n.name);
  if (!known.includes(node) && !TRACE_INPUT_NODES.includes(node)) {
    throw new CommandError(`unknown node \`${node}' (trace add takes an input node: ${TRACE_INPUT_NODES.join(', ')})`);
  }
  const n = count(args, 'count', 0, 0x7fffffff);
  if (!args.done) {
    const w = args.peek()!;
    if (w === 'filter' || w === 'verbose') throw new CommandError(`\`${w}' is not supported (trace add <input-node> <count>)`);
    args.end();
  }
  const tracer = dp.tracer;
  const room = tracer.room;
  wrap(() => tracer.add(node, n));
  if (n > room) {
    return `the trace buffer holds at most ${MAX_TRACE_RECORDS} packets: tracing ${room} more, not ${n} ('clear trace' frees it)`;
  }
}

interface PcapRequest {
  off: boolean;
  status: boolean;
  options: PcapTraceOptions;
  interfaceName: string | null;
  fileGiven: boolean;
}

/** Words `pcap trace` parses; VPP's filter, preallocate-data, free-data and error are not among them. */
const PCAP_KEYWORDS = ['rx', 'tx', 'drop', 'off', 'status', 'max', 'packets-to-capture', 'max-bytes-per-pkt', 'intfc', 'interface', 'file'];

function parsePcap(args: Args, ctx: CliContext): PcapRequest {
  const options: PcapTraceOptions = {
    rx: false,
    tx: false,
    drop: false,
    max: PCAP_DEFAULT_MAX,
    maxBytesPerPacket: PCAP_DEFAULT_BYTES_PER_PACKET,
    swIndex: 0,
    file: '',
  };
  const req: PcapRequest = { off: false, status: false, options, interfaceName: null, fileGiven: false };
  let fileName = '';
  while (!args.done) {
    const w = args.peek()!.toLowerCase();
    if (!PCAP_KEYWORDS.includes(w)) {
      try {
        args.end();
      } catch (err) {
        throw new CommandError(`${(err as Error).message} (valid: rx, tx, drop, off, status, max <n>, intfc <interface>|any, file <name>, max-bytes-per-pkt <n>)`);
      }
    }
    args.next('option');
    switch (w) {
      case 'rx':
      case 'tx':
      case 'drop':
        options[w] = true;
        break;
      case 'off':
        req.off = true;
        break;
      case 'status':
        req.status = true;
        break;
      case 'max':
      case 'packets-to-capture':
        options.max = count(args, w, 1, 0x7fffffff);
        break;
      case 'max-bytes-per-pkt': {
        const v = args.next(`max-bytes-per-pkt (32-${PCAP_MAX_BYTES_PER_PACKET})`);
        if (!/^\d+$/.test(v)) throw new CommandError(`max-bytes-per-pkt \`${v}' is not a number`);
        options.maxBytesPerPacket = Number(v);
        break;
      }
      case 'intfc':
      case 'interface': {
        const name = args.next('interface name or any');
        if (name === 'any') {
          options.swIndex = 0;
          req.interfaceName = null;
          break;
        }
        const sw = host(ctx).find(name);
        if (sw === undefined) throw new CommandError(`unknown interface \`${name}'`);
        options.swIndex = sw.index;
        req.interfaceName = sw.name;
        break;
      }
      case 'file': {
        fileName = args.next(`file name (a plain name; the file goes to ${PCAP_DIRECTORY})`);
        const problem = pcapFileNameProblem(fileName);
        if (problem !== null) {
          throw new CommandError(`file name \`${fileName}' ${problem}: pcap trace writes only to ${PCAP_DIRECTORY}; give a plain name such as t.pcap`);
        }
        req.fileGiven = true;
        break;
      }
      default:
        throw new CommandError(`\`${w}' is not supported`);
    }
  }
  options.file = `${PCAP_DIRECTORY}/${req.fileGiven ? fileName : defaultPcapFileName(options)}`;
  return req;
}

function pcapTrace(args: Args, ctx: CliContext, wallClock: () => number): string {
  const dp = host(ctx);
  if (args.done) throw new CommandError('specify rx, tx, drop, off or status (pcap trace [rx] [tx] [drop] [off] [max <n>] [intfc <interface>|any] [file <name>] [status] [max-bytes-per-pkt <n>])');
  const req = parsePcap(args, ctx);
  const o = req.options;
  const enable = o.rx || o.tx || o.drop;
  if (req.status) {
    if (enable || req.off) throw new CommandError('status cannot be combined with rx, tx, drop or off');
    const current = running(dp);
    return current === null ? 'pcap dispatch capture disabled' : current.status();
  }
  if (req.off) {
    if (enable) throw new CommandError('off cannot be combined with rx, tx or drop');
    const capture = running(dp);
    if (capture === null) throw new CommandError('dispatch trace already disabled...');
    dp.pcap = null;
    const message = wrap(() => capture.finish());
    if (capture.captured === 0) throw new CommandError(message);
    return message;
  }
  if (!enable) throw new CommandError('specify rx, tx and/or drop to capture (or off, status)');
  const current = running(dp);
  if (current !== null) throw new CommandError(`dispatch trace already enabled... (capturing to ${current.options.file}; 'pcap trace off' first)`);
  const capture = wrap(() => new PcapTrace(o, wallClock));
  dp.pcap = capture;
  const sw = req.interfaceName !== null ? dp.find(req.interfaceName) : undefined;
  if (o.rx && sw !== undefined && sw.isSub) {
    return `note: rx frames are matched on their hardware interface (as in VPP): rx on ${sw.name} captures nothing; use intfc ${sw.hw.name}`;
  }
  return '';
}

export interface TraceCommandOptions {
  /** Wall clock in ms since the epoch (with µs fractions) for pcap timestamps. */
  wallClock?: () => number;
}

const defaultWallClock = (): number => performance.timeOrigin + performance.now();

export function registerTraceCommands(registry: CommandRegistry<CliContext>, options: TraceCommandOptions = {}): void {
  const wallClock = options.wallClock ?? defaultWallClock;
  registry.register({
    path: 'trace add',
    help: 'trace add <input-graph-node> <add\'l-pkts-for-node->',
    run: traceAdd,
  });
  registry.register({
    path: 'show trace',
    help: 'show trace [max COUNT]',
    run(args, ctx) {
      let max = DEFAULT_SHOW_MAX;
      if (!args.done) {
        if (!args.accept('max')) throw new CommandError(`unknown input \`${args.words.join(' ')}' (show trace [max COUNT])`);
        max = count(args, 'max', 1, 0x7fffffff);
      }
      args.end();
      return host(ctx).tracer.show(max);
    },
  });
  registry.register({
    path: 'clear trace',
    help: 'clear trace: clear trace buffer and free memory',
    run(args, ctx) {
      args.end();
      host(ctx).tracer.clear();
    },
  });
  registry.register({
    path: 'pcap trace',
    help: 'pcap trace [rx] [tx] [drop] [off] [max <nn>] [intfc <interface>|any] [file <name>] [status] [max-bytes-per-pkt <nnnn>]',
    run: (args, ctx) => pcapTrace(args, ctx, wallClock),
  });
}
