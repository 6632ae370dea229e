/**
 * Test helpers for the TCP stack (usable by any test): an in-memory SegmentSink that captures
 * what the stack sends, a decoder for captured segments, a builder for segments to feed in, and
 * a driver that closes many short connections into TIME_WAIT (for the TIME_WAIT cap and its
 * memory).
 */
import {
  TCP_HEADER_LEN,
  TcpParsedOptions,
  parseTcpOptions,
  tcpHeaderLen,
  writeOptMss,
  writeOptSack,
  writeOptSackPermitted,
  writeOptTimestamp,
  writeOptWscale,
  writeTcpHeader,
} from '../wire/tcp.js';
import type { StreamHandler } from '../stream/byte-stream.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../wire/tcp.js';
import type { TcpConnection } from './connection.js';
import { TcpStack } from './stack.js';
import type { SegmentSink, TcpOptions } from './types.js';

export interface DecodedSegment {
  localIp: number;
  remoteIp: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  mss: number;
  wscale: number;
  sackOk: boolean;
  tsVal: number | undefined;
  tsEcr: number | undefined;
  sack: [number, number][];
  payload: Buffer;
  /** The raw TCP header + payload. */
  bytes: Buffer;
}

export function decodeSegment(bytes: Buffer, localIp = 0, remoteIp = 0): DecodedSegment {
  const hl = tcpHeaderLen(bytes, 0);
  const opt = new TcpParsedOptions();
  if (parseTcpOptions(bytes, 0, hl, opt) !== 0) throw new Error('bad options in emitted segment');
  const sack: [number, number][] = [];
  for (let i = 0; i < opt.sackCount; i++) sack.push([opt.sack[2 * i] >>> 0, opt.sack[2 * i + 1] >>> 0]); // the parser's int32s as wire figures
  return {
    localIp,
    remoteIp,
    srcPort: bytes.readUInt16BE(0),
    dstPort: bytes.readUInt16BE(2),
    seq: bytes.readUInt32BE(4),
    ack: bytes.readUInt32BE(8),
    flags: bytes[13],
    window: bytes.readUInt16BE(14),
    mss: opt.mss,
    wscale: opt.wscale,
    sackOk: opt.sackOk,
    tsVal: opt.hasTs ? opt.tsVal >>> 0 : undefined,
    tsEcr: opt.hasTs ? opt.tsEcr >>> 0 : undefined,
    sack,
    payload: Buffer.from(bytes.subarray(hl)),
    bytes,
  };
}

/** Captures every segment; `full = true` makes begin() fail (no TX room). */
export class MemorySink implements SegmentSink {
  readonly buf = Buffer.alloc(65536);
  readonly off = 34; // room for Ethernet + IPv4 like the dataplane reserves
  room: number;
  full = false;
  out: DecodedSegment[] = [];
  private cur = { local: 0, remote: 0 };

  constructor(room = 1480) {
    this.room = room;
  }
  begin(localIp: number, remoteIp: number): boolean {
    if (this.full) return false;
    this.cur.local = localIp;
    this.cur.remote = remoteIp;
    return true;
  }
  end(tcpLen: number): void {
    const bytes = Buffer.from(this.buf.subarray(this.off, this.off + tcpLen));
    this.out.push(decodeSegment(bytes, this.cur.local, this.cur.remote));
  }
  /** Returns and forgets what was captured. */
  take(): DecodedSegment[] {
    const o = this.out;
    this.out = [];
    return o;
  }
}

export interface BuildOptions {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  mss?: number;
  wscale?: number;
  sackOk?: boolean;
  ts?: [number, number];
  sack?: [number, number][];
  data?: Buffer | string;
}

/** Builds a TCP header + payload (checksum left 0: the stack does not check it). */
export function buildSegment(b: BuildOptions): Buffer {
  const data = typeof b.data === 'string' ? Buffer.from(b.data) : (b.data ?? Buffer.alloc(0));
  const tmp = Buffer.alloc(60 + data.length);
  let p = TCP_HEADER_LEN;
  if (b.mss !== undefined) p = writeOptMss(tmp, p, b.mss);
  if (b.ts !== undefined) p = writeOptTimestamp(tmp, p, b.ts[0], b.ts[1], b.sackOk === true);
  else if (b.sackOk) p = writeOptSackPermitted(tmp, p);
  if (b.wscale !== undefined) p = writeOptWscale(tmp, p, b.wscale);
  if (b.sack !== undefined && b.sack.length > 0) {
    const flat: number[] = [];
    for (const [s, e] of b.sack) flat.push(s, e);
    p = writeOptSack(tmp, p, flat, b.sack.length);
  }
  while ((p & 3) !== 0) tmp[p++] = 1;
  writeTcpHeader(tmp, 0, b.srcPort, b.dstPort, b.seq, b.ack ?? 0, p, b.flags, b.window ?? 65535);
  data.copy(tmp, p);
  return tmp.subarray(0, p + data.length);
}


export type PeerSegment = Omit<BuildOptions, 'srcPort' | 'dstPort'> & { srcPort?: number; dstPort?: number };

/**
 * A stack listening on 10.0.0.1:80 with a scripted peer 10.0.0.2:40000, a fake clock and an
 * application that records its events. Each input is followed by flush(), like the dataplane.
 */
export class TcpHarness {
  readonly sink: MemorySink;
  readonly stack: TcpStack;
  now = 1000;
  readonly local = 0x0a000001;
  readonly remote = 0x0a000002;
  readonly lport = 80;
  rport = 40000;
  /** Application events in order: 'accept', 'data:<text>', 'end', 'close', 'drain'. */
  readonly events: string[] = [];
  received = Buffer.alloc(0);
  conn: TcpConnection | undefined;
  /** Called on accept / data, to script the application. */
  onAccept: ((c: TcpConnection) => void) | undefined;
  onData: ((c: TcpConnection, data: Buffer) => void) | undefined;
  onEnd: ((c: TcpConnection) => void) | undefined;
  /** Peer ISN and its timestamp clock. */
  pIsn = 1000;
  pTs = 5000;
  /** Our ISN, learnt from the SYN-ACK. */
  iss = 0;

  /** `sink`: what captures our segments (a MemorySink unless given, e.g. one that takes super-segments). */
  constructor(opts?: Partial<TcpOptions>, listen = true, sink: MemorySink = new MemorySink()) {
    this.sink = sink;
    this.stack = new TcpStack(this.sink, { secret: Buffer.alloc(32, 7), ...opts });
    if (listen) this.stack.listen(this.local, this.lport, (s) => this.accept(s as TcpConnection));
  }

  accept(c: TcpConnection): StreamHandler {
    this.conn = c;
    this.events.push('accept');
    this.onAccept?.(c);
    return {
      onData: (buf, off, len) => {
        const d = Buffer.from(buf.subarray(off, off + len));
        this.received = Buffer.concat([this.received, d]);
        this.events.push(`data:${d.toString()}`);
        this.onData?.(c, d);
      },
      onDrain: () => this.events.push('drain'),
      onEnd: () => {
        this.events.push('end');
        this.onEnd?.(c);
      },
      onClose: () => this.events.push('close'),
    };
  }

  /** Feeds one segment from the peer, flushes, and returns what the stack sent. */
  in(s: PeerSegment, flush = true): DecodedSegment[] {
    const b = buildSegment({ srcPort: this.rport, dstPort: this.lport, ...s });
    this.stack.input(this.remote, this.local, b, 0, b.length, this.now);
    if (flush) this.stack.flush(this.now);
    return this.sink.take();
  }

  /** Advances the clock, runs timers and flush, and returns what was sent. */
  advance(ms: number): DecodedSegment[] {
    this.now += ms;
    this.stack.tick(this.now);
    this.stack.flush(this.now);
    return this.sink.take();
  }

  /** Runs timers until `ms` has passed, returning every segment with the time it left. */
  runFor(ms: number): { t: number; s: DecodedSegment }[] {
    const end = this.now + ms;
    const out: { t: number; s: DecodedSegment }[] = [];
    for (;;) {
      const d = this.stack.nextDeadline();
      if (d > end) break;
      this.now = Math.max(this.now, d);
      this.stack.tick(this.now);
      this.stack.flush(this.now);
      for (const s of this.sink.take()) out.push({ t: this.now, s });
      if (this.stack.nextDeadline() === d) break; // no progress (should not happen)
    }
    this.now = end;
    return out;
  }

  flush(): DecodedSegment[] {
    this.stack.flush(this.now);
    return this.sink.take();
  }

  /** Peer timestamps option: [next TSval, echo]. */
  ts(echo: number): [number, number] {
    return [++this.pTs, echo];
  }

  /**
   * Three-way handshake. Options default to a plain peer (no MSS option → 536? no: mss 1460,
   * no window scale, no SACK, no timestamps). Returns the SYN-ACK.
   */
  open(o: { mss?: number; wscale?: number; sackOk?: boolean; ts?: boolean; window?: number } = {}): DecodedSegment {
    const syn = this.in({
      flags: TCP_SYN,
      seq: this.pIsn,
      mss: o.mss ?? 1460,
      wscale: o.wscale,
      sackOk: o.sackOk,
      ts: o.ts ? [++this.pTs, 0] : undefined,
      window: o.window ?? 65535,
    });
    const sa = syn[0];
    if (sa === undefined || sa.flags !== (TCP_SYN | TCP_ACK)) throw new Error('no SYN-ACK');
    this.iss = sa.seq;
    const r = this.in({
      flags: TCP_ACK,
      seq: this.pIsn + 1,
      ack: (this.iss + 1) >>> 0,
      ts: o.ts ? [++this.pTs, sa.tsVal!] : undefined,
      window: o.window ?? 65535,
    });
    if (r.length !== 0) throw new Error('unexpected reply to the handshake ACK');
    return sa;
  }

  /** Peer sequence number after `n` bytes of data. */
  pseq(n = 0): number {
    return (this.pIsn + 1 + n) >>> 0;
  }
  /** Our sequence number after `n` bytes of data. */
  seq(n = 0): number {
    return (this.iss + 1 + n) >>> 0;
  }
}

/** Keeps only what the last segment said (no copy, no allocation): for drivers of many connections. */
export class LastSegmentSink implements SegmentSink {
  readonly buf = Buffer.alloc(2048);
  readonly off = 34;
  readonly room = 1480;
  readonly opt = new TcpParsedOptions();
  seq = 0;
  ack = 0;
  flags = 0;
  segments = 0;
  begin(): boolean {
    return true;
  }
  end(tcpLen: number): void {
    const b = this.buf;
    const o = this.off;
    this.seq = b.readUInt32BE(o + 4);
    this.ack = b.readUInt32BE(o + 8);
    this.flags = b[o + 13];
    parseTcpOptions(b, o, tcpHeaderLen(b, o), this.opt);
    this.segments++;
    void tcpLen;
  }
}

/**
 * Listens on local:80 with an application that answers nothing and closes at once, so that we
 * close first and each connection ends in TIME_WAIT on our side.
 */
export function listenAndClose(stack: TcpStack, local: number): void {
  const handler: StreamHandler = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
  stack.listen(local, 80, (s) => {
    s.end();
    return handler;
  });
}

/**
 * One short connection from peer:40000 to local:80 (see listenAndClose), with timestamps: SYN,
 * ACK, our FIN, the peer's FIN+ACK, our last ACK. Returns the flags of our last segment (an ACK
 * when all went well).
 */
export function closeOneConnection(stack: TcpStack, sink: LastSegmentSink, local: number, peer: number, now: number, scratch: Buffer): number {
  const isn = (peer * 7919) >>> 0;
  const tsv = Math.floor(now) >>> 0;
  const send = (flags: number, seq: number, ack: number, tsEcr: number, syn: boolean): void => {
    let p = TCP_HEADER_LEN;
    if (syn) p = writeOptMss(scratch, p, 1460);
    p = writeOptTimestamp(scratch, p, tsv, tsEcr, syn);
    while ((p & 3) !== 0) scratch[p++] = 1;
    writeTcpHeader(scratch, 0, 40000, 80, seq, ack, p, flags, 65535);
    stack.input(peer, local, scratch, 0, p, now);
    stack.flush(now);
  };
  send(TCP_SYN, isn, 0, 0, true); // → SYN-ACK
  const iss = sink.seq;
  const ourTs = sink.opt.tsVal;
  send(TCP_ACK, (isn + 1) >>> 0, (iss + 1) >>> 0, ourTs, false); // → our FIN
  send(TCP_FIN | TCP_ACK, (isn + 1) >>> 0, (iss + 2) >>> 0, sink.opt.tsVal, false); // → our last ACK
  return sink.flags;
}
