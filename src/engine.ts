/**
 * The engine: a dataplane with its CLI, configured from vpp.conf and startup-config, as the
 * `vpp-server run` process runs it; with its management endpoint (/healthz, /readyz, /metrics),
 * liveness heartbeat and graceful drain.
 */
import { timeWaitWarnings } from './tcp/time-wait-warnings.js';
import { DEFAULT_OPTIONS as DEFAULT_TCP_OPTIONS } from './tcp/types.js';
import { Dataplane } from './dataplane/dataplane.js';
import type { Device } from './io/device.js';
import { createRegistry, executorOf, type Command, type LineExecutor } from './cli/cli.js';
import type { ThreadView } from './cli/threads.js';
import { CliServer } from './cli/cli-server.js';
import type { CliContext, ErrorSource } from './cli/context.js';
import type { CommandRegistry } from './cli/registry.js';
import { runStartupConfig } from './cli/startup-config.js';
import type { EngineConfig } from './cli/vpp-conf.js';
import type { Logger, LogRing } from './log.js';
import { formatIpv4, parseIpv4 } from './wire/address.js';
import { DadState } from './dataplane/interface.js';
import { Services } from './services.js';
import { CONGESTION_CONTROLS, type CongestionControlName } from './tcp/congestion.js';
import { resolveMemoryConfig, type MemoryConfig } from './cli/memory-conf.js';
import { formatBytes } from './tcp/memory-show.js';
import { MemoryBudget } from './tcp/budget.js';
import { SharedLimits, sourceCapacityFor } from './tcp/shared-limits.js';
import type { TcpOptions } from './tcp/index.js';
import { serviceCommands } from './commands.js';
import { LoopHealth, readiness, type CheckResult, type RingSample } from './ops/health.js';
import { ManagementServer, MetricsToken, parseManagementAddress, type ManagementAddress } from './ops/management.js';
import { createMetricsRegistry } from './ops/metrics.js';
import { opsCommands } from './ops/commands.js';
import type { Registry } from 'prom-client';
import { housekeeping, type HousekeepingTask } from './util/housekeeping.js';

export interface EngineOptions {
  config: EngineConfig;
  log: Logger;
  openDevice: (ifname: string, rxQueues: number) => Device;
  /** The logger's ring buffer, for `show log`. */
  logRing?: LogRing;
  /** Extra commands (tests). */
  commands?: Command[];
  /** Monotonic clock, ms (tests). */
  now?: () => number;
  /**
   * The process-wide budget, per-source limits, TIME_WAIT and TLS handshake counts, as this thread
   * sees them (worker threads attach to the buffer the main thread made); absent: made here.
   */
  sharedLimits?: SharedLimits;
  /** Threads and queue placement for the CLI (worker threads; absent: this thread reads every queue). */
  threads?: ThreadView;
  /**
   * How CLI and startup-config lines run (the main thread with workers: dispatched to them);
   * default: this engine's registry.
   */
  execute?: LineExecutor;
  /** Whether this engine sends gratuitous ARP (false on workers: the main thread announces). */
  announces?: boolean;
  /** This thread's share of the HTTP cache budget (1/W on each of W workers). */
  cacheShare?: number;
  /** The worker threads (main thread with `cpu { workers }`): drained and stopped with this engine. */
  workers?: {
    drain(graceMs: number): Promise<{ clean: boolean; remaining: number }>;
    stop(): Promise<void>;
    /** /metrics over every thread: this engine's registry and the workers', labelled by thread. */
    metricsText(own: Registry): Promise<string>;
  };
  /** The `thread` label of every metric (worker threads: vpp_main, vpp_wk_0 …; absent: no label). */
  threadLabel?: string;
}

/** Defaults of the `vpp-server { … }` stanza's operations keys. */
/** How often the liveness check samples the RX rings' counters (ms). */
const RING_SAMPLE_MS = 1000;

export const ENGINE_DEFAULTS = {
  /** Seconds that in-flight HTTP responses get to finish after SIGTERM. */
  shutdownGraceSeconds: 20,
  /** Seconds without an event-loop turn that count as a stall (/healthz fails). */
  stallThresholdSeconds: 2,
};

/** A bad value in the `vpp-server { … }` stanza. */
export class EngineConfigError extends Error {
  readonly code = 'CONFIG_ERROR';
  constructor(message: string) {
    super(message);
    this.name = 'EngineConfigError';
  }
}

function seconds(config: EngineConfig, key: string, fallback: number, max: number): number {
  const raw = config.engine[key];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(v >= 0) || v > max) {
    throw new EngineConfigError(`vpp-server { ${key} ${raw} }: expected seconds between 0 and ${max} (e.g. ${key} ${fallback})`);
  }
  return v;
}

/**
 * The TCP stack options the stanza sets. `tcp-syn-cookies` reads as Linux's tcp_syncookies:
 * `on` (the default) answers with a cookie once the SYN queue is full, `off` never, `always`
 * for every SYN (a SYN queue of 0, as tcp_syncookies=2; the differential test uses it).
 */
export function tcpOptionsOf(config: EngineConfig['engine']): Partial<TcpOptions> {
  const cookies = config['tcp-syn-cookies'];
  if (cookies === 'off') return { synCookies: false };
  if (cookies === 'always') return { synCookies: true, synQueueMax: 0 };
  return {};
}

function integer(config: EngineConfig, key: string, max: number): number | undefined {
  const raw = config.engine[key];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) > max) {
    throw new EngineConfigError(`vpp-server { ${key} ${raw} }: expected an integer 0-${max}`);
  }
  return Number(raw);
}

export interface DrainResult {
  /** True when every HTTP connection finished before the deadline. */
  clean: boolean;
  /** Connections still open at the deadline (reset by stop()). */
  remaining: number;
  elapsedMs: number;
}

export class Engine {
  readonly dp: Dataplane;
  readonly registry: CommandRegistry<CliContext>;
  readonly context: CliContext;
  readonly errorSources: ErrorSource[] = [];
  readonly services: Services;
  readonly health: LoopHealth;
  readonly metrics: Registry;
  /** Where the management endpoint listens (null: disabled). */
  readonly managementAddress: ManagementAddress | null;
  /** `vpp-server { metrics-token-file }`: the bearer token /metrics asks for, or null (open). */
  readonly metricsToken: MetricsToken | null;
  readonly shutdownGraceMs: number;
  /** The memory budget and per-source limits as configured (or defaulted from the cgroup limit). */
  readonly memory: MemoryConfig;
  /** The process-wide limits (shared by the worker threads; this thread's view). */
  readonly sharedLimits: SharedLimits;
  /** The last error opening a device (its code says ENODEV, EPERM …), for the start-up error line. */
  lastDeviceError: NodeJS.ErrnoException | null = null;
  private cli: CliServer | null = null;
  private management: ManagementServer | null = null;
  /** The heartbeat (every health interval) and the ring sample (every second), on the shared timer. */
  private heartbeat: HousekeepingTask[] = [];
  /** ringCounters()' output, reused every second. */
  private readonly ringScratch = new Float64Array(2);
  private started = false;
  private draining = false;
  private readonly now: () => number;
  /** Runs a CLI line (this registry, or the dispatcher to the workers). */
  readonly run: LineExecutor;
  private readonly exceptionLog = new Map<string, { lastLogged: number; suppressed: number }>();

  constructor(private readonly options: EngineOptions) {
    const { config, log } = options;
    this.now = options.now ?? (() => performance.now());
    const mgmt = config.engine['management'];
    try {
      this.managementAddress = mgmt === undefined ? null : parseManagementAddress(mgmt);
    } catch (err) {
      throw new EngineConfigError(`vpp-server { ${(err as Error).message} }`);
    }
    const tokenFile = config.engine['metrics-token-file'];
    try {
      this.metricsToken = tokenFile === undefined ? null : new MetricsToken(tokenFile);
    } catch (err) {
      throw new EngineConfigError(`vpp-server { ${(err as Error).message} }`);
    }
    if (this.metricsToken?.hasInnerWhitespace)
      log.warn({ code: 'METRICS_TOKEN_WHITESPACE', path: tokenFile }, `metrics-token-file ${tokenFile}: the token contains white space; a bearer token is one word, so no scrape can ever match it (every /metrics request will get 401)`);
    this.shutdownGraceMs = seconds(config, 'shutdown-grace', ENGINE_DEFAULTS.shutdownGraceSeconds, 3600) * 1000;
    const stallMs = seconds(config, 'stall-threshold', ENGINE_DEFAULTS.stallThresholdSeconds, 3600) * 1000;
    this.health = new LoopHealth(this.now(), {
      stallThresholdMs: stallMs,
      intervalMs: Math.min(250, Math.max(10, stallMs / 4)),
      holdMs: Math.max(5000, 5 * stallMs),
    });

    this.dp = new Dataplane({
      announces: options.announces,
      openDevice: (ifname, rxQueues) => {
        try {
          return options.openDevice(ifname, rxQueues);
        } catch (err) {
          this.lastDeviceError = err as NodeJS.ErrnoException;
          throw err;
        }
      },
      neighborAgeMs: config.engine['neighbor-age'] !== undefined ? Number(config.engine['neighbor-age']) * 1000 : undefined,
      onEvent: (message) => log.info({ event: 'dataplane' }, message),
    });
    this.dp.onNodeError = (err, node, frames) => this.nodeError(err, node, frames);
    for (const node of this.dp.graphNodes()) {
      this.errorSources.push({
        node: node.name,
        counts: () => ({ 'exception (vector abandoned)': this.dp.exceptions[node.name] ?? 0 }),
        clear: () => delete this.dp.exceptions[node.name],
      });
    }
    this.errorSources.push({
      node: 'after-vector',
      counts: () => ({ 'exception (vector abandoned)': this.dp.exceptions['after-vector'] ?? 0 }),
      clear: () => delete this.dp.exceptions['after-vector'],
    });
    this.services = new Services(this.dp, this.errorSources);
    this.services.tcpOptions = tcpOptionsOf(config.engine);
    // TIME_WAIT; absent keys keep the stack's defaults (60 s as Linux, 50,000 entries).
    if (config.engine['tcp-time-wait'] !== undefined) {
      this.services.tcpOptions.timeWaitMs = seconds(config, 'tcp-time-wait', 60, 3600) * 1000;
    }
    const twMax = integer(config, 'tcp-time-wait-max', 10_000_000);
    if (twMax !== undefined) this.services.tcpOptions.maxTimeWait = twMax;
    const cc = config.engine['tcp-congestion-control'];
    if (cc !== undefined) {
      if (!(CONGESTION_CONTROLS as readonly string[]).includes(cc)) {
        throw new EngineConfigError(`vpp-server { tcp-congestion-control ${cc} }: expected ${CONGESTION_CONTROLS.join(' or ')}`);
      }
      this.services.tcpOptions.congestionControl = cc as CongestionControlName;
    }
    this.services.log = (level, fields, message) => log[level](fields, message);
    this.memory = resolveMemoryConfig(config.engine);
    const m = this.memory;
    // One set of limits for the process: the workers attach to the main thread's buffer.
    this.sharedLimits = options.sharedLimits ?? SharedLimits.create({ threads: 1, sources: sourceCapacityFor(this.services.tcpOptions.maxConnections ?? DEFAULT_TCP_OPTIONS.maxConnections, m.limit, 1) });
    this.services.tcpOptions.memory = new MemoryBudget({ limit: m.budget, sourceMaxConnections: m.sourceMaxConnections, sourceMaxBytes: m.sourceMaxBytes }, this.sharedLimits);
    this.services.sharedLimits = this.sharedLimits;
    this.services.memoryOrigin = m.origin;
    this.services.httpLimits.minSendBytes = m.minSendBytes;
    this.services.httpLimits.minSendWindowMs = m.minSendWindowMs;
    if (options.cacheShare !== undefined) this.services.cacheShare = options.cacheShare;
    this.metrics = createMetricsRegistry({
      dp: this.dp,
      services: this.services,
      errorSources: this.errorSources,
      status: () => ({ live: this.live().ok, ready: this.ready().ok, stalls: this.health.stalls, maxGapMs: this.health.maxGapMs }),
    });
    if (options.threadLabel !== undefined) this.metrics.setDefaultLabels({ thread: options.threadLabel });
    const ops = opsCommands({
      ring: options.logRing,
      live: () => this.live(),
      ready: () => this.ready(),
      management: () => this.managementText(),
    });
    this.registry = createRegistry([...serviceCommands(this.services), ...ops, ...(options.commands ?? [])]);
    this.context = { dp: this.dp, startedAt: Date.now(), errorSources: this.errorSources, runtimeSources: this.services.runtimeSources, threads: options.threads };
    this.run = options.execute ?? executorOf(this.registry);
  }

  /**
   * Starts the heartbeat and the management endpoint, opens the CLI socket, then runs the
   * startup-config. Throws ConfigError on a bad line, an Error with a code on a listen failure.
   */
  async start(): Promise<void> {
    const { config, log } = this.options;
    this.dp.start();
    this.startHeartbeat();
    const tcp = this.services.tcpOptions;
    for (const w of timeWaitWarnings(tcp.timeWaitMs ?? DEFAULT_TCP_OPTIONS.timeWaitMs, tcp.maxTimeWait ?? DEFAULT_TCP_OPTIONS.maxTimeWait, this.memory.budget)) {
      log.warn({ code: w.code }, w.message);
    }
    if (this.managementAddress !== null) {
      const workers = this.options.workers;
      const metrics = workers === undefined ? this.metrics : { contentType: this.metrics.contentType, metrics: () => workers.metricsText(this.metrics) };
      this.management = new ManagementServer(this.managementAddress, { live: () => this.live(), ready: () => this.ready(), metrics }, this.metricsToken);
      try {
        await this.management.listen();
        if (this.management.fellBackToIpv4) {
          log.warn({ code: 'MANAGEMENT_IPV4_ONLY', port: this.managementAddress.port }, `management endpoint: this kernel has no IPv6, listening on 0.0.0.0:${this.managementAddress.port} instead of [::]`);
        }
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        this.management = null;
        const where = `${this.managementAddress.host}:${this.managementAddress.port}`;
        const hint =
          e.code === 'EADDRINUSE'
            ? 'another process listens there: choose another port in vpp-server { management … }'
            : e.code === 'EADDRNOTAVAIL'
              ? 'no interface of this host has that address: use 0.0.0.0 or the pod IP'
              : e.code === 'EACCES'
                ? 'ports below 1024 need CAP_NET_BIND_SERVICE: use a port above 1023'
                : 'check vpp-server { management … }';
        throw Object.assign(new Error(`management endpoint ${where}: ${e.code ?? e.message} (${hint})`), { code: e.code ?? 'MANAGEMENT_LISTEN' });
      }
    }
    if (config.cliListen !== undefined) {
      this.cli = new CliServer(config.cliListen, this.run, this.context, (line, ok) =>
        log.info({ event: 'cli', ok }, `cli: ${line}`),
      );
      const { replacedStale } = await this.cli.listen();
      if (replacedStale) log.warn({ code: 'STALE_CLI_SOCKET', path: config.cliListen }, 'replaced a stale CLI socket left by a previous run (it had crashed or was killed); nothing to do');
    }
    if (config.startupConfig !== undefined) {
      await runStartupConfig(this.run, config.startupConfig, this.context, ({ line, command, output }) =>
        log.info({ event: 'config', file: config.startupConfig, line }, output === '' ? command : `${command} -> ${output}`),
      );
    }
    this.started = true;
  }

  private startHeartbeat(): void {
    if (this.heartbeat.length > 0) return;
    this.heartbeat = [
      housekeeping.every(this.health.intervalMs, () => this.health.beat(this.now())),
      // Registered second: on a wakeup both are due, the beat runs first, as it did.
      housekeeping.every(RING_SAMPLE_MS, () => this.health.sampleRings(this.ringSamples(), this.now())),
    ];
  }

  private ringSamples(): RingSample[] {
    return ringSamplesOf(this.dp.hardware, this.ringScratch);
  }

  /** Liveness: what /healthz answers. */
  live(): CheckResult {
    return this.health.check(this.now());
  }

  /** Readiness: what /readyz answers. */
  ready(): CheckResult {
    return readiness({
      started: this.started,
      draining: this.draining,
      // An IPv6 address counts once it passed DAD (an IPv6-only pod is ready too).
      interfaces: this.dp.interfaces.map((sw) => ({ name: sw.name, up: sw.up, addresses: sw.addresses.length + (sw.ip6?.addresses.filter((a) => a.dad === DadState.Preferred).length ?? 0) })),
      httpServers: this.services.http.length,
      live: this.live(),
    });
  }

  private managementText(): string {
    const a = this.management?.listening;
    if (a === null || a === undefined) return this.managementAddress === null ? 'off (vpp-server { management <addr>:<port> } enables it)' : 'not listening';
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/ (/healthz /readyz /metrics)`;
  }

  /** A node threw while processing a vector: logged (rate-limited per node), counted by the dataplane. */
  private nodeError(err: unknown, node: string, frames: number): void {
    const now = this.now();
    let entry = this.exceptionLog.get(node);
    if (entry === undefined) {
      entry = { lastLogged: -Infinity, suppressed: 0 };
      this.exceptionLog.set(node, entry);
    }
    if (now - entry.lastLogged < 10_000) {
      entry.suppressed++;
      return;
    }
    const e = err as Error;
    this.options.log.error(
      { code: 'NODE_EXCEPTION', node, frames, suppressed: entry.suppressed, err: { message: e?.message ?? String(err), stack: e?.stack } },
      `${node} threw while processing a vector of ${frames} frames; the vector was dropped and the dataplane goes on. ` +
        'This is a bug: please report it with this log line (show errors counts further occurrences)',
    );
    entry.lastLogged = now;
    entry.suppressed = 0;
  }

  /** A one-line description of what is configured, for the start-up log. */
  summary(): Record<string, unknown> {
    return {
      interfaces: this.dp.interfaces.map((sw) => ({
        name: sw.name,
        state: sw.up ? 'up' : 'down',
        vlan: sw.isSub ? sw.vlanId : undefined,
        addresses: sw.addresses.map((a) => `${formatIpv4(a.address)}/${a.prefixLength}`),
        l2xconnect: sw.xconnect?.name,
      })),
      http: this.services.http.map((h) => `${h.listeners.map((l) => `${l.command.transport}://${l.command.address}/${l.command.port}`).join(' ')} ${h.command.wwwRoot}`),
      cliSocket: this.options.config.cliListen,
      management: this.management?.listening
        ? `${this.management.listening.address}:${this.management.listening.port}`
        : 'off',
      shutdownGraceSeconds: this.shutdownGraceMs / 1000,
      memory: {
        budget: `${formatBytes(this.memory.budget)} (${this.memory.origin})`,
        perSource: `${this.memory.sourceMaxConnections} connections, ${formatBytes(this.memory.sourceMaxBytes)}`,
        minSendRate: this.memory.minSendBytes === 0 ? 'off' : `${formatBytes(this.memory.minSendBytes)} per ${this.memory.minSendWindowMs / 1000} s`,
      },
      threads: this.context.threads?.threads().map((t) => `${t.name}${t.lcore !== null ? `@cpu${t.lcore}` : ''}`),
    };
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** HTTP connections open, and TCP connections not yet closed or in TIME-WAIT. */
  private busy(): { http: number; tcp: number } {
    let http = 0;
    for (const h of this.services.http) http += h.server.stats().connectionsOpen + (h.h2?.stats().sessionsOpen ?? 0);
    const c = this.services.tcp?.stack.counters;
    // A half-open connection (SYN-RECEIVED) carries no response yet: it does not hold the drain.
    return { http, tcp: c === undefined ? 0 : Math.max(0, c.connections - c.timeWait - c.synReceived) };
  }

  /**
   * Graceful drain: /readyz fails, the HTTP servers stop listening (new SYNs get a RST), idle
   * connections get a FIN now and busy ones once their responses are sent; resolves when every
   * connection is done or `graceMs` has passed. The dataplane keeps running meanwhile.
   */
  async drain(graceMs = this.shutdownGraceMs): Promise<DrainResult> {
    const workers = this.options.workers;
    if (workers !== undefined) {
      // The connections live on the workers; each drains its own at the same time.
      const t0 = this.now();
      const [own, theirs] = await Promise.all([this.drainHere(graceMs), workers.drain(graceMs)]);
      return { clean: own.clean && theirs.clean, remaining: own.remaining + theirs.remaining, elapsedMs: this.now() - t0 };
    }
    return this.drainHere(graceMs);
  }

  private async drainHere(graceMs: number): Promise<DrainResult> {
    const t0 = this.now();
    this.draining = true;
    const tcp = this.services.tcp;
    this.services.unlistenAll();
    for (const h of this.services.http) {
      h.server.drain();
      h.h2?.drain();
    }
    tcp?.kick();
    for (;;) {
      const b = this.busy();
      const elapsed = this.now() - t0;
      if (b.http === 0 && b.tcp === 0) return { clean: true, remaining: 0, elapsedMs: elapsed };
      if (elapsed >= graceMs) return { clean: false, remaining: b.http + b.tcp, elapsedMs: elapsed };
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, graceMs - elapsed))));
      // A handshake that completes after unlisten still gets a connection: drain it too.
      for (const h of this.services.http) {
        h.server.drain();
        h.h2?.drain();
      }
      tcp?.kick();
    }
  }

  async stop(): Promise<void> {
    this.draining = true;
    for (const task of this.heartbeat) task.stop();
    this.heartbeat = [];
    await this.cli?.close();
    this.cli = null;
    await this.options.workers?.stop();
    // Reset what is left, send those RSTs, then stop the transports and the devices.
    for (const h of this.services.http) h.server.close();
    this.services.tcp?.kick();
    this.services.close();
    this.dp.close();
    await this.management?.close();
    this.management = null;
  }
}

/**
 * The liveness check's ring samples of some hardware interfaces: [frames the kernel put in the
 * ring, frames taken out] from the device's ringCounters() (two numbers into `scratch`), or from
 * stats() when the device has no such method or it says no (devices without a ring have neither:
 * left out).
 */
export function ringSamplesOf(hardware: readonly { name: string; device: Pick<Device, 'stats' | 'ringCounters'> }[], scratch: Float64Array): RingSample[] {
  const samples: RingSample[] = [];
  for (const hw of hardware) {
    if (hw.device.ringCounters?.(scratch) === true) {
      samples.push({ name: hw.name, seen: scratch[0], consumed: scratch[1] });
      continue;
    }
    const s = hw.device.stats() as unknown as Record<string, number>;
    if (typeof s.rxFrames !== 'number' || typeof s.kernelSeen !== 'number') continue;
    samples.push({ name: hw.name, seen: s.kernelSeen, consumed: s.rxFrames + (s.rxOutgoingSkipped ?? 0) + (s.rxTruncated ?? 0) });
  }
  return samples;
}
