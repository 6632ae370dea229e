/**
 * A dataplane over in-memory devices, configured through the CLI exactly as the seed's
 * startup.conf does it.
 */
import { createRegistry, execute } from '../../src/cli/cli.js';
import type { CliContext } from '../../src/cli/context.js';
import type { CommandRegistry } from '../../src/cli/registry.js';
import { Dataplane, type DataplaneOptions } from '../../src/dataplane/dataplane.js';
import type { Device } from '../../src/io/device.js';
import { MemoryDevice, type InjectOptions } from '../../src/io/memory-device.js';
import { CLIENT_IP_TEXT, CLIENT_MAC_TEXT, mac } from './frames.js';

/** The seed's startup.conf, minus the HTTP line (which belongs to the TCP/HTTP work). */
export const SEED_STARTUP_LINES = [
  'create host-interface name macvlan0',
  'set interface mac address host-macvlan0 c6:b4:b5:74:11:88',
  'set int state host-macvlan0 up',
  'create sub-interfaces host-macvlan0 123',
  'set interface state host-macvlan0.123 up',
  'set int ip address host-macvlan0.123 192.168.123.150/24',
];

export const SEED_HTTP_LINE = 'http static server www-root /www uri tcp://0.0.0.0/80 cache-size 512m';

/** The kernel's MAC of macvlan0 in these tests: deliberately not the configured one. */
export const KERNEL_MAC_TEXT = '02:00:00:aa:bb:cc';

export interface TestBed {
  dp: Dataplane;
  registry: CommandRegistry<CliContext>;
  ctx: CliContext;
  /** Devices by kernel interface name, created on demand by `create host-interface`. */
  devices: Map<string, MemoryDevice>;
  /** The clock the dataplane sees (ms); tests move it. */
  clock: { now: number };
  events: string[];
  /** Runs a CLI line; returns its output, or throws with the error text if it failed. */
  cli(line: string): Promise<string>;
  /** Runs a CLI line and returns the raw result (for testing errors). */
  run(line: string): Promise<{ ok: boolean; output: string }>;
  device(ifname?: string): MemoryDevice;
  /** Injects frames into a device, delivers them as one vector, and returns what was sent in response. */
  send(frames: Buffer | Buffer[], options?: InjectOptions, ifname?: string): Buffer[];
}

export interface TestBedOptions extends Partial<DataplaneOptions> {
  /** MTU of the memory devices. */
  mtu?: number;
  /** Vector capacity of the memory devices. */
  vectorCapacity?: number;
  /** Wraps each memory device before the dataplane sees it (pcap writer, fault injector). */
  wrap?: (device: MemoryDevice) => Device;
  /** The poison byte the memory devices put around each frame they deliver (MemoryDevice.rxPoison). */
  rxPoison?: number;
}

export async function createTestBed(lines: readonly string[] = [], options: TestBedOptions = {}): Promise<TestBed> {
  const devices = new Map<string, MemoryDevice>();
  const clock = { now: 1_000_000 };
  const events: string[] = [];
  let nextMac = 0xaabbcc;
  const openDevice = (ifname: string): Device => {
    const kernelMac =
      ifname === 'macvlan0' ? mac(KERNEL_MAC_TEXT) : Buffer.from([0x02, 0, 0, (nextMac >>> 16) & 255, (nextMac >>> 8) & 255, nextMac++ & 255]);
    const dev = new MemoryDevice(ifname, kernelMac, options.mtu ?? 1500, options.vectorCapacity ?? 256);
    if (options.rxPoison !== undefined) dev.rxPoison = options.rxPoison;
    devices.set(ifname, dev);
    return options.wrap !== undefined ? options.wrap(dev) : dev;
  };
  const { mtu: _mtu, vectorCapacity: _vc, wrap: _wrap, rxPoison: _poison, ...dataplaneOptions } = options;
  const dp = new Dataplane({
    openDevice,
    now: () => clock.now,
    onEvent: (m) => events.push(m),
    ...dataplaneOptions,
  });
  const registry = createRegistry();
  const ctx: CliContext = { dp, startedAt: Date.now(), errorSources: [] };
  const run = (line: string) => execute(registry, line, ctx);
  const cli = async (line: string): Promise<string> => {
    const r = await run(line);
    if (!r.ok) throw new Error(`CLI '${line}' failed: ${r.output}`);
    return r.output;
  };
  for (const line of lines) await cli(line);
  const device = (ifname = 'macvlan0'): MemoryDevice => {
    const d = devices.get(ifname);
    if (d === undefined) throw new Error(`no device ${ifname}`);
    return d;
  };
  const send = (frames: Buffer | Buffer[], injectOptions: InjectOptions = {}, ifname = 'macvlan0'): Buffer[] => {
    const d = device(ifname);
    d.takeSent();
    for (const f of Array.isArray(frames) ? frames : [frames]) d.inject(f, injectOptions);
    d.deliver();
    return d.takeSent();
  };
  return { dp, registry, ctx, devices, clock, events, cli, run, device, send };
}

/** The seed's configuration (VLAN 123, 192.168.123.150/24, MAC c6:b4:b5:74:11:88). */
export function seedTestBed(options: TestBedOptions = {}): Promise<TestBed> {
  return createTestBed(SEED_STARTUP_LINES, options);
}

/**
 * The seed dataplane with the lab client (CLIENT_IP / CLIENT_MAC) already in its neighbour cache,
 * as after the client's first ARP: replies to the client leave at once instead of waiting for
 * ARP. (The neighbour is configured with `set ip neighbor`, so no frame is counted for it.)
 */
export async function seedTestBedWithClient(options: TestBedOptions = {}): Promise<TestBed> {
  const tb = await createTestBed(SEED_STARTUP_LINES, options);
  await tb.cli(`set ip neighbor host-macvlan0.123 ${CLIENT_IP_TEXT} ${CLIENT_MAC_TEXT}`);
  return tb;
}

/** Sum of every node's error/disposition counters, by "node/reason". */
export function counters(dp: Dataplane): Map<string, number> {
  const m = new Map<string, number>();
  for (const node of dp.graphNodes()) {
    if (node.accounts !== 'received') continue;
    node.errorNames.forEach((reason, i) => {
      if (node.errors[i] !== 0) m.set(`${node.name}/${reason}`, node.errors[i]);
    });
  }
  return m;
}

/** The output side's counters (ip4-lookup, ip4-rewrite, ip4-arp, interface-output), by "node/reason". */
export function sentCounters(dp: Dataplane): Map<string, number> {
  const m = new Map<string, number>();
  for (const node of dp.graphNodes()) {
    if (node.accounts !== 'sent') continue;
    node.errorNames.forEach((reason, i) => {
      if (node.errors[i] !== 0) m.set(`${node.name}/${reason}`, node.errors[i]);
    });
  }
  return m;
}

export function totalDispositions(dp: Dataplane): number {
  let total = 0;
  for (const node of dp.graphNodes()) if (node.accounts === 'received') for (const v of node.errors) total += v;
  return total;
}

/** The single counter that changed between two snapshots (asserts exactly one changed, by 1). */
export function counterDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [k, v] of after) {
    const diff = v - (before.get(k) ?? 0);
    if (diff !== 0) d.set(k, diff);
  }
  return d;
}
