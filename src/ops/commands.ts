/** CLI commands of the operations side: `show log`, `show health`, `debug stall`. */
import type { Command } from '../cli/cli.js';
import { CommandError } from '../cli/registry.js';
import { formatLogLine, type LogRing } from '../log.js';
import type { CheckResult } from './health.js';

export interface OpsCommandSources {
  ring?: LogRing;
  live(): CheckResult;
  ready(): CheckResult;
  management(): string;
}

/** Longest stall `debug stall` will cause. */
export const MAX_DEBUG_STALL_MS = 60_000;

export function opsCommands(src: OpsCommandSources): Command[] {
  return [
    {
      path: 'show log',
      help: 'show log [<count>] [json]: the last log lines (default 50), oldest first',
      run(args) {
        let count = 50;
        let json = false;
        while (!args.done) {
          if (args.accept('json')) json = true;
          else {
            const word = args.next('count');
            if (!/^\d+$/.test(word)) throw new CommandError(`'${word}' is not a count (e.g. show log 100)`);
            count = Number(word);
          }
        }
        if (src.ring === undefined) return 'no log buffer';
        const lines = src.ring.last(count);
        return (json ? lines : lines.map(formatLogLine)).join('\n');
      },
    },
    {
      path: 'show health',
      help: 'show health: liveness and readiness as /healthz and /readyz report them',
      run(args) {
        args.end();
        const fmt = (name: string, r: CheckResult) => [`${name}: ${r.ok ? 'ok' : 'FAIL'}`, ...r.reasons.map((x) => `  ${x}`)];
        return [...fmt('live (/healthz)', src.live()), ...fmt('ready (/readyz)', src.ready()), `management endpoint: ${src.management()}`].join('\n');
      },
    },
    {
      path: 'debug stall',
      help: `debug stall <ms>: block the event loop for <ms> (at most ${MAX_DEBUG_STALL_MS}) to test liveness probes`,
      run(args) {
        const word = args.next('milliseconds');
        args.end();
        const ms = Number(word);
        if (!Number.isInteger(ms) || ms < 0 || ms > MAX_DEBUG_STALL_MS) throw new CommandError(`'${word}' is not a duration in ms (valid: 0-${MAX_DEBUG_STALL_MS})`);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
        return `stalled the event loop for ${ms} ms`;
      },
    },
  ];
}
