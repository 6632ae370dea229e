/**
 * VPP's `pcap trace`: frames captured at af-packet-input (rx), interface-output (tx) and
 * error-drop (drop) are copied into a buffer allocated once when the capture starts; the
 * classic libpcap file is written only by `pcap trace off` (as VPP does). Capture stops
 * silently after `max` frames; each keeps at most `maxBytesPerPacket` bytes.
 *
 * Zero cost when off: the dataplane holds `pcap: PcapTrace | null` and tests it once per vector.
 */
import { closeSync, constants, lstatSync, openSync, renameSync, type Stats, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { PCAP_RECORD_HEADER_LEN, pcapGlobalHeader, writePcapRecord } from '../io/pcap.js';
import { DataplaneError } from './errors.js';

/** VPP's defaults and limits (src/vnet/interface_cli.c). */
export const PCAP_DEFAULT_MAX = 1000;
export const PCAP_DEFAULT_BYTES_PER_PACKET = 512;
export const PCAP_MIN_BYTES_PER_PACKET = 32;
export const PCAP_MAX_BYTES_PER_PACKET = 9000;
/** The snaplen VPP writes in the file header. */
const FILE_SNAPLEN = 65536;
/** Upper bound of the capture buffer (max × (bytes per packet + record header)). */
export const PCAP_MAX_BUFFER_BYTES = 64 * 1024 * 1024;
/** The directory VPP writes captures to (unformat_vlib_tmpfile). */
export const PCAP_DIRECTORY = '/tmp';

export interface PcapTraceOptions {
  rx: boolean;
  tx: boolean;
  drop: boolean;
  /** Frames to capture at most (default 1000). */
  max: number;
  /** Bytes kept per frame (default 512, valid 32-9000). */
  maxBytesPerPacket: number;
  /** sw_if_index to capture on; 0 = any. rx matches the parent (hardware) interface, as in VPP. */
  swIndex: number;
  /** Full path of the file (in /tmp). */
  file: string;
}

/** Why a pcap file name is not acceptable, or null if it is (VPP's unformat_vlib_tmpfile rule). */
export function pcapFileNameProblem(name: string): string | null {
  if (name.length === 0) return 'is empty';
  if (name.includes('/')) return "contains '/'";
  if (name.includes('..')) return "contains '..'";
  if (name.includes('\0')) return 'contains a NUL byte';
  if (name.length > 255) return 'is longer than 255 characters';
  return null;
}

/** The file name VPP chooses without `file`: the stems of what is captured, e.g. rxtx.pcap. */
export function defaultPcapFileName(o: Pick<PcapTraceOptions, 'rx' | 'tx' | 'drop'>): string {
  return `${o.rx ? 'rx' : ''}${o.tx ? 'tx' : ''}${o.drop ? 'drop' : ''}.pcap`;
}

/** Checks the options as `pcap trace` does; throws a DataplaneError saying what is valid. */
export function checkPcapTraceOptions(o: PcapTraceOptions): void {
  if (!o.rx && !o.tx && !o.drop) throw new DataplaneError('EINVAL', 'nothing to capture: specify rx, tx and/or drop');
  if (!Number.isInteger(o.max) || o.max < 1) throw new DataplaneError('EINVAL', `max ${o.max} is not valid (expected an integer >= 1)`);
  if (!Number.isInteger(o.maxBytesPerPacket) || o.maxBytesPerPacket < PCAP_MIN_BYTES_PER_PACKET || o.maxBytesPerPacket > PCAP_MAX_BYTES_PER_PACKET) {
    throw new DataplaneError('EINVAL', `Max bytes per pkt must be > ${PCAP_MIN_BYTES_PER_PACKET}, < ${PCAP_MAX_BYTES_PER_PACKET}...`);
  }
  const bytes = o.max * (o.maxBytesPerPacket + PCAP_RECORD_HEADER_LEN);
  if (bytes > PCAP_MAX_BUFFER_BYTES) {
    const fits = Math.floor(PCAP_MAX_BUFFER_BYTES / (o.maxBytesPerPacket + PCAP_RECORD_HEADER_LEN));
    throw new DataplaneError(
      'EINVAL',
      `max ${o.max} packets of ${o.maxBytesPerPacket} bytes needs ${(bytes / 1048576).toFixed(1)} MiB of capture buffer; the limit is ${PCAP_MAX_BUFFER_BYTES / 1048576} MiB (at most max ${fits} at max-bytes-per-pkt ${o.maxBytesPerPacket})`,
    );
  }
  if (!o.file.startsWith(`${PCAP_DIRECTORY}/`)) throw new DataplaneError('EINVAL', `pcap file ${o.file} is not in ${PCAP_DIRECTORY}`);
  const problem = pcapFileNameProblem(o.file.slice(PCAP_DIRECTORY.length + 1));
  if (problem !== null) throw new DataplaneError('EINVAL', `pcap file name ${problem}`);
}

/**
 * Merges the records of several captures (each in time order: one per thread) into one list in
 * time order, at most `max` records; a tie keeps the earlier capture's record first.
 */
export function mergePcapRecords(captures: readonly Buffer[], max: number): { records: Buffer; count: number } {
  const refs: Array<{ ts: number; c: number; off: number; len: number }> = [];
  captures.forEach((b, c) => {
    for (let off = 0; off + PCAP_RECORD_HEADER_LEN <= b.length; ) {
      const len = PCAP_RECORD_HEADER_LEN + b.readUInt32LE(off + 8);
      refs.push({ ts: b.readUInt32LE(off) * 1e6 + b.readUInt32LE(off + 4), c, off, len });
      off += len;
    }
  });
  refs.sort((x, y) => x.ts - y.ts || x.c - y.c || x.off - y.off);
  const kept = refs.slice(0, max);
  const out = Buffer.allocUnsafe(kept.reduce((n, r) => n + r.len, 0));
  let p = 0;
  for (const r of kept) p += captures[r.c].copy(out, p, r.off, r.off + r.len);
  return { records: out, count: kept.length };
}

export class PcapTrace {
  /** Frames captured so far (by this thread). */
  captured = 0;
  /**
   * Frames the worker threads captured (worker threads, src/threads/pool.ts): each captures into
   * its own buffer; `pcap trace status` adds their counts, `pcap trace off` merges their records
   * with ours in time order before writing the one file, as VPP writes every thread's frames.
   */
  peerCaptured = 0;
  private readonly peers: Buffer[] = [];
  /** The capture buffer: records back to back, allocated once. */
  private readonly buffer: Buffer;
  private used = 0;
  private finished = false;

  constructor(
    readonly options: PcapTraceOptions,
    private readonly now: () => number,
  ) {
    checkPcapTraceOptions(options);
    this.buffer = Buffer.allocUnsafe(options.max * (options.maxBytesPerPacket + PCAP_RECORD_HEADER_LEN));
  }

  /** This thread's records so far (a view of the capture buffer). */
  records(): Buffer {
    return this.buffer.subarray(0, this.used);
  }

  /** Adds another thread's records, to be merged into the file by finish(). */
  addPeerRecords(records: Buffer): void {
    if (records.length > 0) this.peers.push(records);
  }

  /** True once `max` frames are held: the dataplane may skip the capture calls. */
  get full(): boolean {
    return this.captured >= this.options.max;
  }

  /**
   * rx, at af-packet-input: the frame as on the wire. If vlanTpid !== 0 the kernel stripped a
   * tag (AF_PACKET metadata) and it is re-inserted after the two MACs. hwSwIndex: the hardware
   * interface's sw index (VPP matches the parent interface on rx).
   */
  captureRx(data: Buffer, off: number, len: number, vlanTpid: number, vlanTci: number, hwSwIndex: number): void {
    if (!this.options.rx) return;
    this.add(data, off, len, vlanTpid, vlanTci, hwSwIndex);
  }

  /** tx, at interface-output: a frame as handed to the device (tags inline); swIndex: the
   *  interface (sub-interface) it was sent on; hwSwIndex: its hardware interface's sw index,
   *  which matches too (VPP captures it again at the device's output node). A GSO super-frame
   *  is recorded as one frame. */
  captureTx(data: Buffer, off: number, len: number, swIndex: number, hwSwIndex = swIndex): void {
    if (!this.options.tx) return;
    const want = this.options.swIndex;
    this.add(data, off, len, 0, 0, want === hwSwIndex ? want : swIndex);
  }

  /** drop, at error-drop: the frame's bytes as received (same tag handling as rx). */
  captureDrop(data: Buffer, off: number, len: number, vlanTpid: number, vlanTci: number, swIndex: number): void {
    if (!this.options.drop) return;
    this.add(data, off, len, vlanTpid, vlanTci, swIndex);
  }

  private add(data: Buffer, off: number, len: number, tpid: number, tci: number, swIndex: number): void {
    const o = this.options;
    if (this.finished || this.captured >= o.max) return;
    if (o.swIndex !== 0 && swIndex !== o.swIndex) return;
    // Each record fits: the buffer has room for max records of the largest size.
    this.used = writePcapRecord(this.buffer, this.used, this.now(), data, off, len, tpid, tci, o.maxBytesPerPacket);
    this.captured++;
  }

  /**
   * `pcap trace off`: stops the capture and writes the file (VPP writes only now); returns VPP's
   * message. With nothing captured, no file is written and the message says so.
   *
   * /tmp is shared with every user of the machine, and the capture holds payloads: the file is
   * written as a new private file (O_EXCL, mode 0600, never through a link, so a FIFO or a file
   * someone planted cannot block the event loop or receive the capture) and renamed over the
   * name only if that name is free or a regular file of ours (a symbolic link there is refused).
   */
  finish(): string {
    this.finished = true;
    let records = this.records();
    if (this.peers.length > 0) {
      const merged = mergePcapRecords([records, ...this.peers], this.options.max);
      records = merged.records;
      this.captured = merged.count;
    }
    if (this.captured === 0) return 'No packets captured...';
    const file = this.options.file;
    const existing = lstatOrNull(file);
    if (existing !== null && existing.isSymbolicLink()) {
      throw new DataplaneError('ELOOP', `cannot write ${file}: it is a symbolic link; ${this.captured} packets not written`);
    }
    if (existing !== null && (!existing.isFile() || existing.uid !== process.geteuid?.())) {
      const what = existing.isFile() ? 'a file of another user' : 'not a regular file';
      throw new DataplaneError('EEXIST', `cannot write ${file}: it exists and is ${what}; choose another name; ${this.captured} packets not written`);
    }
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    let fd: number;
    try {
      fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new DataplaneError(e.code ?? 'EIO', `cannot write ${file}: ${e.message}; ${this.captured} packets not written`);
    }
    try {
      writeAll(fd, pcapGlobalHeader(FILE_SNAPLEN));
      writeAll(fd, records);
      closeSync(fd);
      renameSync(tmp, file);
    } catch (err) {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
      try {
        unlinkSync(tmp);
      } catch {
        /* gone */
      }
      throw new DataplaneError('EIO', `cannot write ${file}: ${(err as Error).message}; ${this.captured} packets not written`);
    }
    return `Write ${this.captured} packets to ${file}, and stop capture...`;
  }

  /** `pcap trace status` while capturing. */
  status(): string {
    const o = this.options;
    const what = [o.rx ? 'rx' : '', o.tx ? 'tx' : '', o.drop ? 'drop' : ''].filter((w) => w !== '').join(' and ');
    return `pcap ${what} dispatch capture enabled: ${Math.min(o.max, this.captured + this.peerCaptured)} of ${o.max} pkts...\ncapture to file ${o.file}`;
  }
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function writeAll(fd: number, buf: Buffer): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done);
}
