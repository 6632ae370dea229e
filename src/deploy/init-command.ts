/**
 * `vpp-server init`: what the init container runs. Configured by the environment (as the seed's
 * init container was); `--sysfs-net DIR` or SYSFS_NET replace /sys/class/net for tests.
 */
import { INIT_DEFAULTS, initSettingsFromEnv, runInit } from './init.js';
import { ValueError } from './values.js';

const HELP = `usage: vpp-server init [--sysfs-net DIR]

Writes CONF_DIR/vpp.conf and CONF_DIR/startup.conf for the dataplane (ours or FD.io VPP) and, when
WWW_ROOT has no content of its own, WWW_ROOT/index.html ("Welcome"). Safe to run again.

environment:
  HOST_INTERFACE  interface the dataplane opens with AF_PACKET (default ${INIT_DEFAULTS.HOST_INTERFACE})
  VLAN_ID         VLAN of the userspace sub-interface, 1-4094 (required)
  IP_ADDRESS      IPv4 host address with prefix, e.g. 192.168.123.150/24 (required)
  WWW_ROOT        web root served over HTTP (default ${INIT_DEFAULTS.WWW_ROOT})
  WWW_SOURCE      optional directory (the mounted web-content ConfigMap) copied into WWW_ROOT
  CONF_DIR        where vpp.conf and startup.conf go (default ${INIT_DEFAULTS.CONF_DIR})
  HTTP_PORT       HTTP port (default ${INIT_DEFAULTS.HTTP_PORT})
  CACHE_SIZE      HTTP file cache size (default ${INIT_DEFAULTS.CACHE_SIZE})
  CLI_SOCKET      CLI socket of the dataplane (default ${INIT_DEFAULTS.CLI_SOCKET})
  SYSFS_NET       where interfaces are looked up (default ${INIT_DEFAULTS.SYSFS_NET})

options:
  --sysfs-net DIR same as SYSFS_NET
  -h, --help      this text`;

export async function main(args: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const e = { ...env };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help') {
      console.log(HELP);
      return 0;
    }
    if (a === '--sysfs-net' || a.startsWith('--sysfs-net=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i];
      if (v === undefined) {
        console.error('vpp-server init: --sysfs-net needs a directory');
        return 2;
      }
      e['SYSFS_NET'] = v;
      continue;
    }
    console.error(`vpp-server init: unknown argument '${a}' (init is configured by environment variables; see --help)`);
    return 2;
  }
  try {
    const settings = initSettingsFromEnv(e);
    const r = runInit(settings);
    console.log(`init: ${settings.hostInterface} has MAC ${r.mac}`);
    for (const f of r.written) console.log(`init: wrote ${f}`);
    for (const f of r.unchanged) console.log(`init: unchanged ${f}`);
    console.log(
      r.defaultIndex
        ? `init: serving the default index.html from ${settings.wwwRoot}`
        : `init: ${settings.wwwRoot} has content of its own; default index.html not written`,
    );
    console.log(
      `init: host-${settings.hostInterface}.${settings.vlanId} will have ${settings.ip.cidr}; ` +
        `HTTP on port ${settings.httpPort}; CLI socket ${settings.cliSocket}`,
    );
    return 0;
  } catch (err) {
    if (err instanceof ValueError) {
      const lines = err.message.split('\n');
      console.error(`vpp-server init: ${lines.length > 1 ? 'invalid environment:\n  ' + lines.join('\n  ') : lines[0]}`);
      return err.exitCode;
    }
    console.error(`vpp-server init: ${(err as Error).message}`);
    return 1;
  }
}
