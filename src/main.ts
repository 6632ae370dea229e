/**
 * Entry point of the `vpp-server` command: dispatches to one module per subcommand.
 * Each module exports `main(args): Promise<number>` and is loaded only when used.
 */
type CommandModule = { main(args: string[]): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  run: { summary: 'run the dataplane: run -c <vpp.conf>', load: () => import('./cli/run-command.js') },
  ctl: { summary: 'talk to a running dataplane: ctl -s <socket> [command…]', load: () => import('./cli/ctl-command.js') },
  lab: { summary: 'the one-machine lab: lab up|down|status|demo [--prefix P]', load: () => import('./lab/lab-command.js') },
  init: { summary: 'init container: write vpp.conf, startup.conf and index.html from the environment', load: () => import('./deploy/init-command.js') },
  render: { summary: 'print the Kubernetes manifests as YAML', load: () => import('./deploy/render-command.js') },
  deploy: { summary: 'apply the manifests to the cluster and wait for the rollout', load: () => import('./deploy/deploy-command.js') },
  undeploy: { summary: 'delete what deploy created', load: () => import('./deploy/undeploy-command.js') },
  status: { summary: 'show the deployment on the cluster', load: () => import('./deploy/status-command.js') },
};

function usage(): string {
  const lines = ['usage: vpp-server <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', "Run 'vpp-server <command> --help' for a command's options.");
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    const { VERSION } = await import('./version.js');
    console.log(VERSION);
    return 0;
  }
  const command = commands[name];
  if (command === undefined) {
    console.error(`vpp-server: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  return mod.main(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { message?: string; code?: string };
    console.error(`vpp-server: ${e?.message ?? String(err)}`);
    process.exitCode = 1;
  },
);
