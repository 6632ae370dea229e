/** `vpp-server lab up|down|status|demo [--prefix P]`. */
import { DEFAULT_PREFIX, defaultSettings, Lab } from './lab.js';
import { runDemo } from './demo.js';

const USAGE = `usage: vpp-server lab up|down|status|demo [--prefix P]
  up       build the seed's network in namespaces P-switch, P-worker, P-pod, P-client and start
           the dataplanes (idempotent; a half-built lab is rebuilt)
  down     stop the dataplanes, remove every namespace, link and file the lab made
  status   what exists and runs
  demo     up, then show it working: ping, the show commands, curl when HTTP is available
  --prefix P   namespace prefix (default ${DEFAULT_PREFIX})`;

export async function main(argv: string[]): Promise<number> {
  let prefix = DEFAULT_PREFIX;
  let action: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--prefix') prefix = argv[++i] ?? '';
    else if (a.startsWith('--prefix=')) prefix = a.slice('--prefix='.length);
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      return 0;
    } else if (action === undefined) action = a;
    else {
      console.error(`lab: unexpected argument '${a}'\n${USAGE}`);
      return 2;
    }
  }
  const progress = (m: string) => console.log(`lab: ${m}`);
  const lab = new Lab(defaultSettings(prefix), progress);
  switch (action) {
    case 'up': {
      const result = await lab.up();
      console.log(result === 'already-up' ? `lab ${prefix} is already up` : `lab ${prefix} is up`);
      printAccess(lab);
      return 0;
    }
    case 'down': {
      const removed = lab.down();
      console.log(removed.length > 0 ? `lab ${prefix} removed (${removed.join(', ')})` : `lab ${prefix} was not there`);
      return 0;
    }
    case 'status': {
      const s = await lab.status();
      for (const [n, ok] of Object.entries(s.namespaces)) console.log(`${n.padEnd(24)} ${ok ? 'present' : 'missing'}`);
      console.log(`${'switch dataplane'.padEnd(24)} ${s.switchPid !== undefined ? `running (pid ${s.switchPid})` : 'stopped'}`);
      console.log(`${'pod dataplane'.padEnd(24)} ${s.podPid !== undefined ? `running (pid ${s.podPid})` : 'stopped'}`);
      if (s.podAddresses !== undefined) console.log(`\n${s.podAddresses}`);
      return Object.values(s.namespaces).every(Boolean) && s.podPid !== undefined ? 0 : 1;
    }
    case 'demo':
      return runDemo(lab);
    default:
      console.error(action === undefined ? USAGE : `lab: unknown action '${action}'\n${USAGE}`);
      return 2;
  }
}

export function printAccess(lab: Lab): void {
  console.log(`  client:  ip netns exec ${lab.ns.client} ping ${lab.serverIp}`);
  console.log(`  CLI:     ./bin/vpp-server.js ctl -s ${lab.podSocket} show interface`);
  console.log(`  logs:    ${lab.logFile('pod')}, ${lab.logFile('switch')}`);
  console.log(`  remove:  ./bin/vpp-server.js lab down --prefix ${lab.settings.prefix}`);
}
