/**
 * The one-machine lab: the seed's network in four network namespaces.
 *
 *   P-client                P-switch                          P-worker              P-pod
 *   eth0 192.168.123.10 ── access0 ═ l2 xconnect ═ trunk0 ── eth0 (the "NIC") ─┬─ macvlan0 (bridge)
 *        untagged           (VLAN 123 untag/tag, our        tagged 802.1Q 123  │   our dataplane:
 *                            dataplane, pop 1 / push)                          │   host-macvlan0.123
 *                                                                                  192.168.123.150/24
 *
 * The switch is the dataplane itself, in L2 mode (xconnect + tag-rewrite), since this kernel
 * has no 802.1Q devices. The pod's dataplane runs as uid 10000 under no_new_privs from the
 * vpp.conf and startup.conf that `vpp-server init` writes, as in a cluster, and holds CAP_NET_RAW
 * the way a pod does: through the file capability on a dedicated copy of node (the image's
 * vpp-server-node), never through the ambient set.
 *
 * With `replicas` 2 or more (lab up --replicas N) the worker carries N pods, P-pod, P-pod1, …,
 * each with its own macvlan0 (its own MAC) on the worker's eth0, and address IP + ordinal, as
 * the StatefulSet's pods on one node would (init derives it from POD_NAME=vpp-server-<n>).
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliClient } from '../cli/cli-client.js';
import { formatIpv6, parseIpv6 } from '../wire/ipv6-address.js';
import { deleteNamespaces, inNs, listNamespaces, run, stopProcess, succeeds, waitFor } from './exec.js';
import { capNodeCopy, setprivArgs, writeSecretVolume, type PlannedSecret } from '../deploy/kubelet.js';
import { DATAPLANE_NODE_FLAGS } from '../deploy/manifests.js';
import { selfSignedPair } from '../http/tls-credentials.js';

export const DEFAULT_PREFIX = 'vpplab';
export const POD_UID = 10000;

export interface LabSettings {
  prefix: string;
  vlanId: number;
  /** The dataplane's address with prefix length (pod n gets this + n). */
  serverAddress: string;
  clientAddress: string;
  /** Dual stack: the dataplane's IPv6 address (pod n: + n) and the client's, with prefix length. */
  serverAddress6?: string;
  clientAddress6?: string;
  /** pods on the worker (default 1) */
  replicas?: number;
}

export function defaultSettings(prefix = DEFAULT_PREFIX, replicas = 1): LabSettings {
  return {
    prefix,
    vlanId: 123,
    serverAddress: '192.168.123.150/24',
    clientAddress: '192.168.123.10/24',
    serverAddress6: '2001:db8:123::150/64',
    clientAddress6: '2001:db8:123::10/64',
    ...(replicas > 1 ? { replicas } : {}),
  };
}

export const MAX_LAB_REPLICAS = 8;

/** How many pod namespaces (P-pod, P-pod1, …) a lab with this prefix has now (0 when it is down). */
export function detectReplicas(prefix: string): number {
  const re = new RegExp(`^${prefix}-pod([0-9]*)$`);
  return listNamespaces().filter((n) => re.test(n)).length;
}

/** One pod of the lab: its namespace, address and files. */
export interface LabPod {
  ordinal: number;
  ns: string;
  /** address with prefix length */
  address: string;
  ip: string;
  /** IPv6 (dual stack): address with prefix length, and the address alone; undefined without serverAddress6 */
  address6?: string;
  ip6?: string;
  socket: string;
  confDir: string;
  wwwDir: string;
  /** pid/log file role: 'pod', 'pod1', … */
  role: string;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI_ENTRY = join(REPO_ROOT, 'bin', 'vpp-server.js');

/**
 * The wrapper a kubelet would give a container: uid 10000, no_new_privs, the bounding set limited
 * to `caps`, no ambient or inheritable capabilities. A program started under it holds a
 * capability only through a file capability: use `podNode` for the dataplane.
 */
export function unprivileged(caps: string[]): string[] {
  return setprivArgs(POD_UID, POD_UID, caps);
}

/**
 * `unprivileged(caps)` followed by the node to run: with NET_RAW the file-capability copy
 * (cap_net_raw+ep, as the image's /usr/local/bin/vpp-server-node), otherwise the plain node (a
 * container that lacks the capability, running a program that has none, like the init container).
 */
export function podNode(caps: string[]): string[] {
  const raw = caps.some((c) => /^(cap_)?net_raw$/i.test(c));
  return [...unprivileged(caps), raw ? capNodeCopy(process.execPath) : process.execPath];
}

/**
 * The lab switch's startup.conf: trunk0 (towards the worker, tagged) and access0 (towards the
 * client, untagged), VLAN `vlanId` cross-connected both ways, its tag popped on the way in and
 * pushed on the way out (VPP's tag-rewrite semantics).
 */
export function switchStartupLines(vlanId: number): string[] {
  return [
    'create host-interface name trunk0',
    'create host-interface name access0',
    'set interface state host-trunk0 up',
    'set interface state host-access0 up',
    `create sub-interfaces host-trunk0 ${vlanId}`,
    `set interface state host-trunk0.${vlanId} up`,
    `set interface l2 tag-rewrite host-trunk0.${vlanId} pop 1`,
    `set interface l2 xconnect host-trunk0.${vlanId} host-access0`,
    `set interface l2 xconnect host-access0 host-trunk0.${vlanId}`,
  ];
}

export class Lab {
  readonly ns: { switch: string; worker: string; pod: string; client: string };
  readonly stateDir: string;
  readonly podSocket: string;
  readonly switchSocket: string;
  readonly podConfDir: string;
  readonly podWwwDir: string;
  readonly switchConfDir: string;
  /** every pod of the worker; pods[0] is the one of ns.pod, podSocket, podConfDir */
  readonly pods: LabPod[];

  constructor(
    readonly settings: LabSettings,
    private readonly progress: (message: string) => void = () => {},
  ) {
    const p = settings.prefix;
    if (!/^[a-z][a-z0-9]{0,11}$/.test(p)) {
      throw new Error(`lab prefix '${p}' is not valid: use 1-12 lower-case letters and digits, starting with a letter`);
    }
    this.ns = { switch: `${p}-switch`, worker: `${p}-worker`, pod: `${p}-pod`, client: `${p}-client` };
    this.stateDir = `/run/vpp-server/${p}`;
    this.podSocket = join(this.stateDir, 'cli.sock');
    this.switchSocket = join(this.stateDir, 'switch.sock');
    this.podConfDir = join(this.stateDir, 'pod', 'conf');
    this.podWwwDir = join(this.stateDir, 'pod', 'www');
    this.switchConfDir = join(this.stateDir, 'switch');
    const replicas = settings.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_LAB_REPLICAS) {
      throw new Error(`lab replicas ${replicas}: use a whole number from 1 to ${MAX_LAB_REPLICAS}`);
    }
    const [base, len] = settings.serverAddress.split('/');
    const octets = base!.split('.').map(Number);
    this.pods = Array.from({ length: replicas }, (_, n) => {
      const ip = [...octets.slice(0, 3), octets[3]! + n].join('.');
      const dir = n === 0 ? join(this.stateDir, 'pod') : join(this.stateDir, `pod${n}`);
      const v6 = settings.serverAddress6 !== undefined ? ipv6Plus(settings.serverAddress6, n) : undefined;
      return {
        ordinal: n,
        ns: n === 0 ? this.ns.pod : `${p}-pod${n}`,
        address: `${ip}/${len}`,
        ip,
        ...(v6 !== undefined ? { address6: `${v6.ip}/${v6.len}`, ip6: v6.ip } : {}),
        socket: n === 0 ? this.podSocket : join(this.stateDir, `cli${n}.sock`),
        confDir: join(dir, 'conf'),
        wwwDir: join(dir, 'www'),
        role: n === 0 ? 'pod' : `pod${n}`,
      };
    });
  }

  /** Every namespace of the lab: switch, worker, client and the pods. */
  get namespaces(): string[] {
    return [this.ns.switch, this.ns.worker, this.ns.client, ...this.pods.map((x) => x.ns)];
  }

  get serverIp(): string {
    return this.settings.serverAddress.split('/')[0];
  }

  get clientIp(): string {
    return this.settings.clientAddress.split('/')[0];
  }

  private pidFile(role: string): string {
    return join(this.stateDir, `${role}.pid`);
  }

  logFile(role: string): string {
    return join(this.stateDir, `${role}.log`);
  }

  pid(role: string): number | undefined {
    try {
      const pid = Number(readFileSync(this.pidFile(role), 'utf8').trim());
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** True when every namespace exists, both dataplanes run and the pod answers on its CLI. */
  async healthy(): Promise<boolean> {
    const existing = new Set(listNamespaces());
    if (!this.namespaces.every((n) => existing.has(n))) return false;
    // a lab with another number of pods is not this one
    if (listNamespaces().some((n) => n.startsWith(`${this.settings.prefix}-`) && !this.namespaces.includes(n))) return false;
    if (this.pid('switch') === undefined || this.pods.some((x) => this.pid(x.role) === undefined)) return false;
    for (const x of this.pods) {
      if (!((await this.cli(x.socket, 'show interface address'))?.includes(x.address) ?? false)) return false;
      if (x.ip6 !== undefined && !(await this.dadPassed(x))) return false;
    }
    return true;
  }

  /** Whether the pod's IPv6 address passed duplicate address detection (show ip6 interface says "preferred"). */
  async dadPassed(x: LabPod): Promise<boolean> {
    const out = await this.cli(x.socket, `show ip6 interface host-macvlan0.${this.settings.vlanId}`);
    return out?.includes(`      ${x.ip6}: preferred`) ?? false;
  }

  /** Builds the lab; does nothing if it is already up and healthy, rebuilds a half-built one. */
  async up(): Promise<'created' | 'already-up'> {
    requireRoot();
    if (await this.healthy()) return 'already-up';
    if (listNamespaces().some((n) => n.startsWith(`${this.settings.prefix}-`)) || existsSync(this.stateDir)) {
      this.progress('found a partial lab: removing it first');
      this.down();
    }
    this.progress(`creating namespaces ${this.namespaces.join(', ')}`);
    for (const n of this.namespaces) {
      run(['ip', 'netns', 'add', n]);
      inNs(n, ['ip', 'link', 'set', 'lo', 'up']);
      // Keep captures and counters free of IPv6 autoconfiguration noise.
      inNs(n, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    this.progress('wiring client ── switch ── worker eth0, and macvlan0 (bridge) on the worker eth0 into the pod');
    run(['ip', 'link', 'add', 'access0', 'netns', this.ns.switch, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns.client]);
    run(['ip', 'link', 'add', 'trunk0', 'netns', this.ns.switch, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns.worker]);
    // one macvlan per pod, each with its own MAC, as the macvlan CNI plugin gives every pod
    for (const x of this.pods) {
      run(['ip', '-n', this.ns.worker, 'link', 'add', `macvlan${x.ordinal}`, 'link', 'eth0', 'type', 'macvlan', 'mode', 'bridge']);
      run(['ip', '-n', this.ns.worker, 'link', 'set', `macvlan${x.ordinal}`, 'netns', x.ns]);
      if (x.ordinal !== 0) run(['ip', '-n', x.ns, 'link', 'set', `macvlan${x.ordinal}`, 'name', 'macvlan0']);
    }
    for (const [n, dev] of [
      [this.ns.switch, 'access0'],
      [this.ns.switch, 'trunk0'],
      [this.ns.client, 'eth0'],
      [this.ns.worker, 'eth0'],
      ...this.pods.map((x) => [x.ns, 'macvlan0']),
    ] as [string, string][]) {
      run(['ip', '-n', n, 'link', 'set', dev, 'up']);
    }
    run(['ip', '-n', this.ns.client, 'addr', 'add', this.settings.clientAddress, 'dev', 'eth0']);
    if (this.settings.clientAddress6 !== undefined) {
      // The client is a dual-stack host: IPv6 on its eth0 only, no router discovery (nothing
      // sends RAs here), no DAD delay for its own address (ours is what DAD is tested on). The
      // pod's kernel keeps IPv6 off on macvlan0, so it joins no multicast group there: the
      // dataplane's own PACKET_ADD_MEMBERSHIP is what makes ND for its address work.
      inNs(this.ns.client, ['sysctl', '-qw', 'net.ipv6.conf.eth0.disable_ipv6=0', 'net.ipv6.conf.eth0.accept_ra=0', 'net.ipv6.conf.eth0.autoconf=0']);
      run(['ip', '-n', this.ns.client, 'addr', 'add', this.settings.clientAddress6, 'dev', 'eth0', 'nodad']);
    }
    // A veth leaves TCP/UDP checksums to "hardware" (CHECKSUM_PARTIAL) and no hardware ever
    // fills them in: the client's frames would cross the switch with partial checksums. Make
    // the client's kernel compute them, as a host whose NIC does the offload would deliver them.
    inNs(this.ns.client, ['ethtool', '-K', 'eth0', 'tx', 'off']);
    // The same in the other direction: the pod's dataplane hands the kernel TCP frames with the
    // checksum left partial and 64 KiB super-frames (TX offload, PACKET_VNET_HDR), which veth and
    // macvlan pass on whole. Our switch copies frames byte for byte and cannot forward either
    // (a super-frame is larger than its slots, a partial checksum would reach the client). So the
    // worker's "NIC" (eth0, macvlan0's lower device) gets checksum offload, TSO and GSO off: the
    // kernel then segments and checksums in software when macvlan0 hands the frame to eth0
    // (validate_xmit_skb), and the switch sees ordinary frames. Not on macvlan0 itself: macvlan
    // keeps HW_CSUM and GSO always on (ALWAYS_ON_OFFLOADS) and leaves the work to its lower
    // device; `ethtool -K macvlan0 …` answers "[requested off]". The flat topology keeps them.
    inNs(this.ns.worker, ['ethtool', '-K', 'eth0', 'tx', 'off', 'tso', 'off', 'gso', 'off']);

    mkdirSync(this.switchConfDir, { recursive: true });
    chownSync(this.stateDir, POD_UID, POD_UID);
    for (const x of this.pods) {
      mkdirSync(x.confDir, { recursive: true });
      mkdirSync(x.wwwDir, { recursive: true });
      for (const d of [dirname(x.confDir), x.confDir, x.wwwDir]) chownSync(d, POD_UID, POD_UID);
    }

    this.makeCertificate(); // issue 11: HTTPS in the lab

    // The worker NIC's promiscuity before any dataplane runs (see workerPromiscuityBaseline).
    writeFileSync(join(this.stateDir, 'worker-promiscuity'), `${this.promiscuity(this.ns.worker, 'eth0')}\n`);

    this.progress('starting the switch dataplane (L2 xconnect access0 <-> trunk0.123 with tag-rewrite pop 1)');
    this.writeSwitchConfig();
    this.spawnDataplane('switch', this.ns.switch, [], join(this.switchConfDir, 'vpp.conf'));
    await this.waitForCli(this.switchSocket, 'switch', 'host-trunk0.123');

    const node = podNode(['net_raw']).at(-1)!;
    for (const x of this.pods) {
      this.progress(`running vpp-server init in ${x.ns} (uid ${POD_UID}, no capabilities)`);
      inNs(x.ns, [...unprivileged([]), 'env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, ...this.initEnv(x), process.execPath, CLI_ENTRY, 'init']);
      this.progress(`starting the pod dataplane in ${x.ns} (uid ${POD_UID}, CAP_NET_RAW only, from the file capability of ${node})`);
      this.spawnDataplane(x.role, x.ns, ['net_raw'], join(x.confDir, 'vpp.conf'));
    }
    for (const x of this.pods) await this.waitForCli(x.socket, x.role, x.address);
    for (const x of this.pods) {
      if (x.ip6 === undefined) continue;
      this.progress(`waiting for ${x.ip6} to pass duplicate address detection (about a second)`);
      await waitFor(`DAD of ${x.ip6} in ${x.ns}`, async () => ((await this.dadPassed(x)) ? true : undefined), 10_000);
    }
    return 'created';
  }

  promiscuity(ns: string, dev: string): number {
    return (JSON.parse(run(['ip', '-n', ns, '-d', '-j', 'link', 'show', dev])) as { promiscuity: number }[])[0].promiscuity;
  }

  /**
   * The worker NIC's promiscuity as the kernel set it before our dataplanes started. A veth
   * has no unicast MAC filter, so the kernel counts one promiscuity for the macvlan's MAC on
   * it (a NIC with a filter, as in the seed, stays at 0); our dataplanes must add nothing.
   */
  workerPromiscuityBaseline(): number {
    return Number(readFileSync(join(this.stateDir, 'worker-promiscuity'), 'utf8'));
  }

  /**
   * The environment the init container gets in the Deployment (one pod) or the StatefulSet (more:
   * the same IP_ADDRESS for all, REPLICAS and POD_NAME, from which init derives the address),
   * pointed at the lab's directories.
   */
  initEnv(pod: LabPod = this.pods[0]!): string[] {
    return [
      'HOST_INTERFACE=macvlan0',
      `VLAN_ID=${this.settings.vlanId}`,
      `IP_ADDRESS=${this.settings.serverAddress}`,
      ...(this.settings.serverAddress6 !== undefined ? [`IPV6_ADDRESS=${this.settings.serverAddress6}`] : []),
      `CONF_DIR=${pod.confDir}`,
      `WWW_ROOT=${pod.wwwDir}`,
      `CLI_SOCKET=${pod.socket}`,
      `TLS_DIR=${this.tlsDir}`,
      ...(this.pods.length > 1 ? [`REPLICAS=${this.pods.length}`, `POD_NAME=vpp-server-${pod.ordinal}`] : []),
    ];
  }

  // ---- issue 11: the lab's certificate (HTTPS on 443 beside HTTP on 80) -----------------------

  /** The pod's certificate directory, laid out as a mounted kubernetes.io/tls Secret (tls.crt -> ..data/tls.crt). */
  get tlsDir(): string {
    return join(this.stateDir, 'tls');
  }

  /** What clients trust: `curl --cacert <caFile> https://192.168.123.150/`. */
  get caFile(): string {
    return join(this.stateDir, 'ca.pem');
  }

  /**
   * Publishes a pair into tlsDir the way the kubelet updates a Secret volume (a new hidden
   * directory, then `..data` swapped by rename); the dataplanes pick it up without a restart.
   * Files are root:10000 mode 0440, as a Secret with defaultMode 0440 and fsGroup 10000.
   */
  publishCertificate(certPem: string | Buffer, keyPem: string | Buffer): void {
    const volume: PlannedSecret = {
      volume: 'tls',
      secretName: `${this.settings.prefix}-tls`,
      mode: 0o440,
      items: [
        { key: 'tls.crt', path: 'tls.crt' },
        { key: 'tls.key', path: 'tls.key' },
      ],
      source: this.tlsDir,
      view: this.tlsDir,
    };
    writeSecretVolume(volume, { 'tls.crt': certPem, 'tls.key': keyPem }, POD_UID);
  }

  /** A fresh self-signed certificate for every pod address (and the name vpp.lab), trusted through caFile. */
  private makeCertificate(): void {
    const pair = selfSignedPair({ names: [...this.pods.map((x) => x.ip), ...this.pods.flatMap((x) => (x.ip6 !== undefined ? [x.ip6] : [])), 'vpp.lab'], commonName: 'vpp.lab' });
    this.publishCertificate(pair.certPem, pair.keyPem);
    writeFileSync(this.caFile, pair.certPem, { mode: 0o644 });
  }

  // ---- end of issue 11's part ----------------------------------------------------------------

  private writeSwitchConfig(): void {
    const v = this.settings.vlanId;
    writeFileSync(
      join(this.switchConfDir, 'vpp.conf'),
      `unix {\n  nodaemon cli-listen ${this.switchSocket}\n  startup-config ${join(this.switchConfDir, 'startup.conf')}\n}\n`,
    );
    writeFileSync(
      join(this.switchConfDir, 'startup.conf'),
      `${switchStartupLines(v).join('\n')}\n`,
    );
  }

  private spawnDataplane(role: string, ns: string, caps: string[] | null, confPath: string): void {
    const log = openSync(this.logFile(role), 'a');
    // the pods as a kubelet runs them; the switch (lab infrastructure, not a pod) as root
    const program = role === 'switch' ? [process.execPath] : podNode(caps ?? []);
    const child = spawn('ip', ['netns', 'exec', ns, ...program, ...DATAPLANE_NODE_FLAGS, CLI_ENTRY, 'run', '-c', confPath], {
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    if (child.pid === undefined) throw new Error(`could not start the ${role} dataplane`);
    writeFileSync(this.pidFile(role), `${child.pid}\n`);
    child.unref();
  }

  private async waitForCli(socket: string, role: string, expect: string): Promise<void> {
    try {
      await waitFor(`the ${role} dataplane to configure ${expect}`, async () => {
        if (this.pid(role) === undefined) throw new Error(`the ${role} dataplane exited`);
        const out = await this.cli(socket, 'show interface address');
        return out?.includes(expect) ? true : undefined;
      });
    } catch (err) {
      const tail = existsSync(this.logFile(role)) ? readFileSync(this.logFile(role), 'utf8').trim().split('\n').slice(-15).join('\n  ') : '(no log)';
      throw new Error(`${(err as Error).message}\n  last lines of ${this.logFile(role)}:\n  ${tail}`);
    }
  }

  /** Runs one CLI command on a dataplane; undefined if it does not answer. */
  async cli(socket: string, command: string): Promise<string | undefined> {
    let client: CliClient | undefined;
    try {
      client = await CliClient.connect(socket, 1000);
      const reply = await client.run(command);
      return reply.output;
    } catch {
      return undefined;
    } finally {
      client?.close();
    }
  }

  /** Stops only the pods' dataplanes (tests then run the pod their own way). */
  stopPod(): void {
    for (const x of this.pods) {
      const pid = this.pid(x.role);
      if (pid !== undefined) stopProcess(pid);
      rmSync(this.pidFile(x.role), { force: true });
    }
  }

  /**
   * Restarts the first pod's dataplane (as the kubelet runs it) after `edit` changed the files
   * init wrote: (vpp.conf, startup.conf) → the new pair. Resolves once its address is configured.
   */
  async restartPod(edit: (vppConf: string, startupConf: string) => [string, string]): Promise<void> {
    const x = this.pods[0]!;
    const pid = this.pid(x.role);
    if (pid !== undefined) stopProcess(pid);
    rmSync(this.pidFile(x.role), { force: true });
    const vppPath = join(x.confDir, 'vpp.conf');
    const startupPath = join(x.confDir, 'startup.conf');
    const [vpp, startup] = edit(readFileSync(vppPath, 'utf8'), readFileSync(startupPath, 'utf8'));
    writeFileSync(vppPath, vpp);
    writeFileSync(startupPath, startup);
    this.spawnDataplane(x.role, x.ns, ['net_raw'], vppPath);
    await this.waitForCli(x.socket, x.role, x.address);
  }

  /** Stops the dataplanes and removes every namespace and file the lab made. */
  down(): string[] {
    requireRoot();
    // every dataplane this prefix started, whatever number of pods it was brought up with
    const roles = existsSync(this.stateDir) ? readdirSync(this.stateDir).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4)) : [];
    for (const role of roles) {
      const pid = this.pid(role);
      if (pid !== undefined) stopProcess(pid);
    }
    // Anything else still running in the namespaces (a ping, a capture) goes too.
    const mine = listNamespaces().filter((n) => n.startsWith(`${this.settings.prefix}-`));
    const removed = deleteNamespaces([...new Set([...this.namespaces, ...mine])]);
    rmSync(this.stateDir, { recursive: true, force: true });
    return removed;
  }

  async status(): Promise<LabStatus> {
    const existing = new Set(listNamespaces());
    const namespaces = Object.fromEntries(this.namespaces.map((n) => [n, existing.has(n)]));
    const podPid = this.pid('pod');
    const switchPid = this.pid('switch');
    const addresses = podPid !== undefined ? await this.cli(this.podSocket, 'show interface address') : undefined;
    const pods = this.pods.map((x) => ({ ns: x.ns, address: x.address, ...(this.pid(x.role) !== undefined ? { pid: this.pid(x.role)! } : {}) }));
    return { namespaces, podPid, switchPid, podAddresses: addresses, pods };
  }

  /** Pings the dataplane (pod 0, or the address given) from the client; returns ping's output and whether all replies came. */
  ping(count = 3, ip = this.serverIp): { ok: boolean; output: string } {
    try {
      const output = inNs(this.ns.client, ['ping', ...(ip.includes(':') ? ['-6'] : []), '-c', String(count), '-W', '1', '-i', '0.2', ip], { timeoutMs: 10_000 + count * 1000 });
      return { ok: true, output };
    } catch (err) {
      return { ok: false, output: (err as Error).message };
    }
  }

  clientCan(argv: string[]): boolean {
    return succeeds(['ip', 'netns', 'exec', this.ns.client, ...argv]);
  }
}

export interface LabStatus {
  namespaces: Record<string, boolean>;
  podPid?: number;
  switchPid?: number;
  podAddresses?: string;
  pods: { ns: string; address: string; pid?: number }[];
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('the lab creates network namespaces: run it as root');
}


/** `addr/len` + n (pod ordinal n), as init computes it for a StatefulSet. */
function ipv6Plus(cidr: string, n: number): { ip: string; len: string } {
  const [addr, len] = cidr.split('/');
  const b = parseIpv6(addr!);
  if (b === null) throw new Error(`lab: ${cidr} is not an IPv6 address`);
  let carry = n;
  for (let i = 15; i >= 0 && carry > 0; i--) {
    const v = b[i] + carry;
    b[i] = v & 0xff;
    carry = v >>> 8;
  }
  return { ip: formatIpv6(b), len: len! };
}
