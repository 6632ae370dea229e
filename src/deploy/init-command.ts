/**
 * `vpp-server init`: what the init container runs. Configured by the environment (as the seed's
 * init container was); `--sysfs-net DIR` or SYSFS_NET replace /sys/class/net for tests.
 */
import { INIT_DEFAULTS, initSettingsFromEnv, runInit } from './init.js';
import { ValueError } from './values.js';
import { FlagError, parseFlags, type FlagSpec } from '../flags.js';

const FLAGS: FlagSpec[] = [{ name: 'sysfs-net', value: 'DIR', help: 'same as SYSFS_NET' }];

const HELP = `usage: vpp-server init [--sysfs-net DIR]

Writes CONF_DIR/vpp.conf and CONF_DIR/startup.conf for the dataplane (ours or FD.io VPP) and, when
WWW_ROOT has no content of its own, WWW_ROOT/index.html ("Welcome"). Safe to run again.

environment:
  HOST_INTERFACE  interface the dataplane opens with AF_PACKET (default ${INIT_DEFAULTS.HOST_INTERFACE})
  VLAN_ID         VLAN of the userspace sub-interface, 1-4094 (required)
  IP_ADDRESS      host address with prefix (required): IPv4, e.g. 192.168.123.150/24, or IPv6 for an
                  IPv6-only pod, e.g. 2001:db8:123::150/64 (then 'uri tcp://::/HTTP_PORT', no IPv4)
  IPV6_ADDRESS    optional, dual stack: an IPv6 address with prefix beside an IPv4 IP_ADDRESS; adds
                  the address and 'http static listener add uri tcp://::/HTTP_PORT'
  GATEWAY6        optional next hop of the IPv6 default route (link-local, or on the IPv6 prefix):
                  adds 'ip route add ::/0 via GATEWAY6 host-HOST_INTERFACE.VLAN_ID'
  WWW_ROOT        web root served over HTTP (default ${INIT_DEFAULTS.WWW_ROOT})
  WWW_SOURCE      optional directory (the mounted web-content ConfigMap) copied into WWW_ROOT
  CONF_DIR        where vpp.conf and startup.conf go (default ${INIT_DEFAULTS.CONF_DIR})
  HTTP_PORT       HTTP port (default ${INIT_DEFAULTS.HTTP_PORT})
  CACHE_SIZE      HTTP file cache size (default ${INIT_DEFAULTS.CACHE_SIZE})
  CLI_SOCKET      CLI socket of the dataplane (default ${INIT_DEFAULTS.CLI_SOCKET})
  GATEWAY         optional next hop of the IPv4 default route: adds
                  'ip route add 0.0.0.0/0 via GATEWAY host-HOST_INTERFACE.VLAN_ID' (inside the prefix, not the address;
                  refused when IP_ADDRESS is IPv6: use GATEWAY6)
  REPLICAS        pods of the StatefulSet (default 1); above 1 each address (IPv4 and IPv6) is the given one
                  + the ordinal of POD_NAME
  POD_NAME        this pod's name, <name>-<ordinal> (the manifests set it from metadata.name)
  TLS_DIR         optional directory of tls.crt and tls.key (the mounted TLS_SECRET): adds
                  'http static listener add uri tls://0.0.0.0/HTTPS_PORT cert TLS_DIR/tls.crt key TLS_DIR/tls.key'
                  (tls://::/HTTPS_PORT for IPv6, dual stack or IPv6-only)
  HTTPS_PORT      HTTPS port with TLS_DIR (default 443)
  SYSFS_NET       where interfaces are looked up (default ${INIT_DEFAULTS.SYSFS_NET})

options:
  --sysfs-net DIR same as SYSFS_NET
  -h, --help      this text`;

export async function main(args: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const e = { ...env };
  try {
    const f = parseFlags(args, FLAGS);
    if (f.help) {
      console.log(HELP);
      return 0;
    }
    if (typeof f.values['sysfs-net'] === 'string') e['SYSFS_NET'] = f.values['sysfs-net'];
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    console.error(`vpp-server init: ${err.problems.join('\n  ')} (init is configured by environment variables; see --help)`);
    return err.exitCode;
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
    const addresses = [settings.ip?.cidr, settings.ip6?.cidr].filter((a) => a !== undefined).join(' and ');
    if (settings.ordinal !== undefined) console.log(`init: pod ordinal ${settings.ordinal}: address ${addresses} (IP_ADDRESS${settings.ip !== undefined && settings.ip6 !== undefined ? ' and IPV6_ADDRESS' : ''} + ${settings.ordinal})`);
    if (settings.gateway !== undefined) console.log(`init: default route via ${settings.gateway}`);
    if (settings.gateway6 !== undefined) console.log(`init: IPv6 default route via ${settings.gateway6}`);
    console.log(
      `init: host-${settings.hostInterface}.${settings.vlanId} will have ${addresses}` +
        `${settings.ip === undefined ? ' (IPv6-only)' : settings.ip6 !== undefined ? ' (dual stack)' : ''}; ` +
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
