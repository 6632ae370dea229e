/** Commands that subsystems beyond the dataplane contribute to the CLI. */
import type { Command } from './cli/cli.js';
import { CommandError } from './cli/registry.js';
import { HTTP_STATIC_SERVER_SYNTAX, parseHttpStaticServerCommand } from './http/command.js';

export function extraCommands(): Command[] {
  return [
    {
      path: 'http static server',
      help: HTTP_STATIC_SERVER_SYNTAX,
      run(args) {
        try {
          parseHttpStaticServerCommand([...args.words]);
        } catch (err) {
          throw new CommandError((err as Error).message);
        }
        return 'http static server: configuration valid, but the HTTP server is not available in this build yet';
      },
    },
  ];
}
