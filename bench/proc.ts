/** Running commands for the bench: async (so Ctrl-C is handled between steps), with timeouts, never throwing. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface RunResult {
  argv: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
  /** spawn itself failed (command missing …) */
  error?: string;
}

const running = new Set<ChildProcess>();

/** Runs a command to completion; the result says how it ended (never throws). */
export function runAsync(argv: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let spawnError: string | undefined;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = err.code === 'ENOENT' ? `${argv[0]} is not installed` : err.message;
    });
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      running.delete(child);
      resolve({ argv, code, signal, stdout, stderr, timedOut, ms: Date.now() - started, error: spawnError });
    });
  });
}

/** Runs a command and returns its stdout; throws with stderr when it fails. */
export async function mustRun(argv: string[], timeoutMs = 30_000): Promise<string> {
  const r = await runAsync(argv, { timeoutMs });
  if (r.error !== undefined || r.code !== 0) {
    const why = r.error ?? (r.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${r.code ?? r.signal}`);
    throw new Error(`command failed (${why}): ${argv.join(' ')}${r.stderr.trim() ? `\n  ${r.stderr.trim().split('\n').join('\n  ')}` : ''}`);
  }
  return r.stdout;
}

/** Kills every command still running (used by the signal handlers). */
export function killAllRunning(): void {
  for (const c of running) c.kill('SIGKILL');
}

/** True while the process exists and is not a zombie. */
export { alive, sleepSync, stopProcess as stopPid } from '../src/lab/exec.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const t0 = Date.now();
/** One line of progress on stderr, with the time since the bench started. */
export function progress(message: string): void {
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);
}

/**
 * CPU seconds (user + system) used so far by `pid` and every process below it (a server's
 * workers; the `ip netns exec` / setpriv chain execs into the server itself), from /proc.
 */
export function treeCpuSeconds(pid: number): number {
  const parentOf = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid … utime(14) stime(15): comm may hold spaces and parentheses.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parentOf.set(Number(e), Number(f[1]));
    ticks.set(Number(e), Number(f[11]) + Number(f[12]));
  }
  let sum = 0;
  for (const [p, t] of ticks) {
    for (let x: number | undefined = p; x !== undefined && x > 1; x = parentOf.get(x)) {
      if (x === pid) {
        sum += t;
        break;
      }
    }
  }
  return sum / CLOCK_TICKS;
}

/** USER_HZ: 100 on every Linux architecture the bench runs on. */
const CLOCK_TICKS = 100;
