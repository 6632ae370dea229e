/** Running the system's network tools for the lab, with errors that say which command failed. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export class CommandFailed extends Error {
  constructor(
    readonly argv: string[],
    readonly status: number | null,
    readonly stderr: string,
  ) {
    super(`command failed (exit ${status}): ${argv.join(' ')}${stderr ? `\n  ${stderr.trim().split('\n').join('\n  ')}` : ''}`);
    this.name = 'CommandFailed';
  }
}

/** Runs a command; returns stdout; throws CommandFailed with its stderr. */
export function run(argv: string[], options: { input?: string; timeoutMs?: number } = {}): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', input: options.input, timeout: options.timeoutMs ?? 30_000 });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new CommandFailed(argv, null, code === 'ENOENT' ? `${argv[0]} is not installed (make deps installs it)` : r.error.message);
  }
  if (r.status !== 0) throw new CommandFailed(argv, r.status, r.stderr);
  return r.stdout;
}

/** Runs a command and reports only whether it succeeded. */
export function succeeds(argv: string[], timeoutMs = 30_000): boolean {
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', timeout: timeoutMs });
  return r.status === 0;
}

/** Runs a command inside a network namespace. */
export function inNs(ns: string, argv: string[], options: { input?: string; timeoutMs?: number } = {}): string {
  return run(['ip', 'netns', 'exec', ns, ...argv], options);
}

export function listNamespaces(): string[] {
  const out = execFileSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' }).trim();
  if (out === '') return [];
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name);
}

/** Polls `check` until it returns a value other than undefined, or fails after the deadline. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True while the process exists and is not a zombie waiting for its parent. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL. Synchronous so it also works from a signal handler. */
export function stopProcess(pid: number, graceMs = 3000): void {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return;
    sleepSync(20);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Stops everything still running in the given namespaces and deletes them; returns those it deleted. */
export function deleteNamespaces(names: string[]): string[] {
  const existing = new Set(listNamespaces());
  const removed: string[] = [];
  for (const n of names) {
    if (!existing.has(n)) continue;
    const pids = run(['ip', 'netns', 'pids', n]).trim().split('\n').filter(Boolean).map(Number);
    for (const pid of pids) stopProcess(pid);
    run(['ip', 'netns', 'del', n]);
    removed.push(n);
  }
  return removed;
}
