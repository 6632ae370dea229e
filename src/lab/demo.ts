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
  const amb = field('CapAmb');
  return `dataplane pid ${pid}: uid ${field('Uid')}, NoNewPrivs ${field('NoNewPrivs')}, ${caps}, ambient ${/^0+$/.test(amb) ? 'none (file capability)' : amb}`;
}

function heading(text: string): void {
  console.log(`\n=== ${text} ${'='.repeat(Math.max(0, 70 - text.length))}`);
}

export async function runDemo(lab: Lab): Promise<number> {
  heading('lab up');
  const state = await lab.up();
  console.log(state === 'already-up' ? 'the lab was already up' : 'the lab is up');

  const results: Array<[string, boolean, string]> = [];

  for (const pod of lab.pods) {
    const which = lab.pods.length > 1 ? ` (${pod.ns})` : '';
    heading(`ping ${pod.ip} from ${lab.ns.client}${which}`);
    const ping = lab.ping(3, pod.ip);
    console.log(ping.output.trim());
    const rtt = /= [\d.]+\/([\d.]+)\//.exec(ping.output)?.[1];
    results.push([`ping ${pod.ip} 3/3`, ping.ok, rtt !== undefined ? `avg rtt ${rtt} ms` : '']);
    if (pod.ip6 !== undefined) {
      heading(`ping -6 ${pod.ip6} from ${lab.ns.client}${which}`);
      const ping6 = lab.ping(3, pod.ip6);
      console.log(ping6.output.trim());
      const rtt6 = /= [\d.]+\/([\d.]+)\//.exec(ping6.output)?.[1];
      results.push([`ping -6 ${pod.ip6} 3/3`, ping6.ok, rtt6 !== undefined ? `avg rtt ${rtt6} ms` : '']);
    }

    heading(`curl http://${pod.ip}/index.html${which}`);
    let curlOk = false;
    let body = '';
    try {
      body = inNs(lab.ns.client, ['curl', '-sS', '--max-time', '3', `http://${pod.ip}/index.html`], { timeoutMs: 5000 });
      curlOk = body.includes('Welcome');
      console.log(body.trim());
    } catch (err) {
      console.log(`(no answer: ${(err as Error).message.split('\n')[0]})`);
    }
    results.push([`curl ${pod.ip}`, curlOk, curlOk ? body.trim() : 'HTTP not answering']);
  }
  if (lab.pods.length > 1) {
    heading(`ip neigh on ${lab.ns.client}: one MAC per pod`);
    console.log(inNs(lab.ns.client, ['ip', 'neigh', 'show', 'dev', 'eth0']).trim());
  }

  // issue 11: HTTPS with the certificate `lab up` made, verified (no -k)
  heading(`curl --cacert ${lab.caFile} https://${lab.serverIp}/`);
  let httpsOk = false;
  let httpsDetail = 'HTTPS not answering';
  try {
    const out = inNs(lab.ns.client, ['curl', '-sS', '--max-time', '5', '--cacert', lab.caFile, '-w', '\n%{http_version} %{ssl_verify_result}', `https://${lab.serverIp}/`], { timeoutMs: 8000 });
    const lines = out.trim().split('\n');
    const info = lines.pop() ?? '';
    const page = lines.join('\n');
    const [version, verify] = info.split(' ');
    httpsOk = page.includes('Welcome') && verify === '0';
    httpsDetail = `${page.trim()} (HTTP/${version}, certificate verified: ${verify === '0' ? 'yes' : 'no'})`;
    console.log(page.trim());
    console.log(`HTTP/${version}, certificate verify result ${verify}`);
  } catch (err) {
    console.log(`(no answer: ${(err as Error).message.split('\n')[0]})`);
  }
  results.push(['curl https (--cacert)', httpsOk, httpsDetail]);

  for (const command of ['show http static server', 'show interface', 'show interface address', 'show ip neighbors', 'show errors']) {
    heading(`vpp# ${command}`);
    console.log((await lab.cli(lab.podSocket, command)) ?? '(no answer from the CLI)');
  }

  heading('summary');
  for (const [what, ok, detail] of results) console.log(`  ${ok ? 'ok  ' : 'FAIL'}  ${what.padEnd(24)} ${detail}`);
  for (const pod of lab.pods) {
    const promisc = inNs(pod.ns, ['ip', '-d', '-j', 'link', 'show', 'macvlan0']);
    const link = (JSON.parse(promisc) as { promiscuity: number; address: string }[])[0];
    console.log(`  info  ${pod.ns} macvlan0 ${link?.address} promiscuity ${link?.promiscuity}; ${describeCredentials(lab.pid(pod.role))}`);
  }
  console.log('');
  printAccess(lab);
  // pings decide (curl needs the HTTP server, which the demo only shows)
  return results.filter(([what]) => what.startsWith('ping')).every(([, ok]) => ok) ? 0 : 1;
}
