/**
 * The engine: a dataplane with its CLI, configured from vpp.conf and startup-config, as the
 * `vpp-server run` process runs it.
 */
import { Dataplane } from './dataplane/dataplane.js';
import type { Device } from './io/device.js';
import { createRegistry, type Command } from './cli/cli.js';
import { CliServer } from './cli/cli-server.js';
import type { CliContext, ErrorSource } from './cli/context.js';
import type { CommandRegistry } from './cli/registry.js';
import { runStartupConfig } from './cli/startup-config.js';
import type { EngineConfig } from './cli/vpp-conf.js';
import type { Logger } from './log.js';
import { formatIpv4 } from './wire/address.js';
import { Services } from './services.js';
import { serviceCommands } from './commands.js';

export interface EngineOptions {
  config: EngineConfig;
  log: Logger;
  openDevice: (ifname: string) => Device;
  /** Extra commands (tests). */
  commands?: Command[];
}

export class Engine {
  readonly dp: Dataplane;
  readonly registry: CommandRegistry<CliContext>;
  readonly context: CliContext;
  readonly errorSources: ErrorSource[] = [];
  readonly services: Services;
  private cli: CliServer | null = null;

  constructor(private readonly options: EngineOptions) {
    const log = options.log;
    this.dp = new Dataplane({
      openDevice: options.openDevice,
      neighborAgeMs: options.config.engine['neighbor-age'] !== undefined ? Number(options.config.engine['neighbor-age']) * 1000 : undefined,
      onEvent: (message) => log.info({ event: 'dataplane' }, message),
    });
    this.services = new Services(this.dp, this.errorSources);
    this.registry = createRegistry([...serviceCommands(this.services), ...(options.commands ?? [])]);
    this.context = { dp: this.dp, startedAt: Date.now(), errorSources: this.errorSources };
  }

  /** Opens the CLI socket, then runs the startup-config. Throws ConfigError on a bad line. */
  async start(): Promise<void> {
    const { config, log } = this.options;
    this.dp.start();
    if (config.cliListen !== undefined) {
      this.cli = new CliServer(config.cliListen, this.registry, this.context, (line, ok) =>
        log.info({ event: 'cli', ok }, `cli: ${line}`),
      );
      const { replacedStale } = await this.cli.listen();
      if (replacedStale) log.warn({ code: 'STALE_CLI_SOCKET', path: config.cliListen }, 'replaced a stale CLI socket left by a previous run');
    }
    if (config.startupConfig !== undefined) {
      await runStartupConfig(this.registry, config.startupConfig, this.context, ({ line, command, output }) =>
        log.info({ event: 'config', file: config.startupConfig, line }, output === '' ? command : `${command} -> ${output}`),
      );
    }
  }

  /** A one-line description of what is configured, for the start-up log. */
  summary(): Record<string, unknown> {
    return {
      interfaces: this.dp.interfaces.map((sw) => ({
        name: sw.name,
        state: sw.up ? 'up' : 'down',
        vlan: sw.isSub ? sw.vlanId : undefined,
        addresses: sw.addresses.map((a) => `${formatIpv4(a.address)}/${a.prefixLength}`),
        l2xconnect: sw.xconnect?.name,
      })),
      cliSocket: this.options.config.cliListen,
    };
  }

  async stop(): Promise<void> {
    await this.cli?.close();
    this.cli = null;
    this.services.close();
    this.dp.close();
  }
}
