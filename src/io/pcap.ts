/**
 * A Device wrapper that writes every frame received and sent to a classic pcap file
 * (LINKTYPE_ETHERNET, microsecond timestamps), for tshark/tcpdump/Wireshark.
 *
 * AF_PACKET hands a VLAN tag over as metadata with the bytes untagged; the capture re-inserts
 * the 802.1Q/802.1ad tag after the MAC addresses so that it shows what was on the wire.
 *
 * Records are gathered in a buffer and written with one write per vector (and on close), so
 * the file can be read while the device runs.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Device, DeviceStats, RxHandler, RxMode, RxVector, TxVector } from './device.js';

export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
export const LINKTYPE_ETHERNET = 1;
const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;

export interface PcapOptions {
  /** Largest number of bytes kept per frame (the rest is counted in orig_len). Default 262144. */
  snapLength?: number;
  /** Which frames to write. Default 'both'. */
  direction?: 'rx' | 'tx' | 'both';
  /** Wall clock in ms since the epoch, fractions allowed (for tests). Default: performance-based µs clock. */
  now?: () => number;
  /** Open mode: 'w' truncates (default), 'a' appends records to an existing capture of the same format. */
  append?: boolean;
}

/** The 24-byte global header of a classic pcap file, native (little-endian) byte order. */
export function pcapGlobalHeader(snapLength: number, linkType = LINKTYPE_ETHERNET): Buffer {
  const h = Buffer.alloc(GLOBAL_HEADER_LEN);
  h.writeUInt32LE(PCAP_MAGIC_MICROSECONDS, 0);
  h.writeUInt16LE(2, 4); // version major
  h.writeUInt16LE(4, 6); // version minor
  h.writeInt32LE(0, 8); // thiszone
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(snapLength, 16);
  h.writeUInt32LE(linkType, 20);
  return h;
}

/** Bytes of one pcap record header. */
export const PCAP_RECORD_HEADER_LEN = RECORD_HEADER_LEN;

/** The frame's length on the wire: `len`, plus 4 when a stripped tag is re-inserted. */
export function pcapOrigLength(len: number, tagTpid: number): number {
  return len + (tagTpid !== 0 && len >= 12 ? 4 : 0);
}

/**
 * Writes one pcap record (16-byte header, then at most `snapLength` bytes of the frame) into
 * `target` at `pos` and returns the position after it; the caller makes sure it fits
 * (PCAP_RECORD_HEADER_LEN + min(pcapOrigLength(len, tagTpid), snapLength) bytes).
 * `timeMs`: wall clock, ms since the epoch (fractions give the µs). With `tagTpid !== 0`, the
 * tag (tpid, tci) is inserted after the MAC addresses, as it was on the wire before the kernel
 * stripped it.
 */
export function writePcapRecord(
  target: Buffer,
  pos: number,
  timeMs: number,
  data: Buffer,
  off: number,
  len: number,
  tagTpid: number,
  tagTci: number,
  snapLength: number,
): number {
  const tagged = tagTpid !== 0 && len >= 12;
  const origLen = pcapOrigLength(len, tagTpid);
  const inclLen = Math.min(origLen, snapLength);
  let p = pos;
  const seconds = Math.floor(timeMs / 1000);
  const micros = Math.min(999_999, Math.floor((timeMs - seconds * 1000) * 1000));
  target.writeUInt32LE(seconds >>> 0, p);
  target.writeUInt32LE(micros, p + 4);
  target.writeUInt32LE(inclLen, p + 8);
  target.writeUInt32LE(origLen, p + 12);
  p += RECORD_HEADER_LEN;
  if (!tagged) {
    data.copy(target, p, off, off + inclLen);
    return p + inclLen;
  }
  // Up to inclLen bytes of: MACs (12), tag (4), the rest of the frame.
  let room = inclLen;
  const macs = Math.min(12, room);
  data.copy(target, p, off, off + macs);
  p += macs;
  room -= macs;
  if (room >= 2) {
    target.writeUInt16BE(tagTpid, p);
    p += 2;
    room -= 2;
    if (room >= 2) {
      target.writeUInt16BE(tagTci, p);
      p += 2;
      room -= 2;
    } else if (room === 1) {
      target[p++] = tagTci >> 8;
      room = 0;
    }
  } else if (room === 1) {
    target[p++] = tagTpid >> 8;
    room = 0;
  }
  data.copy(target, p, off + 12, off + 12 + room);
  return p + room;
}

/** Milliseconds (with µs fractions) since the epoch: a monotonic clock anchored to the wall clock once. */
function defaultClock(): () => number {
  const origin = performance.timeOrigin;
  return () => origin + performance.now();
}

export class PcapWriter {
  private fd: number;
  private chunk: Buffer;
  private used = 0;
  private readonly snapLength: number;
  private readonly now: () => number;
  /** Records written so far. */
  records = 0;

  constructor(
    readonly path: string,
    options: Pick<PcapOptions, 'snapLength' | 'now' | 'append'> = {},
  ) {
    this.snapLength = options.snapLength ?? 262144;
    this.now = options.now ?? defaultClock();
    this.fd = openSync(path, options.append === true ? 'a' : 'w');
    this.chunk = Buffer.allocUnsafe(1 << 16);
    if (options.append !== true) writeSync(this.fd, pcapGlobalHeader(this.snapLength));
  }

  /**
   * Adds one frame. With `tagTpid !== 0`, the tag (tpid, tci) is inserted after the MAC addresses,
   * as it was on the wire before the kernel stripped it.
   */
  add(data: Buffer, off: number, len: number, tagTpid = 0, tagTci = 0): void {
    if (this.fd < 0) return;
    this.reserve(RECORD_HEADER_LEN + Math.min(pcapOrigLength(len, tagTpid), this.snapLength));
    this.used = writePcapRecord(this.chunk, this.used, this.now(), data, off, len, tagTpid, tagTci, this.snapLength);
    this.records++;
  }

  /** Writes what is buffered to the file. */
  flush(): void {
    if (this.fd < 0 || this.used === 0) return;
    let done = 0;
    while (done < this.used) done += writeSync(this.fd, this.chunk, done, this.used - done);
    this.used = 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }

  private reserve(n: number): void {
    if (this.used + n <= this.chunk.length) return;
    this.flush();
    if (n > this.chunk.length) this.chunk = Buffer.allocUnsafe(n);
  }
}

/** Wraps a device; frames pass through unchanged and are also written to `path`. */
export class PcapDevice implements Device {
  readonly writer: PcapWriter;
  private readonly rx: boolean;
  private readonly tx: boolean;

  constructor(
    readonly inner: Device,
    path: string,
    options: PcapOptions = {},
  ) {
    this.writer = new PcapWriter(path, options);
    const direction = options.direction ?? 'both';
    this.rx = direction !== 'tx';
    this.tx = direction !== 'rx';
  }

  get ifname(): string {
    return this.inner.ifname;
  }

  get mac(): Buffer {
    return this.inner.mac;
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  /** TX backpressure of the inner device (see Device.txReady / onTxReady). */
  get txReady(): boolean | undefined {
    return this.inner.txReady;
  }

  get onTxReady(): (() => void) | null {
    return this.inner.onTxReady ?? null;
  }

  set onTxReady(fn: (() => void) | null) {
    this.inner.onTxReady = fn;
  }

  /** rx-mode of the inner device (see Device.rxMode). */
  get rxMode(): RxMode | undefined {
    return this.inner.rxMode;
  }

  get rxPolling(): boolean | undefined {
    return this.inner.rxPolling;
  }

  setRxMode(mode: RxMode): void {
    if (this.inner.setRxMode === undefined) throw new Error(`${this.inner.ifname}: this device has no rx-mode`);
    this.inner.setRxMode(mode);
  }

  start(handler: RxHandler): void {
    if (!this.rx) {
      this.inner.start(handler);
      return;
    }
    this.inner.start((rx: RxVector) => {
      const w = this.writer;
      for (let i = 0; i < rx.count; i++) w.add(rx.data, rx.offset[i], rx.length[i], rx.vlanTpid[i], rx.vlanTci[i]);
      w.flush();
      handler(rx);
    });
  }

  send(tx: TxVector): number {
    // Record before sending: a device may reuse or hand back the batch memory once sent.
    if (this.tx) {
      const w = this.writer;
      for (let i = 0; i < tx.count; i++) w.add(tx.data, tx.offset[i], tx.length[i]);
      w.flush();
    }
    return this.inner.send(tx);
  }

  stats(): DeviceStats {
    return this.inner.stats();
  }

  setMulticast(mac: Buffer, join: boolean): void {
    this.inner.setMulticast?.(mac, join);
  }

  get kernelIpv6(): boolean | undefined {
    return this.inner.kernelIpv6;
  }

  close(): void {
    this.inner.close();
    this.writer.close();
  }
}
