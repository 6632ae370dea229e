/**
 * One thread's share of an interface's RX queues, as one Device.
 *
 * `create host-interface name <if> num-rx-queues <k>` opens k AF_PACKET sockets in one
 * PACKET_FANOUT_HASH group; each queue is read by one thread (show interface rx-placement). A
 * thread's device is the queues placed on it: it receives from each of them (every queue hands
 * over its own vectors) and sends through the first (each socket is a TX path of its own, so
 * threads never share one). A thread that reads none of the interface's queues still sends on it
 * (the control-plane thread's ARP and ping, a reply leaving on another interface): it holds a
 * send-only socket and no queue.
 */
import type { Device, DeviceStats, RxHandler, RxMode, TxOffload, TxVector } from './device.js';

export interface RxQueue {
  /** The queue's number on the interface (VPP's `queue <n>`). */
  id: number;
  device: Device;
}

export class RxQueueDevice implements Device {
  readonly ifname: string;
  readonly mac: Buffer;
  readonly mtu: number;
  readonly rxQueueIds: readonly number[];
  private readonly tx: Device;

  constructor(
    private readonly queues: readonly RxQueue[],
    /** The device that sends: the first queue's, or a send-only one when this thread reads no queue. */
    sender?: Device,
  ) {
    const tx = sender ?? queues[0]?.device;
    if (tx === undefined) throw new Error('RxQueueDevice: no queue and no send-only device');
    this.tx = tx;
    this.ifname = tx.ifname;
    this.mac = tx.mac;
    this.mtu = tx.mtu;
    this.rxQueueIds = Object.freeze(queues.map((q) => q.id));
  }

  /** The first queue's ring (show hardware-interfaces, show buffers, the trace's tpacket version). */
  get ring(): unknown {
    return (this.queues[0]?.device as { ring?: unknown } | undefined)?.ring;
  }

  /** The fanout group the queues are in (null: one queue, no group). */
  get fanoutId(): number | null {
    return (this.queues[0]?.device as { fanoutId?: number | null } | undefined)?.fanoutId ?? null;
  }

  get txOffload(): TxOffload | undefined {
    return this.tx.txOffload;
  }

  get txReady(): boolean | undefined {
    return this.tx.txReady;
  }

  get onTxReady(): (() => void) | null | undefined {
    return this.tx.onTxReady;
  }

  set onTxReady(fn: (() => void) | null | undefined) {
    this.tx.onTxReady = fn ?? null;
  }

  start(handler: RxHandler): void {
    for (const q of this.queues) q.device.start(handler);
  }

  send(tx: TxVector): number {
    return this.tx.send(tx);
  }

  /** The mode of the first queue (undefined: no queue here, or a device without rx-mode). */
  get rxMode(): RxMode | undefined {
    return this.queues[0]?.device.rxMode;
  }

  get rxPolling(): boolean {
    return this.queues.some((q) => q.device.rxPolling === true);
  }

  setRxMode(mode: RxMode): void {
    for (const q of this.queues) q.device.setRxMode?.(mode);
  }

  queueRxMode(queue: number): RxMode {
    return this.queue(queue).rxMode ?? 'interrupt';
  }

  setQueueRxMode(queue: number, mode: RxMode): void {
    const d = this.queue(queue);
    if (d.setRxMode === undefined) throw new Error(`queue ${queue} has no rx-mode`);
    d.setRxMode(mode);
  }

  /** The ring counters summed over the queues (false if any queue has none). */
  ringCounters(out: Float64Array): boolean {
    let seen = 0;
    let consumed = 0;
    for (const q of this.queues) {
      if (q.device.ringCounters?.(out) !== true) return false;
      seen += out[0];
      consumed += out[1];
    }
    out[0] = seen;
    out[1] = consumed;
    return this.queues.length > 0;
  }

  /** Counters summed over the queues; a send-only device's TX counters added. */
  stats(): DeviceStats {
    const devices = this.queues.map((q) => q.device);
    if (!devices.includes(this.tx)) devices.push(this.tx);
    const sum: Record<string, unknown> = {};
    for (const d of devices) {
      for (const [k, v] of Object.entries(d.stats() as unknown as Record<string, unknown>)) {
        if (typeof v === 'number') sum[k] = k === 'txSendBuffer' || k === 'txBacklogPeak' ? Math.max((sum[k] as number) ?? 0, v) : ((sum[k] as number) ?? 0) + v;
        else if (typeof v === 'boolean') sum[k] = sum[k] === true || v;
        else if (sum[k] === undefined || sum[k] === '') sum[k] = v;
      }
    }
    return sum as unknown as DeviceStats;
  }

  close(): void {
    for (const q of this.queues) q.device.close();
    if (!this.queues.some((q) => q.device === this.tx)) this.tx.close();
  }

  private queue(id: number): Device {
    const q = this.queues.find((x) => x.id === id);
    if (q === undefined) throw new Error(`queue ${id} is not read by this thread`);
    return q.device;
  }
}
