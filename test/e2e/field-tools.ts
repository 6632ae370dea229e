/** Small process tools for the field tests: commands run without blocking, and line-wise captures. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the event loop (the test keeps reading its other children). */
export function runAsync(argv: string[], timeoutMs: number): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running child whose stdout is read line by line; waitForLine polls with a deadline. */
export class LineProcess {
  readonly lines: string[] = [];
  private err = '';
  private exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;
  private wake: (() => void) | null = null;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      this.lines.push(...parts);
      this.poke();
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.err += d.toString();
      this.poke();
    });
    this.exited = new Promise((resolve) =>
      child.once('close', (code) => {
        if (partial !== '') this.lines.push(partial);
        this.exitCode = code;
        this.poke();
        resolve(code);
      }),
    );
  }

  static start(name: string, argv: string[]): LineProcess {
    return new LineProcess(name, spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  get stderr(): string {
    return this.err;
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Waits (up to timeoutMs) for a line that `match` accepts, or for stderr to contain `inStderr`. */
  async waitFor(what: string, match: { line?: (l: string) => boolean; stderr?: string }, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (match.line !== undefined) {
        const hit = this.lines.find(match.line);
        if (hit !== undefined) return hit;
      }
      if (match.stderr !== undefined && this.err.includes(match.stderr)) return match.stderr;
      if (this.exitCode !== undefined) throw new Error(`${this.name} exited (${this.exitCode}) before ${what}: ${this.err.trim()} ${this.lines.join(' | ')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ${this.name}; stderr: ${this.err.trim()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Closes its stdin and waits for it to exit (SIGKILL after graceMs). */
  async finish(graceMs = 5000): Promise<number | null> {
    this.child.stdin?.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }

  kill(): void {
    if (this.exitCode === undefined) this.child.kill('SIGKILL');
  }
}
