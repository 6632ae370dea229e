/**
 * The memory keys of the `vpp-server { }` stanza (issue 9 "Memory accounting"): the global
 * budget for buffered TCP/HTTP bytes, the per-source limits and the minimum send rate; and the
 * default budget, from the memory limit of our cgroup (the pod's) or the machine's RAM.
 *
 *   vpp-server {
 *     memory-budget 25%            # of the memory limit (default), or a size: 256m, 1g, 65536
 *     source-max-connections 1024  # per client address (default)
 *     source-max-memory 25%        # of the budget (default), or a size
 *     min-send-bytes 16k           # a reader must take this much per window (0 = off)
 *     min-send-window 30           # seconds
 *   }
 *
 * Why 25% of the limit: the budget covers only bytes buffered for peers. The same process also
 * holds the connection objects, the file cache (cache-size), TLS state and V8's own heap, and
 * RSS runs above the bytes charged (allocator slack, copies in flight); the kernel kills the pod
 * at memory.max, so the budget stays well inside it.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { formatBytes } from '../tcp/memory-show.js';

export const MEMORY_KEYS = ['memory-budget', 'source-max-connections', 'source-max-memory', 'min-send-bytes', 'min-send-window'] as const;

export const MEMORY_DEFAULTS = {
  budgetPercent: 25,
  sourceMaxConnections: 1024,
  sourcePercent: 25,
  minSendBytes: 16 * 1024,
  minSendWindowSeconds: 30,
};

const SIZE = /^(\d+)([kmg]?)$/i;
const PERCENT = /^(\d+(?:\.\d+)?)%$/;

/** Bytes of "65536", "64k", "256m", "1g" (powers of 1024), or undefined. */
export function parseSize(v: string): number | undefined {
  const m = SIZE.exec(v);
  if (m === null) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}

function percent(v: string): number | undefined {
  const m = PERCENT.exec(v);
  if (m === null) return undefined;
  const p = Number(m[1]);
  return p > 0 && p <= 100 ? p : undefined;
}

const sizeOrPercent = (min: number, what: string) => (v: string) => {
  if (percent(v) !== undefined) return undefined;
  const n = parseSize(v);
  return n !== undefined && n >= min ? undefined : `expected a size of at least ${min} bytes (e.g. 256m, 1g, 65536) or a percentage of ${what} (e.g. 25%)`;
};

/** What each memory key's value must look like; undefined = valid. */
export const MEMORY_VALUE_CHECKS: Record<string, (value: string) => string | undefined> = {
  'memory-budget': sizeOrPercent(1024 * 1024, 'the memory limit'),
  'source-max-connections': (v) => (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 1_000_000 ? undefined : 'expected an integer 1-1000000'),
  'source-max-memory': sizeOrPercent(64 * 1024, 'memory-budget'),
  'min-send-bytes': (v) => (parseSize(v) !== undefined ? undefined : 'expected a size (e.g. 16k; 0 turns the minimum send rate off)'),
  'min-send-window': (v) => (/^\d+(\.\d+)?$/.test(v) && Number(v) >= 0.1 && Number(v) <= 3600 ? undefined : 'expected seconds between 0.1 and 3600'),
};

export interface MemoryLimit {
  bytes: number;
  /** Where it came from, e.g. "cgroup v2 memory.max". */
  source: string;
}

/** Reads a file, undefined when it does not exist (tests pass their own). */
export type ReadFile = (path: string) => string | undefined;

const readOrUndefined: ReadFile = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** cgroup v1 writes a number near 2^63 for "no limit". */
const V1_UNLIMITED = 2 ** 60;

/**
 * The memory limit we run under: the tightest cgroup v2 memory.max on our cgroup's path, else
 * cgroup v1's memory.limit_in_bytes, else the machine's RAM; never more than the RAM.
 */
export function detectMemoryLimit(read: ReadFile = readOrUndefined, ram = totalmem()): MemoryLimit {
  const self = read('/proc/self/cgroup') ?? '';
  let v2Path: string | undefined;
  let v1Path: string | undefined;
  for (const line of self.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (line.startsWith('0::')) v2Path = path;
    else if (controllers.split(',').includes('memory')) v1Path = path;
  }
  // cgroup v2: in a pod (cgroup namespace) our cgroup is the root of /sys/fs/cgroup; on a host,
  // the path of /proc/self/cgroup. A limit on any ancestor applies too: take the tightest.
  let best: MemoryLimit | undefined;
  if (v2Path !== undefined) {
    const parts = v2Path.split('/').filter((p) => p !== '');
    for (let i = parts.length; i >= 0; i--) {
      const dir = '/sys/fs/cgroup' + (i === 0 ? '' : '/' + parts.slice(0, i).join('/'));
      const raw = read(`${dir}/memory.max`)?.trim();
      if (raw === undefined || raw === 'max' || !/^\d+$/.test(raw)) continue;
      const n = Number(raw);
      if (best === undefined || n < best.bytes) best = { bytes: n, source: 'cgroup v2 memory.max' };
    }
  }
  if (best === undefined) {
    for (const dir of ['/sys/fs/cgroup/memory', ...(v1Path !== undefined && v1Path !== '/' ? [`/sys/fs/cgroup/memory${v1Path}`] : [])]) {
      const raw = read(`${dir}/memory.limit_in_bytes`)?.trim();
      if (raw === undefined || !/^\d+$/.test(raw)) continue;
      const n = Number(raw);
      if (n >= V1_UNLIMITED) continue;
      if (best === undefined || n < best.bytes) best = { bytes: n, source: 'cgroup v1 memory.limit_in_bytes' };
    }
  }
  if (best === undefined || best.bytes > ram) return { bytes: ram, source: 'RAM (no cgroup memory limit)' };
  return best;
}

export interface MemoryConfig {
  budget: number;
  /** The memory limit we run under (cgroup memory.max or RAM): what a percentage budget is of, and what sizes the source table (shared-limits.ts sourceCapacityFor). */
  limit: number;
  /** How the budget was chosen, for the start-up log and `show tcp memory`. */
  origin: string;
  sourceMaxConnections: number;
  sourceMaxBytes: number;
  minSendBytes: number;
  minSendWindowMs: number;
}

/** The memory settings from the stanza's (already validated) values and the detected limit. */
export function resolveMemoryConfig(engine: Record<string, string>, detect: () => MemoryLimit = () => detectMemoryLimit()): MemoryConfig {
  const raw = engine['memory-budget'] ?? `${MEMORY_DEFAULTS.budgetPercent}%`;
  let budget: number;
  let origin: string;
  const p = percent(raw);
  const limit = detect();
  if (p !== undefined) {
    budget = Math.floor((limit.bytes * p) / 100);
    origin = `${p}% of ${limit.source} ${formatBytes(limit.bytes)}${engine['memory-budget'] === undefined ? ', the default' : ''}`;
  } else {
    budget = parseSize(raw)!;
    origin = 'memory-budget in vpp-server { }';
  }
  const rawSource = engine['source-max-memory'] ?? `${MEMORY_DEFAULTS.sourcePercent}%`;
  const sp = percent(rawSource);
  const sourceMaxBytes = sp !== undefined ? Math.floor((budget * sp) / 100) : parseSize(rawSource)!;
  return {
    budget,
    limit: limit.bytes,
    origin,
    sourceMaxConnections: Number(engine['source-max-connections'] ?? MEMORY_DEFAULTS.sourceMaxConnections),
    sourceMaxBytes,
    minSendBytes: parseSize(engine['min-send-bytes'] ?? '') ?? MEMORY_DEFAULTS.minSendBytes,
    minSendWindowMs: Number(engine['min-send-window'] ?? MEMORY_DEFAULTS.minSendWindowSeconds) * 1000,
  };
}
