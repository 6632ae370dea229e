/** Messages between the main thread (the control plane) and a worker thread. */
import type { ExecuteResult } from '../cli/cli.js';
import type { ErrorRow } from '../cli/show-commands.js';
import type { CpuConfig, EngineConfig } from '../cli/vpp-conf.js';
import type { FanoutPlan } from './devices.js';

export interface WorkerData {
  /** 1…W (thread index; the worker is vpp_wk_<index - 1>). */
  index: number;
  workers: number;
  config: EngineConfig;
  /** The CPU to pin to (corelist-workers), or null. */
  core: number | null;
  /** The BroadcastChannel on which neighbours heard by one thread reach the others. */
  neighborChannel: string;
  /** The process-wide limits (tcp/shared-limits.ts), made by the main thread; the worker attaches as thread `index`. */
  sharedLimits: SharedArrayBuffer;
}

/** The queues a worker opens while it runs `create host-interface …`. */
export interface OpenPlan {
  queues: number[];
  fanout: FanoutPlan;
}

export type ToWorker =
  | { t: 'exec'; id: number; line: string; plan?: OpenPlan }
  | { t: 'rows'; id: number }
  | { t: 'info'; id: number }
  | { t: 'metrics'; id: number }
  | { t: 'drain'; id: number; graceMs: number }
  /** The worker's pcap capture: its count, or (take) its records, ending its capture. */
  | { t: 'pcap'; id: number; take: boolean }
  | { t: 'stop'; id: number };

/** Interface counters by sw_if_index. */
export type CounterSnapshot = Record<number, Record<string, number>>;

export type FromWorker =
  | { t: 'ready'; lwp: number; lcore: number | null; pinError: string }
  | { t: 'failed'; message: string; code: string }
  | ({ t: 'done'; id: number; fanoutId?: number | null } & ExecuteResult)
  | { t: 'rows'; id: number; errors: ErrorRow[]; counters: CounterSnapshot }
  | { t: 'info'; id: number; lwp: number; cpuNow: number }
  | { t: 'metrics'; id: number; json: unknown[] }
  | { t: 'drained'; id: number; clean: boolean; remaining: number }
  | { t: 'pcap'; id: number; captured: number; records: Uint8Array | null }
  | { t: 'stopped'; id: number }
  | { t: 'echo'; src: number; id: number; seq: number; ttl: number; len: number };

/** A neighbour one thread heard, for the others (neighbor.ts `share`). */
export interface SharedNeighbor {
  from: number;
  sw: number;
  ip: number;
  mac: Uint8Array;
  reply: boolean;
  create: boolean;
}

export type { CpuConfig };
