/**
 * VPP's receive-queue commands: `set interface rx-mode` and `show interface rx-placement`.
 *
 * Each hardware interface has one RX queue (queue 0), read by the main thread. Its mode says how
 * the device learns that frames wait (see RxMode in src/io/device.ts): `interrupt` (sleep in
 * epoll, the default), `polling` (look at the ring on every event-loop turn) or `adaptive`.
 */
import type { HardwareInterface } from '../dataplane/interface.js';
import { RX_MODES, type RxMode } from '../io/device.js';
import type { CliContext } from './context.js';
import { CommandError, type CommandRegistry } from './registry.js';

/** The mode a queue is in, as VPP prints it in rx-placement and show hardware-interfaces. */
export function queueMode(hw: HardwareInterface): RxMode {
  return hw.device.rxMode ?? 'interrupt';
}

function hardwareInterface(ctx: CliContext, name: string): HardwareInterface {
  const hw = ctx.dp.hardware.find((h) => h.name === name);
  if (hw !== undefined) return hw;
  const sw = ctx.dp.find(name);
  if (sw !== undefined && sw.isSub) {
    throw new CommandError(`${name} is a sub-interface; rx-mode is a property of its hardware interface's queue (${sw.hw.name})`);
  }
  const known = ctx.dp.hardware.map((h) => h.name).join(', ') || 'none yet';
  throw new CommandError(`unknown interface \`${name}' (hardware interfaces: ${known})`);
}

function showRxPlacement(ctx: CliContext): string {
  if (ctx.dp.hardware.length === 0) return '';
  // One thread reads every queue: VPP prints the thread, then the input node once, then the queues.
  const lines = ['Thread 0 (vpp_main):', '  node af-packet-input:'];
  for (const hw of ctx.dp.hardware) lines.push(`    ${hw.name} queue 0 (${queueMode(hw)})`);
  return lines.join('\n');
}

export function registerRxModeCommands(registry: CommandRegistry<CliContext>): void {
  registry.register({
    path: 'set interface rx-mode',
    help: 'set interface rx-mode <interface> [queue <n>] [polling | interrupt | adaptive]',
    run(args, ctx) {
      const name = args.next(`interface name (hardware interfaces: ${ctx.dp.hardware.map((h) => h.name).join(', ') || 'none yet'})`);
      const hw = hardwareInterface(ctx, name);
      let queue: number | null = null;
      let mode: RxMode | null = null;
      while (!args.done) {
        if (args.accept('queue')) {
          queue = args.integer('queue', 0, 65535);
          continue;
        }
        mode = args.oneOf('rx-mode', RX_MODES);
      }
      if (mode === null) throw new CommandError('please specify a mode: polling, interrupt or adaptive');
      if (queue !== null && queue !== 0) throw new CommandError(`unknown queue ${queue} on interface ${hw.name} (it has one rx queue, queue 0)`);
      const dev = hw.device;
      if (dev.rxMode === undefined || dev.setRxMode === undefined) {
        throw new CommandError(`${hw.name}: the device (${dev.ifname}) has no rx-mode: it hands frames over as they come`);
      }
      try {
        dev.setRxMode(mode);
      } catch (err) {
        throw new CommandError(`${hw.name}: ${(err as Error).message}`);
      }
    },
  });

  registry.register({
    path: 'show interface rx-placement',
    help: 'show interface rx-placement',
    run(args, ctx) {
      args.end();
      return showRxPlacement(ctx);
    },
  });
}
