/**
 * The main thread's side of the worker threads (VPP's `cpu { workers <k> }`): it starts the
 * workers, places RX queues on them (round-robin, as VPP does), and dispatches every CLI and
 * startup-config line:
 *
 * - configuration (create, set, ip route, http static server, trace add, clear …) runs on the
 *   main thread's own dataplane first (it validates and holds the configuration the CLI shows),
 *   then on every worker, in order; `create host-interface` tells each worker which queues to
 *   open, queue 0's worker first (it creates the fanout group, whose id the others then join);
 * - `show errors` and `show interface` sum every thread's counters; `show runtime`, `show trace`,
 *   `show hardware-interfaces`, `show tcp stats`, `show session`, `show buffers` and the HTTP
 *   server's show print each thread in turn, under VPP's thread headers;
 * - the rest (show threads, rx-placement, ip fib, ip neighbors, ping, pcap trace …) runs on the
 *   main thread only.
 *
 * The main thread reads no RX queue; it sends (ping, gratuitous ARP) through a send-only socket.
 */
import { BroadcastChannel, Worker, type WorkerOptions } from 'node:worker_threads';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { execute, type ExecuteResult, type LineExecutor } from '../cli/cli.js';
import type { CliContext } from '../cli/context.js';
import { tokenize, type CommandRegistry } from '../cli/registry.js';
import { errorRows, formatErrors, type ErrorRow } from '../cli/show-commands.js';
import { QueuePlacer, threadName, type QueuePlacement, type ThreadInfo, type ThreadView } from '../cli/threads.js';
import type { EngineConfig } from '../cli/vpp-conf.js';
import { tcpOptionsOf, type Engine } from '../engine.js';
import { resolveMemoryConfig } from '../cli/memory-conf.js';
import { PcapTrace } from '../dataplane/pcap-trace.js';
import type { RxMode } from '../io/device.js';
import type { Logger } from '../log.js';
import { SharedLimits, sourceCapacityFor } from '../tcp/shared-limits.js';
import { DEFAULT_OPTIONS as DEFAULT_TCP_OPTIONS } from '../tcp/types.js';
import { WORKER_RESOURCE_LIMITS } from './heap-limits.js';
import type { CounterSnapshot, FromWorker, OpenPlan, SharedNeighbor, ToWorker, WorkerData } from './protocol.js';

/** Shows printed once per thread, under a thread header. */
const PER_THREAD = new Set([
  'show runtime',
  'show trace',
  'show hardware-interfaces',
  'show tcp stats',
  'show session',
  'show buffers',
  'show http static server',
  'show http static server cache',
]);
/** Lines that only the main thread runs (the configuration lives on in its dataplane). */
const MAIN_ONLY = new Set(['help', 'ping', 'debug stall', 'set interface rx-mode']);
/** Shows whose headers VPP's own format carries (show trace: "Start of thread N …"). */
const OWN_HEADER = new Set(['show trace']);

interface Handle {
  index: number;
  worker: Worker;
  lwp: number;
  lcore: number | null;
  cpuNow: number;
  pending: Map<number, (m: FromWorker) => void>;
  exited: boolean;
}

/** A worker's options: its data, its thread name, and the dataplane's young-generation cap (heap-limits.ts). */
export function workerOptions(data: WorkerData): WorkerOptions {
  return { workerData: data, name: threadName(data.index), resourceLimits: { ...WORKER_RESOURCE_LIMITS } };
}

export class WorkerPool implements ThreadView {
  readonly self = 0;
  private readonly handles: Handle[] = [];
  private readonly placer: QueuePlacer;
  private readonly table: QueuePlacement[] = [];
  private engine: Engine | null = null;
  private nextId = 1;
  private readonly channelName = `vpp-server-neighbors-${process.pid}-${Date.now()}`;
  private channel: BroadcastChannel | null = null;
  private mainLcore: number | null = null;
  /** Neighbour messages seen on the channel (all threads' news), for tests and show threads. */
  neighborMessages = 0;
  /**
   * The limits every thread shares (tcp/shared-limits.ts): the memory budget, per-source limits,
   * TIME_WAIT and TLS handshake counts; the main thread is thread 0, worker i thread i.
   */
  readonly shared: SharedLimits;

  constructor(
    private readonly config: EngineConfig,
    private readonly log: Logger,
    readonly workers: number,
    private readonly cores: readonly number[] | null,
  ) {
    this.placer = new QueuePlacer(workers);
    // Sized from the configured connection limit (tcp-max-connections, per worker), capped by the
    // memory limit (sourceCapacityFor): the same figures the engine resolves.
    const maxConnections = tcpOptionsOf(config.engine).maxConnections ?? DEFAULT_TCP_OPTIONS.maxConnections;
    this.shared = SharedLimits.create({ threads: workers + 1, sources: sourceCapacityFor(maxConnections * workers, resolveMemoryConfig(config.engine).limit, workers + 1) });
  }

  /** Starts the workers and waits until each runs (or one failed: then all are stopped). */
  async start(mainLcore: number | null): Promise<void> {
    this.mainLcore = mainLcore;
    const url = new URL('./worker.js', import.meta.url);
    const started: Promise<void>[] = [];
    for (let i = 1; i <= this.workers; i++) {
      const data: WorkerData = {
        index: i,
        workers: this.workers,
        config: this.config,
        core: this.cores?.[i - 1] ?? null,
        neighborChannel: this.channelName,
        sharedLimits: this.shared.buffer,
      };
      const worker = new Worker(url, workerOptions(data));
      const h: Handle = { index: i, worker, lwp: 0, lcore: null, cpuNow: -1, pending: new Map(), exited: false };
      this.handles.push(h);
      started.push(
        new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.on('message', (m: FromWorker) => {
            if (m.t === 'ready') {
              h.lwp = m.lwp;
              h.lcore = m.lcore;
              if (m.pinError !== '') {
                const where = this.config.cpu?.file !== undefined ? `${this.config.cpu.file}:${this.config.cpu.line}: ` : '';
                reject(
                  Object.assign(
                    new Error(`${where}cpu { corelist-workers }: cannot pin ${threadName(i)} to CPU ${data.core} (${m.pinError}: it does not exist or this process may not use it; see Cpus_allowed_list in /proc/self/status)`),
                    { code: 'CPU_PIN' },
                  ),
                );
              } else resolve();
            } else if (m.t === 'failed') reject(Object.assign(new Error(`${threadName(i)}: ${m.message}`), { code: m.code }));
            else this.onMessage(h, m);
          });
          worker.once('exit', (code) => {
            h.exited = true;
            for (const r of h.pending.values()) r({ t: 'done', id: 0, ok: false, output: `${threadName(i)} exited (code ${code})` });
            h.pending.clear();
            reject(new Error(`${threadName(i)} exited during start-up (code ${code})`));
          });
        }),
      );
    }
    try {
      await Promise.all(started);
    } catch (err) {
      await this.terminate();
      throw err;
    }
    for (const h of this.handles) {
      h.worker.on('error', (err) => this.log.error({ code: 'WORKER_ERROR', thread: threadName(h.index), err: { message: err.message, stack: err.stack } }, `${threadName(h.index)} failed: ${err.message}`));
      // A worker gone while the dataplane runs leaves its RX queue dead (the fanout group rehashes
      // its flows onto threads that have no state for them) and its share of the shared TCP limits
      // (shared-limits.ts) held for good: as for an uncaught exception, exit so that the kubelet
      // restarts a clean process.
      h.worker.on('exit', (code) => {
        if (this.stopping) return;
        this.onWorkerLost(h, code);
      });
    }
  }

  /** The main thread's engine: lines run there first; it hears the workers' neighbours and echo replies. */
  attach(engine: Engine): void {
    this.engine = engine;
    const channel = new BroadcastChannel(this.channelName);
    channel.onmessage = (ev) => {
      const m = (ev as unknown as { data: SharedNeighbor }).data;
      this.neighborMessages++;
      // The main thread's table is the control plane's view of every thread's neighbours (show ip
      // neighbors, its own ping): it keeps what any worker heard, a reply to a worker's request too.
      engine.dp.learnShared(m.sw, m.ip, Buffer.from(m.mac), m.reply, true);
    };
    // The main thread's own learning (none: it reads no queue) would go to the workers the same way.
    engine.dp.neighbors.share = (sw, ip, buf, off, reply, create) => {
      channel.postMessage({ from: 0, sw: sw.index, ip, mac: Uint8Array.from(buf.subarray(off, off + 6)), reply, create } satisfies SharedNeighbor);
    };
    (channel as unknown as { unref?: () => void }).unref?.();
    this.channel = channel;
  }

  // ---- ThreadView ------------------------------------------------------------------

  threads(): ThreadInfo[] {
    const main: ThreadInfo = { index: 0, name: 'vpp_main', type: '', lwp: process.pid, lcore: this.mainLcore, cpuNow: -1 };
    return [main, ...this.handles.map((h) => ({ index: h.index, name: threadName(h.index), type: 'workers', lwp: h.lwp, lcore: h.lcore, cpuNow: h.cpuNow }))];
  }

  placement(): QueuePlacement[] {
    return this.table.map((p) => ({ ...p }));
  }

  async setRxMode(hw: string, queue: number | null, mode: RxMode): Promise<void> {
    const targets = this.table.filter((p) => p.hw === hw && (queue === null || p.queue === queue));
    for (const p of targets) {
      const r = await this.request(this.handles[p.thread - 1], { t: 'exec', id: 0, line: `set interface rx-mode ${hw} queue ${p.queue} ${mode}` });
      if (r.t === 'done' && !r.ok) throw new Error(r.output);
      p.mode = mode;
    }
  }

  // ---- dispatch ----------------------------------------------------------------------

  /** Runs one CLI / startup-config line across the threads (see the module comment). */
  readonly execute: LineExecutor = async (line, ctx) => {
    const engine = this.engine!;
    const registry = engine.registry;
    const words = tokenize(line);
    if (words.length === 0) return { ok: true, output: '' };
    let path: string;
    try {
      path = registry.resolve(words).spec.path;
    } catch {
      return execute(registry, line, ctx); // the main thread says what is wrong
    }
    if (path === 'create host-interface') return this.createHostInterface(line, ctx, registry);
    if (path === 'show errors') return this.sumErrors(line, ctx, registry);
    if (path === 'show interface') return this.sumInterfaces(line, ctx, registry);
    if (path === 'show tcp memory') return this.withPeerErrors(line, ctx, registry);
    if (path === 'pcap trace') return this.pcapTrace(words, line, ctx, registry);
    if (PER_THREAD.has(path)) return this.perThread(path, line, ctx, registry);
    if (MAIN_ONLY.has(path) || path.startsWith('show ')) return execute(registry, line, ctx);
    // Configuration: the main thread validates, then every worker follows.
    const r = await execute(registry, line, ctx);
    if (!r.ok) return r;
    const results = await Promise.all(this.handles.map((h) => this.exec(h, line)));
    const failed = results.findIndex((x) => !x.ok);
    if (failed >= 0) return { ok: false, output: `${path}: ${threadName(failed + 1)}: ${results[failed].output}` };
    return r;
  };

  private async createHostInterface(line: string, ctx: CliContext, registry: CommandRegistry<CliContext>): Promise<ExecuteResult> {
    const r = await execute(registry, line, ctx);
    if (!r.ok) return r;
    const hw = this.engine!.dp.hardware.find((h) => h.name === r.output);
    if (hw === undefined) return r;
    const threads = this.placer.place(hw.rxQueues);
    const plans = new Map<number, OpenPlan>();
    const fanout = hw.rxQueues > 1;
    for (const h of this.handles) plans.set(h.index, { queues: [], fanout: 'none' });
    threads.forEach((t, q) => plans.get(t)!.queues.push(q));
    // Queue 0's thread creates the group; the others join the id the kernel gave it.
    const first = threads[0];
    plans.get(first)!.fanout = fanout ? 'new' : 'none';
    const r0 = await this.exec(this.handles[first - 1], line, plans.get(first));
    if (!r0.ok) return { ok: false, output: `create host-interface: ${threadName(first)}: ${r0.output}` };
    const id = r0.fanoutId ?? null;
    const rest = this.handles.filter((h) => h.index !== first);
    const results = await Promise.all(
      rest.map((h) => {
        const p = plans.get(h.index)!;
        if (fanout && p.queues.length > 0) p.fanout = { join: id! };
        return this.exec(h, line, p);
      }),
    );
    const bad = results.findIndex((x) => !x.ok);
    if (bad >= 0) return { ok: false, output: `create host-interface: ${threadName(rest[bad].index)}: ${results[bad].output}` };
    threads.forEach((t, q) => this.table.push({ hw: hw.name, queue: q, thread: t, mode: 'interrupt' }));
    if (id !== null) this.log.info({ event: 'fanout', interface: hw.name, fanoutId: id, queues: hw.rxQueues }, `${hw.name}: ${hw.rxQueues} RX queues in PACKET_FANOUT_HASH group ${id}`);
    return r;
  }

  private async perThread(path: string, line: string, ctx: CliContext, registry: CommandRegistry<CliContext>): Promise<ExecuteResult> {
    const own = await execute(registry, line, ctx);
    if (!own.ok) return own;
    const outputs = [own, ...(await Promise.all(this.handles.map((h) => this.exec(h, line))))];
    if (OWN_HEADER.has(path)) {
      const shown = outputs.filter((o) => o.output !== 'No packets in trace buffer').map((o) => o.output);
      return { ok: true, output: shown.length === 0 ? 'No packets in trace buffer' : shown.join('\n') };
    }
    // VPP's show runtime: "Thread N <name> (lcore L)" above each thread, dashes between them.
    const info = this.threads();
    const parts = outputs.map((o, i) => {
      const t = info[i];
      return `Thread ${i} ${t.name} (${t.lcore !== null ? `lcore ${t.lcore}` : 'not pinned'})\n${o.ok ? o.output : `error: ${o.output}`}`;
    });
    return { ok: true, output: parts.join('\n---------------\n') };
  }

  private async rows(): Promise<Array<{ errors: ErrorRow[]; counters: CounterSnapshot }>> {
    const out: Array<{ errors: ErrorRow[]; counters: CounterSnapshot }> = [];
    for (const h of this.handles) {
      const m = await this.request(h, { t: 'rows', id: 0 });
      if (m.t === 'rows') out.push({ errors: m.errors, counters: m.counters });
    }
    return out;
  }

  /** show errors: every thread's counters summed by node and reason (VPP sums over threads too). */
  private async sumErrors(line: string, ctx: CliContext, registry: CommandRegistry<CliContext>): Promise<ExecuteResult> {
    const check = await execute(registry, line, ctx); // argument errors
    if (!check.ok) return check;
    const sum = new Map<string, ErrorRow>();
    for (const rows of [errorRows(ctx), ...(await this.rows()).map((r) => r.errors)]) {
      for (const r of rows) {
        const k = `${r.node}\0${r.reason}`;
        const had = sum.get(k);
        if (had === undefined) sum.set(k, { ...r });
        else had.count += r.count;
      }
    }
    return { ok: true, output: formatErrors([...sum.values()]) };
  }

  /**
   * show tcp memory: the figures are the process's already (shared-limits.ts), read by the main
   * thread; the refusals are counted where they happen, so every worker's counters are added.
   */
  private async withPeerErrors(line: string, ctx: CliContext, registry: CommandRegistry<CliContext>): Promise<ExecuteResult> {
    const sums: Record<string, Record<string, number>> = {};
    for (const r of await this.rows()) {
      for (const e of r.errors) {
        const node = (sums[e.node] ??= {});
        node[e.reason] = (node[e.reason] ?? 0) + e.count;
      }
    }
    const services = this.engine!.services;
    services.peerErrors = sums;
    try {
      return await execute(registry, line, ctx);
    } finally {
      services.peerErrors = null;
    }
  }

  /**
   * pcap trace with workers, as VPP captures every thread's frames into the one file: a capture
   * starts on the main thread (which validates it and captures what it sends itself, e.g. ping)
   * and then on every worker, each into its own buffer of `max` frames; `status` adds the
   * workers' counts; `off` takes every worker's records and the main thread merges them with its
   * own in time order (the first `max` frames of all threads) and writes the file.
   */
  private async pcapTrace(words: string[], line: string, ctx: CliContext, registry: CommandRegistry<CliContext>): Promise<ExecuteResult> {
    const VALUED = new Set(['max', 'intfc', 'file', 'max-bytes-per-pkt']);
    const has = (w: string) => words.some((x, i) => i >= 2 && x === w && !VALUED.has(words[i - 1]));
    const dp = this.engine!.dp;
    const mine = (): PcapTrace | null => (dp.pcap instanceof PcapTrace ? dp.pcap : null);
    const ask = (take: boolean) => Promise.all(this.handles.map((h) => this.request(h, { t: 'pcap', id: 0, take })));
    if (has('status') || has('off')) {
      const capture = mine();
      if (capture !== null) {
        const answers = await ask(has('off'));
        capture.peerCaptured = 0;
        for (const a of answers) {
          if (a.t !== 'pcap') continue;
          capture.peerCaptured += a.captured;
          if (a.records !== null) capture.addPeerRecords(Buffer.from(a.records.buffer, a.records.byteOffset, a.records.byteLength));
        }
      }
      return execute(registry, line, ctx);
    }
    const r = await execute(registry, line, ctx);
    if (!r.ok || mine() === null) return r;
    const results = await Promise.all(this.handles.map((h) => this.exec(h, line)));
    const failed = results.findIndex((x) => !x.ok);
    if (failed >= 0) {
      await ask(true); // (discarded)
      dp.pcap = null;
      return { ok: false, output: `pcap trace: ${threadName(failed + 1)}: ${results[failed].output}` };
    }
    return r;
  }

  /** show interface: the main thread's counters plus every worker's, for the one print. */
  private async sumInterfaces(line: string, ctx: CliContext, registry: CommandRegistry<CliContext>): Promise<ExecuteResult> {
    const snapshots = await this.rows();
    const dp = this.engine!.dp;
    const saved = dp.interfaces.map((sw) => ({ ...sw.counters }));
    try {
      for (const s of snapshots) {
        for (const sw of dp.interfaces) {
          const c = s.counters[sw.index];
          if (c === undefined) continue;
          const mine = sw.counters as unknown as Record<string, number>;
          for (const [k, v] of Object.entries(c)) mine[k] = (mine[k] ?? 0) + v;
        }
      }
      return await execute(registry, line, ctx);
    } finally {
      dp.interfaces.forEach((sw, i) => Object.assign(sw.counters, saved[i]));
    }
  }

  // ---- messages ----------------------------------------------------------------------

  private onMessage(h: Handle, m: FromWorker): void {
    if (m.t === 'echo') {
      this.engine?.dp.icmp.onEchoReply?.(m.src, m.id, m.seq, m.ttl, m.len);
      return;
    }
    const id = (m as { id?: number }).id;
    if (id === undefined) return;
    const r = h.pending.get(id);
    if (r === undefined) return;
    h.pending.delete(id);
    r(m);
  }

  private request(h: Handle, m: ToWorker): Promise<FromWorker> {
    if (h.exited) return Promise.resolve({ t: 'done', id: 0, ok: false, output: `${threadName(h.index)} is not running` });
    const id = this.nextId++;
    return new Promise((resolve) => {
      h.pending.set(id, resolve);
      h.worker.postMessage({ ...m, id });
    });
  }

  private async exec(h: Handle, line: string, plan?: OpenPlan): Promise<ExecuteResult & { fanoutId?: number | null }> {
    const m = await this.request(h, { t: 'exec', id: 0, line, plan });
    if (m.t !== 'done') return { ok: false, output: `unexpected answer ${m.t}` };
    return m;
  }

  /**
   * /metrics for the process: the main thread's registry and every worker's, each series labelled
   * with its thread (vpp_main, vpp_wk_0 …); sum by (…) without (thread) gives the process's figure.
   */
  async metricsText(own: Registry): Promise<string> {
    const all = [await own.getMetricsAsJSON()];
    for (const h of this.handles) {
      const m = await this.request(h, { t: 'metrics', id: 0 });
      if (m.t === 'metrics') all.push(m.json as Awaited<ReturnType<Registry['getMetricsAsJSON']>>);
    }
    return AggregatorRegistry.aggregate(all).metrics();
  }

  /** Refreshes the workers' LWP and current CPU (show threads). */
  async refreshInfo(): Promise<void> {
    for (const h of this.handles) {
      const m = await this.request(h, { t: 'info', id: 0 });
      if (m.t === 'info') {
        h.lwp = m.lwp;
        h.cpuNow = m.cpuNow;
      }
    }
  }

  /** Drains every worker at once (their HTTP connections); clean when all are. */
  async drain(graceMs: number): Promise<{ clean: boolean; remaining: number }> {
    const results = await Promise.all(this.handles.map((h) => this.request(h, { t: 'drain', id: 0, graceMs })));
    let clean = true;
    let remaining = 0;
    for (const r of results) {
      if (r.t !== 'drained') continue;
      clean &&= r.clean;
      remaining += r.remaining;
    }
    return { clean, remaining };
  }

  /** Set by stop(): from then on a worker's exit is expected. */
  private stopping = false;

  /** What a worker lost while running costs: the process (tests replace it). */
  onWorkerLost = (h: { index: number }, code: number): void => {
    this.log.fatal({ code: 'WORKER_EXITED', thread: threadName(h.index), exitCode: code }, `${threadName(h.index)} exited while running (code ${code}): exiting so that a clean process takes over`);
    process.exit(70);
  };

  /** Stops the workers' engines (RSTs sent, devices closed), then the threads. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.handles.map((h) => this.request(h, { t: 'stop', id: 0 })));
    await this.terminate();
  }

  private async terminate(): Promise<void> {
    this.stopping = true;
    this.channel?.close();
    this.channel = null;
    await Promise.all(this.handles.filter((h) => !h.exited).map((h) => h.worker.terminate()));
  }
}
