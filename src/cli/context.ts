/** What CLI commands operate on. */
import type { Dataplane } from '../dataplane/dataplane.js';
import type { ThreadView } from './threads.js';

export interface CliContext {
  readonly dp: Dataplane;
  /** When the dataplane started, ms since the epoch (for `show version` / uptime). */
  readonly startedAt: number;
  /** Extra sections that other subsystems add to `show errors` (TCP, HTTP). */
  readonly errorSources: ErrorSource[];
  /** Extra lines of `show runtime` (e.g. tls-handshake) beside the dataplane's graph nodes. */
  readonly runtimeSources?: readonly RuntimeSource[];
  /** Threads and RX queue placement (absent: one thread reads every queue). */
  readonly threads?: ThreadView;
  /** Called by `quit` in an interactive session; not available in startup-config. `signal`
   *  aborts when the client goes away, so that a long command (ping) stops early. */
  readonly session?: { close(): void; readonly signal?: AbortSignal };
}

export interface ErrorSource {
  node: string;
  counts(): Record<string, number>;
  clear?(): void;
  /** Reasons the management endpoint (/metrics) shows only as their sum `as`, never one by one
   *  (they are a side channel there, see tcp/private-reasons.ts); `show errors` shows them all. */
  private?: { reasons: ReadonlySet<string> };
}

export interface RuntimeSource {
  name: string;
  /** calls, vectors (records or connections) and nanoseconds, as a graph node's runtime. */
  runtime(): { calls: number; vectors: number; nanos: number };
  clear(): void;
}
