/**
 * The flat segment the field tests run on: a Linux bridge (the "switch") with the worker's NIC
 * and as many client namespaces as a test adds, each with its own veth and so its own MAC; the
 * pod's macvlan0 sits on the worker's NIC, and our dataplane serves on host-macvlan0 itself.
 *
 *   P-c1  eth0 192.168.123.10 ──┐
 *   P-c2  eth0 192.168.123.11 ──┤  P-sw: br0 ── w0 ── P-worker: eth0 (the "NIC") ── macvlan0 (bridge) → P-pod
 *   P-c3  eth0 192.168.123.12 ──┤                                                   host-macvlan0 192.168.123.150/24
 *   P-rtr eth0 192.168.123.1  ──┘
 *         eth1 10.99.0.1 ── P-far eth0 10.99.0.10/24 (default via 10.99.0.1)
 *
 * (the hosts drawn are the ones field.test.ts adds). Each client is a bridge port named after it
 * (c1, c2, …): deleting that port takes the client's eth0 away with it, so the client vanishes
 * from the segment without sending anything (no FIN, no RST, no ARP). A port can get a tbf qdisc
 * (a client on a slower link). The pod is configured by `vpp-server init` (uid 10000, no
 * capabilities), turned into the flat form (as bench/flat-lab.ts does), and each test starts the
 * dataplane as uid 10000 with CAP_NET_RAW only, with its own extra startup lines and vpp-server
 * stanza. Every address lives inside namespaces made here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteNamespaces, inNs, listNamespaces, run, succeeds, waitFor } from '../../src/lab/exec.js';
import { POD_UID, podNode, unprivileged } from '../../src/lab/lab.js';
import { CliClient } from '../../src/cli/cli-client.js';
import { REPO_ROOT } from './lab-helpers.js';

export const CLI_ENTRY = join(REPO_ROOT, 'bin', 'vpp-server.js');
export const SERVER_ADDRESS = '192.168.123.150/24';
export const SERVER_IP = '192.168.123.150';

export interface Pod {
  child: ChildProcess;
  exited: Promise<number | null>;
  log: string;
}

export class FieldNet {
  readonly ns: { sw: string; worker: string; pod: string };
  readonly hosts = new Map<string, string>();
  readonly stateDir: string;
  readonly podSocket: string;
  readonly podConfDir: string;
  readonly podWwwDir: string;
  readonly pod: PodRunner;

  constructor(readonly prefix: string) {
    this.ns = { sw: `${prefix}-sw`, worker: `${prefix}-worker`, pod: `${prefix}-pod` };
    this.stateDir = `/run/vpp-server/${prefix}`;
    this.podSocket = join(this.stateDir, 'cli.sock');
    this.podConfDir = join(this.stateDir, 'pod', 'conf');
    this.podWwwDir = join(this.stateDir, 'pod', 'www');
    this.pod = new PodRunner(this.ns.pod, this.podSocket, this.podConfDir, this.stateDir, SERVER_ADDRESS);
  }

  /** The namespace of a host added with addHost (or the far side of the router). */
  host(name: string): string {
    const n = this.hosts.get(name);
    if (n === undefined) throw new Error(`no host ${name} on the field segment`);
    return n;
  }

  /** Namespaces, bridge, worker NIC and macvlan0, and the pod's configuration; starts nothing. */
  up(): void {
    this.down();
    for (const n of Object.values(this.ns)) newNamespace(n);
    const sw = this.ns.sw;
    run(['ip', '-n', sw, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    run(['ip', 'link', 'add', 'w0', 'netns', sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns.worker]);
    run(['ip', '-n', sw, 'link', 'set', 'w0', 'master', 'br0']);
    run(['ip', '-n', this.ns.worker, 'link', 'add', 'macvlan0', 'link', 'eth0', 'type', 'macvlan', 'mode', 'bridge']);
    run(['ip', '-n', this.ns.worker, 'link', 'set', 'macvlan0', 'netns', this.ns.pod]);
    for (const [n, dev] of [[sw, 'br0'], [sw, 'w0'], [this.ns.worker, 'eth0'], [this.ns.pod, 'macvlan0']]) run(['ip', '-n', n, 'link', 'set', dev, 'up']);

    mkdirSync(this.podConfDir, { recursive: true });
    mkdirSync(this.podWwwDir, { recursive: true });
    for (const d of [this.stateDir, join(this.stateDir, 'pod'), this.podConfDir, this.podWwwDir]) chownSync(d, POD_UID, POD_UID);
    // The init container's step, as a cluster runs it (uid 10000, no capabilities).
    inNs(this.ns.pod, [
      ...unprivileged([]), 'env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`,
      'HOST_INTERFACE=macvlan0', 'VLAN_ID=123', `IP_ADDRESS=${SERVER_ADDRESS}`,
      `CONF_DIR=${this.podConfDir}`, `WWW_ROOT=${this.podWwwDir}`, `CLI_SOCKET=${this.podSocket}`,
      process.execPath, CLI_ENTRY, 'init',
    ]);
  }

  /**
   * A client namespace `<prefix>-<name>` on the segment: eth0 with `address`, plugged into br0 as
   * port `<name>`. Its kernel computes TCP checksums itself (a veth leaves them partial).
   */
  addHost(name: string, address: string): string {
    const n = `${this.prefix}-${name}`;
    newNamespace(n);
    run(['ip', 'link', 'add', name, 'netns', this.ns.sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n]);
    run(['ip', '-n', this.ns.sw, 'link', 'set', name, 'master', 'br0']);
    run(['ip', '-n', this.ns.sw, 'link', 'set', name, 'up']);
    run(['ip', '-n', n, 'link', 'set', 'eth0', 'up']);
    run(['ip', '-n', n, 'addr', 'add', address, 'dev', 'eth0']);
    inNs(n, ['ethtool', '-K', 'eth0', 'tx', 'off']);
    this.hosts.set(name, n);
    return n;
  }

  /**
   * A Linux router `<prefix>-<name>` on the segment at `segmentAddress`, forwarding to a client
   * namespace `<prefix>-far` on another subnet (`farAddress`, default route via `routerFarAddress`).
   */
  addRouter(name: string, segmentAddress: string, routerFarAddress: string, farAddress: string): string {
    const rtr = this.addHost(name, segmentAddress);
    const far = `${this.prefix}-far`;
    newNamespace(far);
    routeToFar(rtr, far, routerFarAddress, farAddress);
    this.hosts.set('far', far);
    return rtr;
  }

  /**
   * Gives a client a slower link: a tbf qdisc on its bridge port, so on what the segment sends
   * towards it. `tbf` are tc's tbf arguments (rate, burst, limit or latency).
   */
  shape(name: string, tbf: string[]): void {
    run(['tc', '-n', this.ns.sw, 'qdisc', 'add', 'dev', name, 'root', 'tbf', ...tbf]);
  }

  /** Bytes queued on a client's link (its bridge port's qdisc): data sent to it and not yet delivered. */
  backlog(name: string): number {
    const q = JSON.parse(run(['tc', '-n', this.ns.sw, '-s', '-j', 'qdisc', 'show', 'dev', name])) as { root?: boolean; backlog?: number }[];
    return q.find((e) => e.root === true)?.backlog ?? 0;
  }

  /** Takes a client off the segment by deleting its bridge port (and so its eth0): nothing is sent. */
  unplug(name: string): void {
    run(['ip', '-n', this.ns.sw, 'link', 'del', name]);
  }

  /** Removes a client (its port if still there, its namespace and whatever runs in it). */
  removeHost(name: string): void {
    if (succeeds(['ip', '-n', this.ns.sw, 'link', 'show', name])) this.unplug(name);
    deleteNamespaces([`${this.prefix}-${name}`]);
    this.hosts.delete(name);
  }

  /** The pod's startup.conf from init, in the flat form, with `extra` lines after the address. */
  startupLines(extra: string[]): string[] {
    const flat = readFileSync(join(this.podConfDir, 'startup.conf'), 'utf8')
      .split('\n')
      .filter((l) => !/^create sub-interfaces /.test(l) && !/^set interface state host-macvlan0\.\d+ /.test(l))
      .map((l) => l.replace(/host-macvlan0\.\d+/g, 'host-macvlan0'));
    return afterAddress(flat, extra);
  }

  /** Starts the pod's dataplane with init's startup lines plus `extraStartup` (see PodRunner.start). */
  startPod(extraStartup: string[], engine: string[]): Promise<Pod> {
    return this.pod.start(this.startupLines(extraStartup), engine);
  }

  stopPod(): Promise<void> {
    return this.pod.stop();
  }

  cli(command: string): Promise<string | undefined> {
    return this.pod.cli(command);
  }

  /** Stops everything in this segment's namespaces and removes them and the state directory. */
  down(): void {
    this.pod.kill();
    deleteNamespaces(listNamespaces().filter((n) => n.startsWith(`${this.prefix}-`)));
    rmSync(this.stateDir, { recursive: true, force: true });
    this.hosts.clear();
  }
}

/** startup.conf lines with `extra` inserted after the (first) interface address line. */
export function afterAddress(startup: string[], extra: string[]): string[] {
  const lines = startup.filter((l) => l.trim() !== '');
  const at = lines.findIndex((l) => /^set int(erface)? ip address /.test(l));
  if (at < 0) throw new Error(`startup.conf has no address line:\n${lines.join('\n')}`);
  lines.splice(at + 1, 0, ...extra);
  return lines;
}

/**
 * Runs a pod's dataplane as the kubelet would (uid 10000, no_new_privs, CAP_NET_RAW only) from a
 * vpp.conf and startup.conf written here, one at a time; a new start replaces the running one.
 */
export class PodRunner {
  private pod: Pod | null = null;
  private starts = 0;

  constructor(
    readonly ns: string,
    readonly socket: string,
    readonly confDir: string,
    readonly logDir: string,
    /** The address (with prefix length) `show interface address` lists once it is configured. */
    readonly address: string,
  ) {}

  /** Starts it with these startup lines and `engine` as the vpp-server stanza; resolves once it has its address. */
  async start(startupLines: string[], engine: string[]): Promise<Pod> {
    await this.stop();
    const k = ++this.starts;
    const startup = join(this.confDir, `field-startup-${k}.conf`);
    const conf = join(this.confDir, `field-${k}.conf`);
    writeFileSync(startup, `${startupLines.join('\n')}\n`);
    writeFileSync(conf, `unix {\n  nodaemon cli-listen ${this.socket}\n  startup-config ${startup}\n}\nvpp-server {\n${engine.map((l) => `  ${l}\n`).join('')}}\n`);
    for (const f of [startup, conf]) chownSync(f, POD_UID, POD_UID);
    const log = join(this.logDir, `field-pod-${k}.log`);
    const fd = openSync(log, 'a');
    const child = spawn('ip', ['netns', 'exec', this.ns, ...podNode(['net_raw']), CLI_ENTRY, 'run', '-c', conf], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve((exitCode = code))));
    const pod: Pod = { child, exited, log };
    this.pod = pod;
    try {
      await waitFor(
        `the pod dataplane to configure ${this.address}`,
        async () => {
          if (exitCode !== undefined) throw new Error(`the pod dataplane exited (${exitCode})`);
          return (await this.cli('show interface address'))?.includes(this.address) ? true : undefined;
        },
        20_000,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n  startup-config ${startup}:\n  ${startupLines.join('\n  ')}\n  last lines of ${log}:\n  ${logTail(log)}`);
    }
    return pod;
  }

  async stop(): Promise<void> {
    const p = this.pod;
    this.pod = null;
    if (p === null || p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill('SIGKILL');
    await p.exited;
  }

  /** Synchronous, for teardown: the namespace's removal reaps it. */
  kill(): void {
    this.pod?.child.kill('SIGKILL');
    this.pod = null;
  }

  /** One CLI command on it; undefined if it does not answer. */
  async cli(command: string): Promise<string | undefined> {
    let client: CliClient | undefined;
    try {
      client = await CliClient.connect(this.socket, 1000);
      return (await client.run(command)).output;
    } catch {
      return undefined;
    } finally {
      client?.close();
    }
  }
}

function logTail(log: string, lines = 12): string {
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-lines).join('\n  ') : '(no log)';
}

/** A new network namespace with lo up and IPv6 off (no autoconfiguration noise). */
export function newNamespace(n: string): void {
  run(['ip', 'netns', 'add', n]);
  inNs(n, ['ip', 'link', 'set', 'lo', 'up']);
  inNs(n, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
}

/**
 * Makes `rtr` (already on the segment) a Linux router to the namespace `far` on another subnet:
 * a veth rtr eth1 (`routerFarAddress`) ── far eth0 (`farAddress`, default route via the router),
 * ip_forward on. Checksums are computed by the senders' kernels (a veth leaves them partial).
 */
export function routeToFar(rtr: string, far: string, routerFarAddress: string, farAddress: string): void {
  run(['ip', 'link', 'add', 'eth1', 'netns', rtr, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', far]);
  run(['ip', '-n', rtr, 'addr', 'add', routerFarAddress, 'dev', 'eth1']);
  run(['ip', '-n', far, 'addr', 'add', farAddress, 'dev', 'eth0']);
  for (const [n, dev] of [[rtr, 'eth1'], [far, 'eth0']]) run(['ip', '-n', n, 'link', 'set', dev, 'up']);
  run(['ip', '-n', far, 'route', 'add', 'default', 'via', routerFarAddress.split('/')[0]]);
  inNs(far, ['ethtool', '-K', 'eth0', 'tx', 'off']);
  inNs(rtr, ['ethtool', '-K', 'eth1', 'tx', 'off']);
  inNs(rtr, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
}
