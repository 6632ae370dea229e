/** `vpp-server run -c <vpp.conf>`: the dataplane process. */
import { readFileSync } from 'node:fs';
import { Engine } from '../engine.js';
import { createLogger } from '../log.js';
import { ConfigError, readVppConf, type EngineConfig } from './vpp-conf.js';
import type { Device } from '../io/device.js';

const USAGE = `usage: vpp-server run -c <vpp.conf>
  -c <file>    VPP startup configuration (unix { cli-listen … startup-config … })`;

/** Capabilities in the effective set, by name, as the kernel reports them in /proc. */
function effectiveCapabilities(): string[] {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const hex = /CapEff:\s*([0-9a-f]+)/.exec(status)?.[1] ?? '0';
    const bits = BigInt(`0x${hex}`);
    const names: Record<number, string> = { 12: 'cap_net_admin', 13: 'cap_net_raw', 11: 'cap_net_broadcast', 14: 'cap_ipc_lock', 21: 'cap_sys_admin' };
    if (bits === (1n << 41n) - 1n || bits > (1n << 38n)) return ['all'];
    return Object.entries(names)
      .filter(([bit]) => (bits >> BigInt(bit)) & 1n)
      .map(([, n]) => n);
  } catch {
    return [];
  }
}

export async function main(argv: string[]): Promise<number> {
  let confPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-c' || argv[i] === '--config') confPath = argv[++i];
    else if (argv[i] === '-h' || argv[i] === '--help') {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`run: unknown option '${argv[i]}'\n${USAGE}`);
      return 2;
    }
  }
  if (confPath === undefined) {
    console.error(`run: missing -c <vpp.conf>\n${USAGE}`);
    return 2;
  }
  let config: EngineConfig;
  try {
    config = readVppConf(confPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    console.error(`${confPath}: cannot read: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    return 1;
  }
  const log = createLogger({ level: config.engine['log-level'] });
  for (const w of config.warnings) log.warn({ code: 'CONF_IGNORED' }, w);

  const { AfPacketDevice } = await import('../io/af-packet.js');
  const openDevice = (ifname: string): Device =>
    AfPacketDevice.open(ifname, {
      ringVersion: config.engine['ring-version'] !== undefined ? (Number(config.engine['ring-version']) as 2 | 3) : undefined,
      blockSize: config.engine['block-size'] !== undefined ? Number(config.engine['block-size']) : undefined,
      blockCount: config.engine['block-count'] !== undefined ? Number(config.engine['block-count']) : undefined,
      frameSize: config.engine['frame-size'] !== undefined ? Number(config.engine['frame-size']) : undefined,
    });

  const engine = new Engine({ config, log, openDevice });
  try {
    await engine.start();
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error({ code: 'CONFIG_ERROR', file: err.file, line: err.line }, err.message);
      console.error(err.message);
    } else {
      const e = err as NodeJS.ErrnoException;
      log.error({ code: e.code ?? 'START_FAILED' }, e.message);
      console.error(`run: ${e.message}`);
    }
    await engine.stop();
    return 1;
  }
  log.info({ event: 'started', capabilities: effectiveCapabilities(), uid: process.getuid?.(), ...engine.summary() }, 'vpp-server dataplane running');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn({ code: 'SECOND_SIGNAL', signal }, 'second signal: exiting at once');
        process.exit(1);
      }
      stopping = true;
      log.info({ event: 'stopping', signal }, `${signal}: stopping`);
      void engine.stop().then(() => {
        log.info({ event: 'stopped' }, 'stopped');
        resolve(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
