/**
 * Structured JSON logs (one object a line) through pino. Warnings and errors carry a `code`
 * and say what to do. The last lines are also kept in a ring buffer (`show log`).
 */
import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/** The last `capacity` log lines (JSON strings, without the newline), oldest first. */
export class LogRing {
  private readonly lines: string[];
  private next = 0;
  private size = 0;
  /** Lines written since start, dropped from the ring or not. */
  total = 0;

  constructor(readonly capacity = 1000) {
    this.lines = new Array<string>(capacity);
  }

  push(line: string): void {
    this.lines[this.next] = line.endsWith('\n') ? line.slice(0, -1) : line;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    this.total++;
  }

  /** The last `n` lines (all by default), oldest first. */
  last(n = this.size): string[] {
    const k = Math.max(0, Math.min(n, this.size));
    const out: string[] = [];
    for (let i = k; i > 0; i--) out.push(this.lines[(this.next - i + this.capacity) % this.capacity]);
    return out;
  }

  clear(): void {
    this.next = 0;
    this.size = 0;
  }
}

export interface LoggerOptions {
  level?: string;
  /** A file path or a file descriptor; stdout (1) by default. */
  destination?: string | number;
  name?: string;
  /** Keeps a copy of every line written, for `show log`. */
  ring?: LogRing;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.VPP_SERVER_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(level)) {
    throw Object.assign(new Error(`log-level '${level}' is not valid (valid: ${LOG_LEVELS.join(', ')})`), { code: 'ERR_LOG_LEVEL' });
  }
  const destination = pino.destination({ dest: options.destination ?? 1, sync: true, mkdir: typeof options.destination === 'string' });
  const ring = options.ring;
  const pinoOptions: pino.LoggerOptions = {
    name: options.name ?? 'vpp-server',
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (ring !== undefined) {
    pinoOptions.hooks = {
      streamWrite(line: string): string {
        ring.push(line);
        return line;
      },
    };
  }
  return pino(pinoOptions, destination);
}

/** One JSON log line as `show log` prints it: time, level, message, then the other fields. */
export function formatLogLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time, level, msg, pid: _pid, name: _name, hostname: _hostname, ...rest } = o;
  const extra = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${String(time ?? '')} ${String(level ?? '').padEnd(5)} ${String(msg ?? '')}${extra === '' ? '' : `  ${extra}`}`;
}
