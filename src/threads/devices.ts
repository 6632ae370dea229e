/**
 * Opening a host interface's RX queues on this thread, as `create host-interface … num-rx-queues`
 * asks and the queue placement decides (see rx-queues.ts): the AF_PACKET options from vpp.conf,
 * one socket per queue in one PACKET_FANOUT_HASH group, a send-only socket for a thread that
 * reads none of the queues.
 */
import { AfPacketDevice, type AfPacketOptions } from '../io/af-packet.js';
import type { Device } from '../io/device.js';
import { RxQueueDevice } from '../io/rx-queues.js';
import type { EngineConfig } from '../cli/vpp-conf.js';

/** The AF_PACKET options that vpp-server { … } sets. */
export function afPacketOptions(config: EngineConfig, onError?: (err: Error) => void): AfPacketOptions {
  const e = config.engine;
  return {
    ringVersion: e['ring-version'] !== undefined ? (Number(e['ring-version']) as 2 | 3) : undefined,
    blockSize: e['block-size'] !== undefined ? Number(e['block-size']) : undefined,
    blockCount: e['block-count'] !== undefined ? Number(e['block-count']) : undefined,
    frameSize: e['frame-size'] !== undefined ? Number(e['frame-size']) : undefined,
    // `tx-offload off`: no PACKET_VNET_HDR TX socket (checksums in JS, one frame per segment).
    txOffload: e['tx-offload'] !== undefined ? e['tx-offload'] !== 'off' : undefined,
    onError,
  };
}

/**
 * How this thread's queues join the interface's fanout group: none (the interface has one
 * queue), 'new' (this thread opens queue 0: the kernel picks the group's id) or { join: id }.
 */
export type FanoutPlan = 'none' | 'new' | { join: number };

export interface OpenedQueues {
  device: Device;
  /** The group's id (null without fanout). */
  fanoutId: number | null;
}

/**
 * Opens `queues` (queue numbers of the interface) on this thread. One queue and no fanout: the
 * plain AF_PACKET device, as without threads. No queue: a send-only socket.
 */
export function openQueues(ifname: string, options: AfPacketOptions, queues: readonly number[], fanout: FanoutPlan): OpenedQueues {
  if (queues.length === 0) {
    const sender = AfPacketDevice.open(ifname, { ...options, receive: false });
    return { device: new RxQueueDevice([], sender), fanoutId: fanout === 'none' || fanout === 'new' ? null : fanout.join };
  }
  if (fanout === 'none') {
    if (queues.length > 1) throw new Error(`${ifname}: ${queues.length} RX queues need a fanout group`);
    const dev = AfPacketDevice.open(ifname, options);
    return { device: queues[0] === 0 ? dev : new RxQueueDevice([{ id: queues[0], device: dev }]), fanoutId: null };
  }
  const opened: AfPacketDevice[] = [];
  try {
    let group = fanout === 'new' ? null : fanout.join;
    for (let i = 0; i < queues.length; i++) {
      const dev = AfPacketDevice.open(ifname, { ...options, fanout: group === null ? 'new' : { join: group } });
      opened.push(dev);
      group = dev.fanoutId;
    }
    return { device: new RxQueueDevice(opened.map((device, i) => ({ id: queues[i], device }))), fanoutId: group };
  } catch (err) {
    for (const d of opened) d.close();
    throw err;
  }
}
