/** Commands that subsystems beyond the dataplane contribute to the CLI. */
import type { Command } from './cli/cli.js';
import { CommandError } from './cli/registry.js';

export function extraCommands(): Command[] {
  return [
    {
      path: 'http static server',
      help: 'http static server www-root <dir> uri tcp://<address>/<port> cache-size <n>[kmg]',
      run() {
        throw new CommandError('the HTTP static server is not available in this build yet');
      },
    },
  ];
}
