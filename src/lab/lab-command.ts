/** `vpp-server lab up|down|status|demo [--prefix P]`. */
import { DEFAULT_PREFIX, MAX_LAB_REPLICAS, defaultSettings, detectReplicas, Lab } from './lab.js';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../flags.js';
import { runDemo } from './demo.js';

const FLAGS: FlagSpec[] = [
  { name: 'prefix', value: 'P', help: `namespace prefix (default ${DEFAULT_PREFIX})` },
  { name: 'replicas', value: 'N', help: `up/demo: pods on the worker, P-pod, P-pod1, …, each with its own macvlan0 and address IP + n (default 1, at most ${MAX_LAB_REPLICAS})` },
];

const USAGE = [
  'usage: vpp-server lab up|down|status|demo [--prefix P] [--replicas N]',
  "  up       build the seed's network in namespaces P-switch, P-worker, P-pod, P-client and start",
  '           the dataplanes (idempotent; a half-built lab is rebuilt)',
  '  down     stop the dataplanes, remove every namespace, link and file the lab made',
  '  status   what exists and runs',
  '  demo     up, then show it working: ping, the show commands, curl when HTTP is available',
  '',
  'options:',
  ...flagHelp(FLAGS),
].join('\n');

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseFlags(argv, FLAGS, { positionals: 1 });
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    console.error(`vpp-server lab: ${err.problems.join('\n  ')}\n${USAGE}`);
    return err.exitCode;
  }
  if (parsed.help) {
    console.log(USAGE);
    return 0;
  }
  const action = parsed.positionals[0];
  const prefix = typeof parsed.values['prefix'] === 'string' ? parsed.values['prefix'] : DEFAULT_PREFIX;
  const replicasRaw = typeof parsed.values['replicas'] === 'string' ? parsed.values['replicas'] : '1';
  if (!/^[0-9]+$/.test(replicasRaw) || Number(replicasRaw) < 1 || Number(replicasRaw) > MAX_LAB_REPLICAS) {
    console.error(`vpp-server lab: --replicas ${JSON.stringify(replicasRaw)} is not a number of pods: expected a whole number from 1 to ${MAX_LAB_REPLICAS}`);
    return 2;
  }
  // status and down of a lab brought up with --replicas N find its pods without being told
  const replicas = parsed.values['replicas'] === undefined ? Math.max(1, Math.min(MAX_LAB_REPLICAS, detectReplicas(prefix))) : Number(replicasRaw);
  const progress = (m: string) => console.log(`lab: ${m}`);
  const lab = new Lab(defaultSettings(prefix, replicas), progress);
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
      for (const x of s.pods) console.log(`${`pod dataplane ${x.ns}`.padEnd(24)} ${x.pid !== undefined ? `running (pid ${x.pid}), ${x.address}` : 'stopped'}`);
      if (s.podAddresses !== undefined) console.log(`\n${s.podAddresses}`);
      return Object.values(s.namespaces).every(Boolean) && s.pods.every((x) => x.pid !== undefined) ? 0 : 1;
    }
    case 'demo':
      return runDemo(lab);
    default:
      console.error(action === undefined ? USAGE : `lab: unknown action '${action}'\n${USAGE}`);
      return 2;
  }
}

export function printAccess(lab: Lab): void {
  for (const x of lab.pods) {
    console.log(`  client:  ip netns exec ${lab.ns.client} ping ${x.ip}`);
    console.log(`  CLI:     ./bin/vpp-server.js ctl -s ${x.socket} show interface`);
  }
  console.log(`  https:   ip netns exec ${lab.ns.client} curl --cacert ${lab.caFile} https://${lab.serverIp}/`);
  console.log(`  logs:    ${[...lab.pods.map((x) => lab.logFile(x.role)), lab.logFile('switch')].join(', ')}`);
  console.log(`  remove:  ./bin/vpp-server.js lab down --prefix ${lab.settings.prefix}`);
}
