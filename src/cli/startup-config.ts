/** Runs a startup-config file (one CLI command a line) and stops at the first bad line. */
import { readFileSync } from 'node:fs';
import type { CliContext } from './context.js';
import { executorOf, type LineExecutor } from './cli.js';
import type { CommandRegistry } from './registry.js';
import { ConfigError } from './vpp-conf.js';

export interface ExecutedLine {
  line: number;
  command: string;
  output: string;
}

export async function runStartupConfig(
  registry: CommandRegistry<CliContext> | LineExecutor,
  file: string,
  ctx: CliContext,
  onLine: (executed: ExecutedLine) => void = () => {},
): Promise<void> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, 0, `cannot read startup-config: ${(err as Error).message}`);
  }
  const run = executorOf(registry);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const command = lines[i].trim();
    if (command === '' || command.startsWith('#') || command.startsWith('comment')) continue;
    const result = await run(command, ctx);
    if (!result.ok) throw new ConfigError(file, i + 1, result.output);
    onLine({ line: i + 1, command, output: result.output });
  }
}
