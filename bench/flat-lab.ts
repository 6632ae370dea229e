/**
 * The flat (untagged) variant of the lab, for the bench: the same pod / worker / client roles,
 * but the switch is a plain Linux bridge and the server address sits directly on host-macvlan0,
 * so the kernel (nginx, Node) can serve over exactly the path our dataplane uses.
 *
 *   P-client               P-switch (Linux bridge br0)      P-worker             P-pod
 *   eth0 192.168.123.10 ── c0 ─┐                    ┌─ w0 ── eth0 (the "NIC") ─┬─ macvlan0 (bridge mode)
 *                              └─────── br0 ────────┘                          │   our dataplane (AF_PACKET,
 *                                                                                  uid 10000, CAP_NET_RAW) or
 *                                                                                  the kernel's 192.168.123.150
 *
 * The pod's dataplane is configured exactly like the lab's: `vpp-server init` (uid 10000) writes
 * vpp.conf and startup.conf; the bench then removes the sub-interface from startup.conf
 * (`set int ip address host-macvlan0 192.168.123.150/24`), and the dataplane runs as uid 10000,
 * no_new_privs, CAP_NET_RAW only, as the lab runs it.
 */
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliClient } from '../src/cli/cli-client.js';
import { deleteNamespaces, listNamespaces, waitFor } from '../src/lab/exec.js';
import { DATAPLANE_NODE_FLAGS } from '../src/deploy/manifests.js';
import { POD_UID, podNode, unprivileged } from '../src/lab/lab.js';
import { alive, mustRun, stopPid } from './proc.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI_ENTRY = join(REPO_ROOT, 'bin', 'vpp-server.js');

export class FlatLab {
  readonly ns: { switch: string; worker: string; pod: string; client: string };
  readonly stateDir: string;
  readonly podSocket: string;
  readonly podConfDir: string;
  readonly podWwwDir: string;
  readonly serverAddress = '192.168.123.150/24';
  readonly clientAddress = '192.168.123.10/24';
  /** IPv6 beside IPv4 (the bench's ipv6 rows): set before up() with `ipv6`. */
  readonly serverAddress6 = '2001:db8:123::150/64';
  readonly clientAddress6 = '2001:db8:123::10/64';
  private ipv6 = false;
  private podPid: number | undefined;
  /** The pod dataplane's process (its CPU time is read for the per-request cost). */
  get ourPid(): number | undefined {
    return this.podPid;
  }

  constructor(readonly prefix: string) {
    this.ns = { switch: `${prefix}-switch`, worker: `${prefix}-worker`, pod: `${prefix}-pod`, client: `${prefix}-client` };
    this.stateDir = `/run/vpp-server/${prefix}`;
    this.podSocket = join(this.stateDir, 'cli.sock');
    this.podConfDir = join(this.stateDir, 'pod', 'conf');
    this.podWwwDir = join(this.stateDir, 'pod', 'www');
  }

  get serverIp(): string {
    return this.serverAddress.split('/')[0];
  }

  /** The server's IPv6 address (without the prefix length); only with up(…, { ipv6: true }). */
  get serverIp6(): string {
    return this.serverAddress6.split('/')[0];
  }

  get hasIpv6(): boolean {
    return this.ipv6;
  }

  get logFile(): string {
    return join(this.stateDir, 'pod.log');
  }

  /** Builds the namespaces and links and writes the pod's configuration; starts nothing. */
  async up(engineStanza?: string, opts: { ipv6?: boolean } = {}): Promise<void> {
    this.ipv6 = opts.ipv6 === true;
    if (listNamespaces().some((n) => n.startsWith(`${this.prefix}-`)) || existsSync(this.stateDir)) this.down();
    for (const n of Object.values(this.ns)) {
      await mustRun(['ip', 'netns', 'add', n]);
      await mustRun(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
      await mustRun(['ip', 'netns', 'exec', n, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    const sw = this.ns.switch;
    // No MLD snooping: our dataplane sends no MLD reports, so its solicited-node group must be flooded.
    await mustRun(['ip', '-n', sw, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
    await mustRun(['ip', 'link', 'add', 'c0', 'netns', sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns.client]);
    await mustRun(['ip', 'link', 'add', 'w0', 'netns', sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns.worker]);
    await mustRun(['ip', '-n', sw, 'link', 'set', 'c0', 'master', 'br0']);
    await mustRun(['ip', '-n', sw, 'link', 'set', 'w0', 'master', 'br0']);
    await mustRun(['ip', '-n', this.ns.worker, 'link', 'add', 'macvlan0', 'link', 'eth0', 'type', 'macvlan', 'mode', 'bridge']);
    await mustRun(['ip', '-n', this.ns.worker, 'link', 'set', 'macvlan0', 'netns', this.ns.pod]);
    for (const [n, dev] of [
      [sw, 'br0'],
      [sw, 'c0'],
      [sw, 'w0'],
      [this.ns.client, 'eth0'],
      [this.ns.worker, 'eth0'],
      [this.ns.pod, 'macvlan0'],
    ]) {
      await mustRun(['ip', '-n', n, 'link', 'set', dev, 'up']);
    }
    await mustRun(['ip', '-n', this.ns.client, 'addr', 'add', this.clientAddress, 'dev', 'eth0']);
    if (this.ipv6) {
      // The client's kernel IPv6 on eth0 only, without DAD (nodad: usable at once).
      await mustRun(['ip', 'netns', 'exec', this.ns.client, 'sysctl', '-qw', 'net.ipv6.conf.eth0.accept_dad=0', 'net.ipv6.conf.eth0.accept_ra=0', 'net.ipv6.conf.eth0.disable_ipv6=0']);
      await mustRun(['ip', '-n', this.ns.client, '-6', 'addr', 'add', this.clientAddress6, 'dev', 'eth0', 'nodad']);
    }
    // veth leaves TCP checksums partial; make the client's kernel fill them in (as the lab does).
    await mustRun(['ip', 'netns', 'exec', this.ns.client, 'ethtool', '-K', 'eth0', 'tx', 'off']);
    await tuneClient(this.ns.client);

    mkdirSync(this.podConfDir, { recursive: true });
    mkdirSync(this.podWwwDir, { recursive: true });
    for (const d of [this.stateDir, join(this.stateDir, 'pod'), this.podConfDir, this.podWwwDir]) chownSync(d, POD_UID, POD_UID);

    // The init container's step, as the lab runs it (uid 10000, no capabilities) …
    await mustRun([
      'ip', 'netns', 'exec', this.ns.pod, ...unprivileged([]),
      'env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`,
      'HOST_INTERFACE=macvlan0', 'VLAN_ID=123', `IP_ADDRESS=${this.serverAddress}`,
      // Dual stack: init adds the IPv6 address and `http static listener add uri tcp://::/80`.
      ...(this.ipv6 ? [`IPV6_ADDRESS=${this.serverAddress6}`] : []),
      `CONF_DIR=${this.podConfDir}`, `WWW_ROOT=${this.podWwwDir}`, `CLI_SOCKET=${this.podSocket}`,
      process.execPath, CLI_ENTRY, 'init',
    ]);
    // … then the flat form: no sub-interface, the address on host-macvlan0 itself.
    const startup = join(this.podConfDir, 'startup.conf');
    const flat = readFileSync(startup, 'utf8')
      .split('\n')
      .filter((l) => !/^create sub-interfaces /.test(l) && !/^set interface state host-macvlan0\.\d+ /.test(l))
      .map((l) => l.replace(/host-macvlan0\.\d+/g, 'host-macvlan0'))
      .join('\n');
    writeFileSync(startup, flat);
    chownSync(startup, POD_UID, POD_UID);
    // Optional engine tuning for experiments (`--engine 'ring-version 2'`); off by default.
    if (engineStanza !== undefined) {
      const conf = join(this.podConfDir, 'vpp.conf');
      writeFileSync(conf, `${readFileSync(conf, 'utf8')}vpp-server { ${engineStanza} }\n`);
      chownSync(conf, POD_UID, POD_UID);
    }
  }

  /**
   * Our dataplane with `cpu { workers n }` and `num-rx-queues n` (n = 0: as init wrote it), as a
   * VPP user configures worker threads; takes effect at the next startOurs().
   */
  setWorkers(n: number): void {
    const conf = join(this.podConfDir, 'vpp.conf');
    const startup = join(this.podConfDir, 'startup.conf');
    const vpp = readFileSync(conf, 'utf8').replace(/\ncpu \{[^}]*\}\n/, '\n');
    writeFileSync(conf, n > 0 ? `${vpp}\ncpu {\n  workers ${n}\n}\n` : vpp);
    const lines = readFileSync(startup, 'utf8').replace(/^(create host-interface name macvlan0)( num-rx-queues \d+)?/m, `$1${n > 0 ? ` num-rx-queues ${n}` : ''}`);
    writeFileSync(startup, lines);
    chownSync(conf, POD_UID, POD_UID);
    chownSync(startup, POD_UID, POD_UID);
  }

  /**
   * Ours with `vpp-server { tcp-congestion-control <cc> }` (undefined: as before), for the loss row's
   * like-for-like run; takes effect at the next startOurs(). A later stanza overrides an earlier one.
   */
  setCongestionControl(cc: string | undefined): void {
    const conf = join(this.podConfDir, 'vpp.conf');
    const marker = '# bench: congestion control\n';
    const base = readFileSync(conf, 'utf8').split(marker)[0];
    writeFileSync(conf, cc === undefined ? base : `${base}${marker}vpp-server { tcp-congestion-control ${cc} }\n`);
    chownSync(conf, POD_UID, POD_UID);
  }

  startupConf(): string {
    return readFileSync(join(this.podConfDir, 'startup.conf'), 'utf8');
  }

  vppConf(): string {
    return readFileSync(join(this.podConfDir, 'vpp.conf'), 'utf8');
  }

  /** Starts our dataplane in the pod (uid 10000, CAP_NET_RAW only, from the file capability of the lab's node copy) and waits until it has its address. */
  async startOurs(): Promise<void> {
    const log = openSync(this.logFile, 'a');
    const child = spawn(
      'ip',
      ['netns', 'exec', this.ns.pod, ...podNode(['net_raw']), ...DATAPLANE_NODE_FLAGS, ...nodeFlags(), CLI_ENTRY, 'run', '-c', join(this.podConfDir, 'vpp.conf')],
      { detached: true, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    if (child.pid === undefined) throw new Error('could not start the pod dataplane');
    this.podPid = child.pid;
    child.unref();
    try {
      await waitFor('the flat pod dataplane to configure its address', async () => {
        if (!alive(child.pid!)) throw new Error('the flat pod dataplane exited');
        const out = await cli(this.podSocket, 'show interface address');
        return out?.includes(this.serverAddress) ? true : undefined;
      });
      if (this.ipv6) {
        // Our DAD takes about a second: poll until the address is preferred.
        await waitFor('the flat pod dataplane to pass DAD for its IPv6 address', async () => {
          if (!alive(child.pid!)) throw new Error('the flat pod dataplane exited');
          const out = await cli(this.podSocket, 'show ip6 interface host-macvlan0');
          return out?.includes(`      ${this.serverIp6}: preferred`) ? true : undefined;
        });
      }
    } catch (err) {
      const tail = existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').trim().split('\n').slice(-15).join('\n  ') : '(no log)';
      throw new Error(`${(err as Error).message}\n  last lines of ${this.logFile}:\n  ${tail}`);
    }
  }

  stopOurs(): void {
    if (this.podPid !== undefined) stopPid(this.podPid);
    this.podPid = undefined;
  }

  /** Gives the kernel the server address on macvlan0 (our dataplane must be stopped). */
  async kernelAddress(on: boolean): Promise<void> {
    await mustRun(['ip', '-n', this.ns.pod, 'addr', on ? 'add' : 'del', this.serverAddress, 'dev', 'macvlan0']);
    if (!this.ipv6) return;
    if (on) {
      // The kernel's IPv6 on macvlan0 (off while ours ran: see docs/ipv6.md), its address without DAD.
      await mustRun(['ip', 'netns', 'exec', this.ns.pod, 'sysctl', '-qw', 'net.ipv6.conf.macvlan0.accept_dad=0', 'net.ipv6.conf.macvlan0.accept_ra=0', 'net.ipv6.conf.macvlan0.disable_ipv6=0']);
      await mustRun(['ip', '-n', this.ns.pod, '-6', 'addr', 'add', this.serverAddress6, 'dev', 'macvlan0', 'nodad']);
    } else await mustRun(['ip', 'netns', 'exec', this.ns.pod, 'sysctl', '-qw', 'net.ipv6.conf.macvlan0.disable_ipv6=1']);
  }

  /** Stops everything running in the namespaces and removes them and the state directory. Synchronous. */
  down(): string[] {
    this.stopOurs();
    const removed = deleteNamespaces(Object.values(this.ns));
    rmSync(this.stateDir, { recursive: true, force: true });
    return removed;
  }
}

/**
 * The load generator's own limits out of the way: when a server's FIN comes after wrk has
 * already closed (Node does that), the client keeps every connection in TIME_WAIT, and with
 * 28k ephemeral ports connect() slows down and then fails after a few seconds at thousands of
 * connections per second. Reusing TIME_WAIT ports (with timestamps) and a wider port range,
 * in the client namespace only, make the new-connection figure the server's, not the client's.
 */
export async function tuneClient(ns: string): Promise<void> {
  await mustRun(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535']);
}

/** One CLI command on a dataplane; undefined if it does not answer. */
export async function cli(socket: string, command: string): Promise<string | undefined> {
  let client: CliClient | undefined;
  try {
    client = await CliClient.connect(socket, 1000);
    return (await client.run(command)).output;
  } catch {
    return undefined;
  } finally {
    client?.close();
  }
}

/**
 * Extra Node flags for our dataplane from BENCH_NODE_FLAGS (profiling), e.g.
 * `BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof'` (a directory uid 10000 can write).
 * They come after DATAPLANE_NODE_FLAGS (the dataplane's own), so an experiment can override
 * those: V8 takes the last value (e.g. `--max-semi-space-size=16` for V8's default).
 */
function nodeFlags(): string[] {
  const f = process.env.BENCH_NODE_FLAGS?.trim();
  return f ? f.split(/\s+/) : [];
}
