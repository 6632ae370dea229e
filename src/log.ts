/**
 * Structured JSON logs (one object a line) through pino. Warnings and errors carry a `code`
 * and say what to do.
 */
import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level?: string; destination?: string | number; name?: string } = {}): Logger {
  const destination = pino.destination({ dest: options.destination ?? 1, sync: true });
  return pino(
    {
      name: options.name ?? 'vpp-server',
      level: options.level ?? process.env.VPP_SERVER_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
