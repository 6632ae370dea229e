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
import { formatRxPlacement, localPlacement, type QueuePlacement } from './threads.js';

/** Every RX queue and the thread that reads it (one thread: all on vpp_main). */
export function rxPlacement(ctx: CliContext): QueuePlacement[] {
  return ctx.threads?.placement() ?? localPlacement(ctx.dp.hardware, 0);
}

/** The mode queue 0 of `hw` is in, as this thread's device says. */
export function queueMode(hw: HardwareInterface): RxMode {
  return hw.device.queueRxMode?.(hw.device.rxQueueIds?.[0] ?? 0) ?? hw.device.rxMode ?? 'interrupt';
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

/** Sets the mode of `queue` (null: every queue this thread reads) on this thread's device. */
function setLocalRxMode(hw: HardwareInterface, queue: number | null, mode: RxMode): void {
  const dev = hw.device;
  if (dev.rxMode === undefined && dev.setQueueRxMode === undefined) {
    throw new CommandError(`${hw.name}: the device (${dev.ifname}) has no rx-mode: it hands frames over as they come`);
  }
  try {
    if (queue !== null && dev.setQueueRxMode !== undefined) dev.setQueueRxMode(queue, mode);
    else if (dev.setRxMode !== undefined) dev.setRxMode(mode);
    else throw new Error('the device has no rx-mode');
  } catch (err) {
    throw new CommandError(`${hw.name}: ${(err as Error).message}`);
  }
}

export function registerRxModeCommands(registry: CommandRegistry<CliContext>): void {
  registry.register({
    path: 'set interface rx-mode',
    help: 'set interface rx-mode <interface> [queue <n>] [polling | interrupt | adaptive]',
    async run(args, ctx) {
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
      if (queue !== null && queue >= hw.rxQueues) {
        const has = hw.rxQueues === 1 ? 'one rx queue, queue 0' : `${hw.rxQueues} rx queues, 0-${hw.rxQueues - 1}`;
        throw new CommandError(`unknown queue ${queue} on interface ${hw.name} (it has ${has})`);
      }
      // With workers the queues are read elsewhere: the main thread has them set there.
      if (ctx.threads?.setRxMode !== undefined) return ctx.threads.setRxMode(hw.name, queue, mode);
      setLocalRxMode(hw, queue, mode);
    },
  });

  registry.register({
    path: 'show interface rx-placement',
    help: 'show interface rx-placement',
    run(args, ctx) {
      args.end();
      return formatRxPlacement(rxPlacement(ctx));
    },
  });
}
