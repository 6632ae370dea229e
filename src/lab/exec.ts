/** Running the system's network tools for the lab, with errors that say which command failed. */
import { execFileSync, spawnSync } from 'node:child_process';

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
