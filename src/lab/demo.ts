/** `vpp-server lab demo`: brings the lab up and shows the system working, step by step. */
import { readFileSync } from 'node:fs';
import type { Lab } from './lab.js';
import { inNs } from './exec.js';
import { printAccess } from './lab-command.js';

/** What the kernel says about the dataplane's credentials: uid, no_new_privs, effective capabilities. */
function describeCredentials(pid: number | undefined): string {
  if (pid === undefined) return 'the pod dataplane is not running';
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '?';
  const capEff = field('CapEff');
  const caps = capEff === '0000000000002000' ? 'CAP_NET_RAW only' : `CapEff ${capEff}`;
  return `dataplane pid ${pid}: uid ${field('Uid')}, NoNewPrivs ${field('NoNewPrivs')}, ${caps}`;
}

function heading(text: string): void {
  console.log(`\n=== ${text} ${'='.repeat(Math.max(0, 70 - text.length))}`);
}

export async function runDemo(lab: Lab): Promise<number> {
  heading('lab up');
  const state = await lab.up();
  console.log(state === 'already-up' ? 'the lab was already up' : 'the lab is up');

  const results: Array<[string, boolean, string]> = [];

  heading(`ping ${lab.serverIp} from ${lab.ns.client}`);
  const ping = lab.ping(3);
  console.log(ping.output.trim());
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(ping.output)?.[1];
  results.push(['ping 3/3 replies', ping.ok, rtt !== undefined ? `avg rtt ${rtt} ms` : '']);

  heading(`curl http://${lab.serverIp}/index.html`);
  let curlOk = false;
  let body = '';
  try {
    body = inNs(lab.ns.client, ['curl', '-sS', '--max-time', '3', `http://${lab.serverIp}/index.html`], { timeoutMs: 5000 });
    curlOk = body.includes('Welcome');
    console.log(body.trim());
  } catch (err) {
    console.log(`(no answer: ${(err as Error).message.split('\n')[0]})`);
  }
  results.push(['curl index.html', curlOk, curlOk ? body.trim() : 'HTTP not answering']);

  for (const command of ['show interface', 'show interface address', 'show ip neighbors', 'show errors']) {
    heading(`vpp# ${command}`);
    console.log((await lab.cli(lab.podSocket, command)) ?? '(no answer from the CLI)');
  }

  heading('summary');
  for (const [what, ok, detail] of results) console.log(`  ${ok ? 'ok  ' : 'FAIL'}  ${what.padEnd(20)} ${detail}`);
  const promisc = inNs(lab.ns.pod, ['ip', '-d', '-j', 'link', 'show', 'macvlan0']);
  const promiscuity = (JSON.parse(promisc) as { promiscuity: number }[])[0]?.promiscuity;
  console.log(`  info  macvlan0 promiscuity ${promiscuity}; ${describeCredentials(lab.pid('pod'))}`);
  console.log('');
  printAccess(lab);
  return ping.ok ? 0 : 1;
}
