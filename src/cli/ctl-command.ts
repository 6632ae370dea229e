/**
 * `vpp-server ctl -s <socket> [command…]`: runs one command and prints its output, or, with
 * no command, opens an interactive `vpp# ` prompt with line editing and history.
 */
import { createInterface } from 'node:readline';
import { CliClient } from './cli-client.js';
import { VERSION } from '../version.js';

const DEFAULT_SOCKET = '/run/vpp/cli.sock';

const USAGE = `usage: vpp-server ctl [-s <socket>] [command…]
  -s <socket>   the dataplane's CLI socket (vpp.conf's cli-listen; default ${DEFAULT_SOCKET})
With a command, runs it and prints its output (exit 1 if it failed); without, opens a vpp# prompt.`;

export async function main(argv: string[]): Promise<number> {
  let socketPath = process.env.VPP_SERVER_CLI ?? DEFAULT_SOCKET;
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (words.length === 0 && (a === '-s' || a === '--socket')) {
      const v = argv[++i];
      if (v === undefined) {
        console.error(`ctl: ${a} needs a socket path\n${USAGE}`);
        return 2;
      }
      socketPath = v;
    } else if (words.length === 0 && (a === '-h' || a === '--help')) {
      console.log(USAGE);
      return 0;
    } else {
      words.push(a);
    }
  }
  let client: CliClient;
  try {
    client = await CliClient.connect(socketPath);
  } catch (err) {
    console.error(`ctl: ${(err as Error).message}`);
    return 1;
  }
  if (words.length > 0) {
    const reply = await client.run(words.join(' '));
    client.close();
    if (reply.output !== '') (reply.ok ? process.stdout : process.stderr).write(`${reply.output}\n`);
    return reply.ok ? 0 : 1;
  }
  return interactive(client, socketPath);
}

async function interactive(client: CliClient, socketPath: string): Promise<number> {
  const tty = process.stdin.isTTY === true;
  if (tty) console.log(`vpp-server ${VERSION} CLI on ${socketPath}: 'help' lists commands, 'quit' leaves`);
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'vpp# ', historySize: 500, terminal: tty });
  rl.prompt();
  for await (const line of rl) {
    const trimmed = line.trim();
    if (trimmed === 'quit' || trimmed === 'exit' || trimmed === 'q') break;
    if (trimmed !== '') {
      const reply = await client.run(trimmed);
      if (reply.output !== '') console.log(reply.output);
      if (reply.output === 'the dataplane closed the CLI connection') break;
    }
    rl.prompt();
  }
  rl.close();
  client.close();
  return 0;
}
