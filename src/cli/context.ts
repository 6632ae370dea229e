/** What CLI commands operate on. */
import type { Dataplane } from '../dataplane/dataplane.js';

export interface CliContext {
  readonly dp: Dataplane;
  /** When the dataplane started, ms since the epoch (for `show version` / uptime). */
  readonly startedAt: number;
  /** Extra sections that other subsystems add to `show errors` (TCP, HTTP). */
  readonly errorSources: ErrorSource[];
  /** Called by `quit` in an interactive session; not available in startup-config. `signal`
   *  aborts when the client goes away, so that a long command (ping) stops early. */
  readonly session?: { close(): void; readonly signal?: AbortSignal };
}

export interface ErrorSource {
  node: string;
  counts(): Record<string, number>;
  clear?(): void;
}
