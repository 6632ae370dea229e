/** `vpp-server run -c <vpp.conf>`: the dataplane process. */
import { readFileSync } from 'node:fs';
import { Engine, EngineConfigError } from '../engine.js';
import { createLogger, LogRing, type Logger } from '../log.js';
import { ConfigError, readVppConf, type EngineConfig } from './vpp-conf.js';
import type { Device } from '../io/device.js';
import { FlagError, parseFlags, type FlagSpec } from '../flags.js';
import { MEMORY_KEYS, MEMORY_VALUE_CHECKS } from './memory-conf.js';
import { applyDataplaneV8Flags } from '../util/jit-tiering.js';

const RUN_FLAGS: FlagSpec[] = [
  { name: 'config', short: 'c', value: 'FILE', help: 'VPP startup configuration' },
  { name: 'management', value: 'ADDR:PORT|off', help: 'overrides vpp-server { management }' },
  { name: 'shutdown-grace', value: 'SECONDS', help: 'overrides vpp-server { shutdown-grace }' },
  { name: 'stall-threshold', value: 'SECONDS', help: 'overrides vpp-server { stall-threshold }' },
  ...MEMORY_KEYS.map((name) => ({ name, value: 'VALUE', help: `overrides vpp-server { ${name} }` })),
];

const USAGE = `usage: vpp-server run -c <vpp.conf> [--management <addr>:<port>|off] [--shutdown-grace <seconds>]
  -c <file>                  VPP startup configuration (unix { cli-listen … startup-config … })
  --management <a>:<p>|off   overrides vpp-server { management }: keeps vpp.conf usable by FD.io VPP
  --shutdown-grace <s>       overrides vpp-server { shutdown-grace }
  --memory-budget, --source-max-connections, --source-max-memory, --min-send-bytes,
  --min-send-window          override the vpp-server { } keys of the same names

  vpp.conf may hold a vpp-server { … } stanza:
    management <addr>:<port> | off   /healthz /readyz /metrics over HTTP (default off)
    shutdown-grace <seconds>         time in-flight responses get after SIGTERM (default 20)
    stall-threshold <seconds>        event-loop stall that fails /healthz (default 2)
    log-level <level>                fatal error warn info debug trace (default info)
    memory-budget <size>|<n>%        buffered TCP/HTTP bytes (default 25% of the cgroup memory limit, or of RAM)
    source-max-connections <n>       connections per client address (default 1024)
    source-max-memory <size>|<n>%    buffered bytes per client address (default 25% of memory-budget)
    min-send-bytes <size>            a reader must take this much per min-send-window (default 16k; 0 = off)
    min-send-window <seconds>        (default 30)

  Signals: SIGTERM / SIGINT drain gracefully and exit 0; a second signal exits at once (1).`;

/** Capabilities in the effective set, by name, as the kernel reports them in /proc. */
export function effectiveCapabilities(status?: string): string[] {
  try {
    const text = status ?? readFileSync('/proc/self/status', 'utf8');
    const hex = /CapEff:\s*([0-9a-f]+)/.exec(text)?.[1] ?? '0';
    const bits = BigInt(`0x${hex}`);
    const names: Record<number, string> = {
      10: 'cap_net_bind_service',
      11: 'cap_net_broadcast',
      12: 'cap_net_admin',
      13: 'cap_net_raw',
      14: 'cap_ipc_lock',
      21: 'cap_sys_admin',
    };
    if (bits >= (1n << 38n) - 1n) return ['all'];
    return Object.entries(names)
      .filter(([bit]) => (bits >> BigInt(bit)) & 1n)
      .map(([, n]) => n);
  } catch {
    return [];
  }
}

/** Which CPUs this process may use, for a pinning error. */
function cpuHint(): string {
  try {
    const list = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return `the CPU does not exist or this process may not use it (Cpus_allowed_list ${list ?? 'unknown'}); change cpu { main-core … corelist-workers … }`;
  } catch {
    return 'the CPU does not exist or this process may not use it';
  }
}

/** What to do about a device that did not open, by error code. */
const DEVICE_HINTS: Record<string, string> = {
  ENODEV:
    'check the interface name in create host-interface and `ip link` in this network namespace; in Kubernetes the interface ' +
    'comes from Multus (pod annotation k8s.v1.cni.cncf.io/networks): see `kubectl describe pod` for a failed attachment',
  EPERM: 'the process lacks CAP_NET_RAW (see above)',
  ENETDOWN: 'the kernel interface is down: ip link set <if> up',
  ERR_AF_PACKET_NOT_BUILT: 'build the addon: make build',
};

/** The one line that explains why start-up failed, and its code. */
function startFailure(err: unknown, engine: Engine | null): { code: string; message: string; fields: Record<string, unknown> } {
  const device = engine?.lastDeviceError ?? null;
  if (err instanceof ConfigError) {
    const code = device?.code ?? 'CONFIG_ERROR';
    const hint = device?.code !== undefined ? DEVICE_HINTS[device.code] : undefined;
    const message = hint !== undefined && !err.message.includes(hint) && device?.code !== 'EPERM' ? `${err.message}: ${hint}` : err.message;
    return { code, message, fields: { file: err.file, line: err.line } };
  }
  const e = err as NodeJS.ErrnoException;
  return { code: e.code ?? 'START_FAILED', message: e.message, fields: {} };
}

export async function main(argv: string[]): Promise<number> {
  // Before any dataplane code runs: V8 tiers the low-rate packet paths up sooner (jit-tiering.ts).
  applyDataplaneV8Flags();
  let confPath: string | undefined;
  const overrides: Record<string, string> = {};
  try {
    const f = parseFlags(argv, RUN_FLAGS);
    if (f.help) {
      console.log(USAGE);
      return 0;
    }
    if (typeof f.values['config'] === 'string') confPath = f.values['config'];
    for (const k of ['management', 'shutdown-grace', 'stall-threshold']) if (typeof f.values[k] === 'string') overrides[k] = f.values[k] as string;
    for (const k of MEMORY_KEYS) {
      const v = f.values[k];
      if (typeof v !== 'string') continue;
      const problem = MEMORY_VALUE_CHECKS[k]!(v);
      if (problem !== undefined) throw new FlagError([`--${k} ${v}: ${problem}`]);
      overrides[k] = v;
    }
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    console.error(`run: ${err.problems.join('\n  ')}\n${USAGE}`);
    return 2;
  }
  if (confPath === undefined) {
    console.error(`run: missing -c <vpp.conf>\n${USAGE}`);
    return 2;
  }
  let config: EngineConfig;
  try {
    config = readVppConf(confPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    console.error(`${confPath}: cannot read: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    return 1;
  }
  Object.assign(config.engine, overrides);
  const ring = new LogRing(1000);
  let log: Logger;
  try {
    log = createLogger({ level: config.engine['log-level'], destination: config.log, ring });
  } catch (err) {
    console.error(`${confPath}: ${(err as Error).message}`);
    return 1;
  }
  for (const w of config.warnings) log.warn({ code: 'CONF_IGNORED' }, `${w} (nothing to do; remove it to silence this warning)`);

  // Anything that escapes the dataplane's own handling leaves the process in an unknown state:
  // log it as one JSON line and exit, so that the kubelet restarts a clean process.
  process.on('uncaughtException', (err) => {
    log.fatal({ code: 'UNCAUGHT_EXCEPTION', err: { message: err.message, stack: err.stack } }, `uncaught exception, exiting: ${err.message} (a bug: please report it with this log line)`);
    process.exit(70);
  });
  process.on('unhandledRejection', (reason) => {
    const e = reason as Error;
    log.error({ code: 'UNHANDLED_REJECTION', err: { message: e?.message ?? String(reason), stack: e?.stack } }, `unhandled promise rejection: ${e?.message ?? String(reason)} (a bug: please report it)`);
  });

  const { afPacketOptions, openQueues } = await import('../threads/devices.js');
  const deviceOptions = afPacketOptions(config, (err) => {
    const e = err as NodeJS.ErrnoException;
    log.warn(
      { code: e.code ?? 'DEVICE_ERROR', err: { message: e.message } },
      `${e.message}${e.code !== undefined && DEVICE_HINTS[e.code] !== undefined ? ` (${DEVICE_HINTS[e.code]})` : ''}`,
    );
  });
  const cpu = config.cpu ?? { mainCore: null, workers: 0, workerCores: null };
  if (cpu.mainCore !== null) {
    const { threadControl } = await import('../io/af-packet.js');
    const problem = threadControl.pin(cpu.mainCore);
    if (problem !== '') {
      const message = `${cpu.file}:${cpu.line}: cpu { main-core ${cpu.mainCore} }: cannot pin the main thread to CPU ${cpu.mainCore} (${problem}): ${cpuHint()}`;
      log.error({ code: 'CPU_PIN', file: cpu.file, line: cpu.line }, message);
      console.error(`run: ${message}`);
      return 1;
    }
  }
  // With workers the main thread reads no queue: it sends through a send-only socket, and each
  // worker opens the queues placed on it (src/threads/pool.ts). Without, it reads them all.
  const { WorkerPool } = await import('../threads/pool.js');
  const pool = cpu.workers > 0 ? new WorkerPool(config, log, cpu.workers, cpu.workerCores) : null;
  const openDevice = (ifname: string, rxQueues: number): Device =>
    pool !== null
      ? openQueues(ifname, deviceOptions, [], 'none').device
      : openQueues(ifname, deviceOptions, [...Array(rxQueues).keys()], rxQueues > 1 ? 'new' : 'none').device;

  let engine: Engine | null = null;
  try {
    engine = new Engine({
      config,
      log,
      openDevice,
      logRing: ring,
      threads: pool ?? undefined,
      sharedLimits: pool?.shared,
      execute: pool?.execute,
      workers: pool ?? undefined,
      threadLabel: pool !== null ? 'vpp_main' : undefined,
    });
    if (pool !== null) {
      await pool.start(cpu.mainCore);
      pool.attach(engine);
    }
    await engine.start();
  } catch (err) {
    const f = startFailure(err, engine);
    log.error({ code: f.code, ...f.fields }, f.message);
    console.error(`run: ${f.message}`);
    if (!(err instanceof EngineConfigError)) await engine?.stop();
    return 1;
  }
  const running = engine;
  log.info(
    { event: 'started', capabilities: effectiveCapabilities(), uid: process.getuid?.(), ...running.summary() },
    'vpp-server dataplane running',
  );

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ code: 'SECOND_SIGNAL', signal }, `second ${signal} during the drain: exiting at once, open connections are dropped`);
        process.exit(1);
      }
      stopping = true;
      log.info(
        { event: 'draining', signal, graceSeconds: running.shutdownGraceMs / 1000 },
        `${signal}: draining: no new connections, in-flight responses get ${running.shutdownGraceMs / 1000} s (a second signal exits at once)`,
      );
      void (async () => {
        const result = await running.drain();
        if (result.clean) log.info({ event: 'drained', elapsedMs: Math.round(result.elapsedMs) }, 'every connection finished');
        else {
          log.warn(
            { code: 'DRAIN_DEADLINE', remaining: result.remaining, elapsedMs: Math.round(result.elapsedMs) },
            `${result.remaining} connections still open after the grace period: resetting them (raise vpp-server { shutdown-grace } and terminationGracePeriodSeconds if downloads need longer)`,
          );
        }
        await running.stop();
        log.info({ event: 'stopped' }, 'stopped');
        resolve(0);
        // Nothing may keep the process alive past this point.
        setImmediate(() => process.exit(0));
      })().catch((err: Error) => {
        log.error({ code: 'STOP_FAILED', err: { message: err.message, stack: err.stack } }, `stopping failed: ${err.message}`);
        process.exit(1);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
