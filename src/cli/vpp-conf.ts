/**
 * Reader for VPP's startup configuration file (vpp.conf): stanzas of words and nested
 * braces, e.g. `unix { nodaemon cli-listen /run/vpp/cli.sock startup-config /conf/startup.conf }`.
 * The stanzas this engine uses are interpreted; the others are accepted with one warning each.
 */
import { readFileSync } from 'node:fs';
import { parseManagementAddress } from '../ops/management.js';
import { CONGESTION_CONTROLS } from '../tcp/congestion.js';
import { MEMORY_KEYS, MEMORY_VALUE_CHECKS } from './memory-conf.js';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = 'ConfigError';
  }
}

interface Token {
  text: string;
  line: number;
}

/** An item of a stanza: a word, optionally followed by a nested block. */
export interface ConfItem {
  word: string;
  line: number;
  block?: ConfItem[];
}

export interface EngineConfig {
  /** Path of the CLI socket (`unix { cli-listen … }`). */
  cliListen?: string;
  /** Commands to run at start-up (`unix { startup-config … }`). */
  startupConfig?: string;
  nodaemon: boolean;
  /** Where log lines go (`unix { log … }`); stdout when absent. */
  log?: string;
  /** `cpu { main-core <n> workers <k> corelist-workers <list> }` (absent: no workers). */
  cpu?: CpuConfig;
  /**
   * Our own stanza: `vpp-server { ring-version 3 block-size 262144 … management 0.0.0.0:9100
   * tcp-time-wait 60 tcp-time-wait-max 50000 }`.
   */
  engine: Record<string, string>;
  warnings: string[];
}

/** VPP's `cpu { }` stanza, as far as this engine honours it (see docs/ARCHITECTURE.md, Threads). */
export interface CpuConfig {
  /** The CPU the main (control-plane) thread is pinned to; null: not pinned. */
  mainCore: number | null;
  /** Worker threads (0: the main thread reads every queue, as VPP without workers). */
  workers: number;
  /** The CPU of each worker (corelist-workers), or null: workers are not pinned. */
  workerCores: number[] | null;
  /** Where the stanza was, for errors found later (a CPU this process may not use). */
  file?: string;
  line?: number;
}

/** Most worker threads: each holds a dataplane, its rings and a TCP stack. */
export const MAX_WORKERS = 64;

/** `2-3,5` → [2, 3, 5] (VPP's corelist syntax); throws a message on a bad list. */
export function parseCoreList(text: string): number[] {
  const cores: number[] = [];
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) throw new Error(`\`${text}' is not a CPU list (expected e.g. 2-3,5)`);
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (hi < lo || hi > 1023) throw new Error(`\`${part}' is not a CPU range (low-high, CPUs 0-1023)`);
    for (let c = lo; c <= hi; c++) if (!cores.includes(c)) cores.push(c);
  }
  return cores;
}

const CPU_IGNORED = new Set(['skip-cores', 'thread-prefix', 'scheduler-policy', 'scheduler-priority', 'numa-heap-size', 'coremask-workers']);
const CPU_FLAGS_IGNORED = new Set(['use-pthreads']);

function readCpu(file: string, stanza: ConfItem, config: EngineConfig): void {
  const items = stanza.block ?? [];
  const cpu = (config.cpu ??= { mainCore: null, workers: 0, workerCores: null });
  let workers: number | null = null;
  let workersLine = 0;
  let list: number[] | null = null;
  let listLine = 0;
  for (let i = 0; i < items.length; i++) {
    const key = items[i].word;
    if (CPU_FLAGS_IGNORED.has(key)) {
      config.warnings.push(`${file}:${items[i].line}: cpu option '${key}' has no meaning for the vpp-server engine (worker threads are Node worker_threads); ignored`);
      continue;
    }
    const valid = ['main-core', 'workers', 'corelist-workers', ...CPU_IGNORED, ...CPU_FLAGS_IGNORED].sort().join(', ');
    if (!['main-core', 'workers', 'corelist-workers'].includes(key) && !CPU_IGNORED.has(key)) {
      throw new ConfigError(file, items[i].line, `unknown cpu option '${key}' (valid: ${valid})`);
    }
    const value = valueAfter(file, items, i, key);
    const line = items[i + 1].line;
    i++;
    if (CPU_IGNORED.has(key)) {
      config.warnings.push(`${file}:${line}: cpu option '${key} ${value}' is ignored by the vpp-server engine`);
    } else if (key === 'main-core') {
      if (!/^\d+$/.test(value) || Number(value) > 1023) throw new ConfigError(file, line, `cpu option 'main-core ${value}': expected a CPU number 0-1023`);
      cpu.mainCore = Number(value);
    } else if (key === 'workers') {
      if (!/^\d+$/.test(value) || Number(value) > MAX_WORKERS) throw new ConfigError(file, line, `cpu option 'workers ${value}': expected an integer 0-${MAX_WORKERS}`);
      workers = Number(value);
      workersLine = line;
    } else {
      try {
        list = parseCoreList(value);
      } catch (err) {
        throw new ConfigError(file, line, `cpu option 'corelist-workers': ${(err as Error).message}`);
      }
      if (list.length > MAX_WORKERS) throw new ConfigError(file, line, `cpu option 'corelist-workers ${value}': at most ${MAX_WORKERS} workers`);
      listLine = line;
    }
  }
  if (list !== null) {
    // VPP: "main-core must be specified when using corelist-* or coremask-* attribute".
    if (cpu.mainCore === null) throw new ConfigError(file, listLine, 'main-core must be specified when using corelist-workers (e.g. cpu { main-core 0 corelist-workers 1-2 })');
    if (list.includes(cpu.mainCore)) throw new ConfigError(file, listLine, `corelist-workers includes main-core ${cpu.mainCore}: give the workers other CPUs`);
    if (workers !== null && workers !== list.length) {
      throw new ConfigError(file, workersLine, `workers ${workers} disagrees with corelist-workers, which names ${list.length} CPUs (give one of them, or the same count)`);
    }
    cpu.workers = list.length;
    cpu.workerCores = list;
  } else if (workers !== null) {
    cpu.workers = workers;
  }
  cpu.file = file;
  cpu.line = stanza.line;
}

function tokenizeConf(text: string): Token[] {
  const tokens: Token[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const hash = raw.indexOf('#');
    const line = hash >= 0 ? raw.slice(0, hash) : raw;
    for (const m of line.matchAll(/[{}]|[^\s{}]+/g)) tokens.push({ text: m[0], line: index + 1 });
  });
  return tokens;
}

function parseBlock(file: string, tokens: Token[], pos: { i: number }, depth: number): ConfItem[] {
  const items: ConfItem[] = [];
  while (pos.i < tokens.length) {
    const t = tokens[pos.i];
    if (t.text === '}') {
      if (depth === 0) throw new ConfigError(file, t.line, "unexpected '}' (no block is open)");
      pos.i++;
      return items;
    }
    if (t.text === '{') throw new ConfigError(file, t.line, "unexpected '{' (a block must follow a name, e.g. 'unix {')");
    pos.i++;
    const item: ConfItem = { word: t.text, line: t.line };
    if (pos.i < tokens.length && tokens[pos.i].text === '{') {
      pos.i++;
      item.block = parseBlock(file, tokens, pos, depth + 1);
    }
    items.push(item);
  }
  if (depth > 0) {
    const last = tokens[tokens.length - 1];
    throw new ConfigError(file, last?.line ?? 1, "missing '}' at end of file");
  }
  return items;
}

export function parseConfText(file: string, text: string): ConfItem[] {
  return parseBlock(file, tokenizeConf(text), { i: 0 }, 0);
}

const UNIX_FLAGS = new Set(['nodaemon', 'interactive', 'nosyslog', 'coredump-size', 'full-coredump']);
const UNIX_VALUES = new Set(['cli-listen', 'startup-config', 'log', 'gid', 'cli-prompt', 'cli-history-limit', 'pidfile', 'runtime-dir', 'exec', 'cli-no-pager', 'cli-pager-buffer-limit', 'poll-sleep-usec']);
const ENGINE_KEYS = new Set([
  'ring-version',
  'block-size',
  'block-count',
  'frame-size',
  'management',
  'metrics-token-file',
  'log-level',
  'neighbor-age',
  'shutdown-grace',
  'stall-threshold',
  'tx-offload',
  'tcp-time-wait',
  'tcp-time-wait-max',
  'tcp-syn-cookies',
  'tcp-congestion-control',
  ...MEMORY_KEYS,
]);

/** Reads and interprets vpp.conf. */
export function readVppConf(file: string, text = readFileSync(file, 'utf8')): EngineConfig {
  const items = parseConfText(file, text);
  const config: EngineConfig = { nodaemon: false, cpu: { mainCore: null, workers: 0, workerCores: null }, engine: {}, warnings: [] };
  for (const stanza of items) {
    if (stanza.block === undefined) {
      throw new ConfigError(file, stanza.line, `expected a stanza such as 'unix { … }', found '${stanza.word}' without a block`);
    }
    if (stanza.word === 'unix') {
      readUnix(file, stanza.block, config);
    } else if (stanza.word === 'cpu') {
      readCpu(file, stanza, config);
    } else if (stanza.word === 'vpp-server') {
      readEngine(file, stanza.block, config);
    } else {
      config.warnings.push(`${file}:${stanza.line}: stanza '${stanza.word}' has no meaning for the vpp-server engine; ignored`);
    }
  }
  return config;
}

function valueAfter(file: string, items: ConfItem[], i: number, key: string): string {
  const v = items[i + 1];
  if (v === undefined || v.block !== undefined) throw new ConfigError(file, items[i].line, `'${key}' needs a value`);
  return v.word;
}

function readUnix(file: string, items: ConfItem[], config: EngineConfig): void {
  for (let i = 0; i < items.length; i++) {
    const key = items[i].word;
    if (key === 'nodaemon') config.nodaemon = true;
    else if (UNIX_FLAGS.has(key)) continue;
    else if (UNIX_VALUES.has(key)) {
      const value = valueAfter(file, items, i, key);
      i++;
      if (key === 'cli-listen') {
        if (/^[\d.]+:\d+$/.test(value) || value.startsWith('localhost:')) {
          throw new ConfigError(file, items[i].line, `cli-listen ${value}: only a Unix socket path is supported (e.g. /run/vpp/cli.sock)`);
        }
        config.cliListen = value;
      } else if (key === 'startup-config') config.startupConfig = value;
      else if (key === 'log') config.log = value;
      else config.warnings.push(`${file}:${items[i].line}: unix option '${key}' is ignored by the vpp-server engine`);
    } else {
      throw new ConfigError(
        file,
        items[i].line,
        `unknown unix option '${key}' (valid: ${[...UNIX_FLAGS, ...UNIX_VALUES].sort().join(', ')})`,
      );
    }
  }
}

function readEngine(file: string, items: ConfItem[], config: EngineConfig): void {
  for (let i = 0; i < items.length; i++) {
    const key = items[i].word;
    if (!ENGINE_KEYS.has(key)) {
      throw new ConfigError(file, items[i].line, `unknown vpp-server option '${key}' (valid: ${[...ENGINE_KEYS].sort().join(', ')})`);
    }
    const value = valueAfter(file, items, i, key);
    const problem = ENGINE_VALUE_CHECKS[key]?.(value);
    if (problem !== undefined) throw new ConfigError(file, items[i + 1].line, `vpp-server option '${key} ${value}': ${problem}`);
    config.engine[key] = value;
    i++;
  }
}

const integerIn = (min: number, max: number) => (v: string) =>
  /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max ? undefined : `expected an integer ${min}-${max}`;
const secondsUpTo = (max: number) => (v: string) =>
  /^\d+(\.\d+)?$/.test(v) && Number(v) <= max ? undefined : `expected seconds between 0 and ${max}`;

/** What each value of the vpp-server stanza must look like; undefined = valid. */
const ENGINE_VALUE_CHECKS: Record<string, (value: string) => string | undefined> = {
  'ring-version': (v) => (v === '2' || v === '3' ? undefined : 'expected 2 (TPACKET_V2) or 3 (TPACKET_V3)'),
  'block-size': integerIn(4096, 1 << 30),
  'block-count': integerIn(1, 1 << 20),
  'frame-size': integerIn(128, 1 << 20),
  'tx-offload': (v) => (v === 'on' || v === 'off' ? undefined : 'expected on or off'),
  // as Linux's net.ipv4.tcp_syncookies 1 / 0 / 2: when the SYN queue is full (default), never, for every SYN
  'tcp-syn-cookies': (v) => (v === 'on' || v === 'off' || v === 'always' ? undefined : 'expected on (when the SYN queue is full), off or always'),
  'tcp-congestion-control': (v) => ((CONGESTION_CONTROLS as readonly string[]).includes(v) ? undefined : `expected ${CONGESTION_CONTROLS.join(' or ')} (the default is cubic)`),
  'log-level': (v) => (['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(v) ? undefined : 'expected fatal, error, warn, info, debug, trace or silent'),
  'neighbor-age': secondsUpTo(86400),
  'shutdown-grace': secondsUpTo(3600),
  'stall-threshold': secondsUpTo(3600),
  'tcp-time-wait': secondsUpTo(3600),
  'tcp-time-wait-max': integerIn(0, 10_000_000),
  ...MEMORY_VALUE_CHECKS,
  management: (v) => {
    try {
      parseManagementAddress(v);
      return undefined;
    } catch (err) {
      return (err as Error).message.replace(/^management \S+: /, '');
    }
  },
};
