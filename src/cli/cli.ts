/** The command set of the dataplane and the function that runs one command line. */
import { registerInterfaceCommands } from './interface-commands.js';
import { registerIpCommands } from './ip-commands.js';
import { registerIp6Commands } from './ip6-commands.js';
import { registerPingCommand } from './ping-command.js';
import { registerRxModeCommands } from './rx-mode-commands.js';
import { registerShowCommands } from './show-commands.js';
import { registerTraceCommands } from './trace-commands.js';
import type { CliContext } from './context.js';
import { CommandError, CommandRegistry, tokenize, type CommandSpec } from './registry.js';

export type Command = CommandSpec<CliContext>;

export function createRegistry(extra: Command[] = []): CommandRegistry<CliContext> {
  const registry = new CommandRegistry<CliContext>();
  registerShowCommands(registry);
  registerInterfaceCommands(registry);
  registerRxModeCommands(registry);
  registerIpCommands(registry);
  registerIp6Commands(registry);
  registerTraceCommands(registry);
  registerPingCommand(registry);
  registry.register({
    path: 'help',
    help: 'help [<command prefix>]: list commands and their syntax',
    run(args) {
      const prefix = args.words.join(' ');
      return registry
        .all()
        .filter((c) => c.path.startsWith(prefix))
        .map((c) => `  ${c.help}`)
        .join('\n');
    },
  });
  for (const command of extra) registry.register(command);
  return registry;
}

export interface ExecuteResult {
  ok: boolean;
  output: string;
}

/** Runs one line in a context: `execute` over a registry, or the main thread's dispatcher to its workers. */
export type LineExecutor = (line: string, ctx: CliContext) => Promise<ExecuteResult>;

/** The executor of a registry, or the executor given. */
export function executorOf(target: CommandRegistry<CliContext> | LineExecutor): LineExecutor {
  return typeof target === 'function' ? target : (line, ctx) => execute(target, line, ctx);
}

/** Runs one line. Errors come back VPP style: "<command>: <what is wrong>". */
export async function execute(registry: CommandRegistry<CliContext>, line: string, ctx: CliContext): Promise<ExecuteResult> {
  const words = tokenize(line);
  if (words.length === 0) return { ok: true, output: '' };
  if (words[0] === '?') words[0] = 'help';
  let path = words[0];
  try {
    const { spec, args } = registry.resolve(words);
    path = spec.path;
    const out = await spec.run(args, ctx);
    return { ok: true, output: out ?? '' };
  } catch (err) {
    if (err instanceof CommandError) return { ok: false, output: `${path}: ${err.message}` };
    throw err;
  }
}
