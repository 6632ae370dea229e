/**
 * The TCP stack: listeners, the connection table, the timer heap, passive opens with a bounded
 * SYN queue and SYN cookies, RSTs for closed ports, and output coalescing in flush().
 *
 * Pure: the caller passes every received segment and the time in; segments leave through the
 * SegmentSink. See docs/ARCHITECTURE.md ("TCP").
 */
import type { AcceptHandler } from '../stream/byte-stream.js';
import {
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  TcpParsedOptions,
  checkTcp,
  parseTcpOptions,
  tcpReasonName,
  writeOptMss,
  writeOptSackPermitted,
  writeOptTimestamp,
  writeOptWscale,
  writeTcpHeader,
} from '../wire/tcp.js';
import { TcpConnection } from './connection.js';
import { sendSyn, sendSynAck } from './output.js';
import { runTimers } from './timers.js';
import { TimeWaitConnection } from './time-wait.js';
import { MemoryBudget, RECLAIM_MS } from './budget.js';
import { hash4, makeKey, tableHash4 } from './hash.js';
import { TimerHeap } from './heap.js';
import { readSeq, seqAdd, seqGeq, seqGt, seqI32, seqLt, seqSub } from './seq.js';
import {
  CLOSED,
  CLOSING,
  CLOSE_WAIT,
  DEFAULT_OPTIONS,
  ESTABLISHED,
  FIN_WAIT_1,
  FIN_WAIT_2,
  LAST_ACK,
  STATE_NAMES,
  SYN_RECEIVED,
  SYN_SENT,
  Segment,
  TIME_WAIT,
  ipToString,
  newCounters,
} from './types.js';
import type { SegmentSink, SessionInfo, TcpCounters, TcpOptions } from './types.js';
import { clearArray } from '../util/array.js';
import { read16 } from '../wire/bytes.js';

/** MSS values a SYN cookie can encode (3 bits). */
export const COOKIE_MSS = [536, 1200, 1360, 1400, 1440, 1452, 1460, 8960];
/** A cookie's time counter ticks every 64 s; cookies of this and the previous tick are accepted. */
const COOKIE_PERIOD_MS = 64_000;

function isSynchronized(s: number): boolean {
  return s === ESTABLISHED || s === FIN_WAIT_1 || s === FIN_WAIT_2 || s === CLOSE_WAIT || s === CLOSING || s === LAST_ACK;
}

export class TcpStack {
  readonly opts: TcpOptions;
  /** Named drop/error reasons, for `show errors` under node 'tcp4-input'. */
  readonly errors: Record<string, number> = Object.create(null) as Record<string, number>;
  readonly counters: TcpCounters = newCounters();
  /** Buffered-bytes budget and per-source limits (budget.ts, source-limits.ts). */
  readonly mem: MemoryBudget;

  /** @internal options of the segment being processed */
  readonly opt = new TcpParsedOptions();
  /** @internal scratch for SACK blocks we emit */
  readonly sackOut = new Int32Array(8);
  /** @internal time of the current input/flush/tick */
  now = 0;
  /** @internal the sink refused a segment during this flush */
  txBlocked = false;
  /** @internal Between beginPrivate() and endPrivate(). */
  privateTx = false;
  /**
   * @internal The process's TIME_WAIT count (every thread's) right after the last connection
   * entered TIME_WAIT, counting it: above maxTimeWait it gets no entry. Taken from the one atomic
   * add, so two threads adding at once never both see room for the last place.
   */
  timeWaitRank = 0;

  private readonly seg = new Segment();
  /**
   * The connection table: bucket connKey(remoteIp, remotePort) & (length - 1) heads a chain of
   * connections through `next` (compared on the full 4-tuple). Our own array rather than a Map:
   * a Map leaves a hole per delete and rebuilds itself once they fill it, and the table it leaves
   * behind in the old generation keeps every connection it held alive through the next
   * scavenges (they were all promoted; see src/stream/dense-set.ts). A bucket is cleared the
   * moment its connection leaves; the array doubles past one connection per bucket and halves
   * below one per eight.
   */
  private buckets: (AnyConnection | null)[] = new Array<AnyConnection | null>(MIN_BUCKETS).fill(null);
  private tableCount = 0;
  private readonly listeners = new Map<number, AcceptHandler>();
  private readonly heap = new TimerHeap<TcpConnection>();
  /** TIME_WAIT connections, oldest (earliest lingerAt) first. */
  private twHead: TimeWaitConnection | null = null;
  private twTail: TimeWaitConnection | null = null;
  /**
   * TIME_WAIT entries whose connection is gone (expired, reused by a new SYN), reused for the
   * next connections to close: a busy server closes one per request, and an entry lives long
   * enough (until its port comes back, or timeWaitMs) to be copied by two scavenges and promoted
   * if it were new each time. At most TW_FREE_MAX are kept.
   */
  private readonly twFree: TimeWaitConnection[] = [];
  private dirtyList: TcpConnection[] = [];
  private spareList: TcpConnection[] = [];
  private inCall = false;
  private readonly isnKey: [number, number];
  private readonly cookieKey: [number, number];
  private readonly tsKey: [number, number];
  private readonly rcvWscale: number;
  private lastCookieAt = -Infinity;
  private lastReclaimAt = -Infinity;

  constructor(
    readonly sink: SegmentSink,
    options?: Partial<TcpOptions>,
  ) {
    this.opts = { ...DEFAULT_OPTIONS, ...options };
    this.mem = this.opts.memory ?? new MemoryBudget();
    this.mem.count = (reason) => this.err(reason);
    this.mem.sources.addresses = this.opts.addresses;
    const secret = this.opts.secret;
    this.isnKey = makeKey(secret, 0);
    this.cookieKey = makeKey(secret, 8);
    this.tsKey = makeKey(secret, 16);
    let s = 0;
    if (this.opts.windowScaling) while (s < 14 && this.opts.rcvBuf / 2 ** s > 0xffff) s++;
    this.rcvWscale = s;
  }

  /**
   * Active open (optional feature): sends a SYN from localIp:localPort. `open` is called at once
   * with the stream (writes are queued until ESTABLISHED); a refused or timed-out attempt ends
   * with onClose. Throws if the 4-tuple is in use.
   */
  connect(localIp: number, localPort: number, remoteIp: number, remotePort: number, open: AcceptHandler, now: number): TcpConnection {
    localIp >>>= 0;
    remoteIp >>>= 0;
    if (this.lookup(localIp, localPort, remoteIp, remotePort) !== undefined) throw new Error('TCP 4-tuple in use');
    this.now = now;
    const c = new TcpConnection(this, localIp, localPort, remoteIp, remotePort, null);
    c.active = true;
    const iss = this.isn(localIp, remoteIp, localPort, remotePort, now);
    c.iss = iss;
    c.sndUna = iss;
    c.sndNxt = c.sndMax = seqAdd(iss, 1);
    c.tsOffset = this.tsOffset(localIp, remoteIp, localPort, remotePort);
    c.rttTime = now;
    this.insert(c);
    this.setState(c, SYN_SENT);
    this.counters.activeOpens++;
    const wasIn = this.inCall;
    this.inCall = true;
    try {
      c.handler = open(c);
      sendSyn(c, now);
      c.rtoAt = now + this.opts.rtoInitial;
      this.timerUpdate(c);
    } finally {
      this.inCall = wasIn;
    }
    return c;
  }

  /** Accept connections to localIp:port (localIp 0 = any local address). */
  listen(localIp: number, port: number, accept: AcceptHandler): void {
    const key = (localIp >>> 0) * 65536 + port;
    if (!this.listeners.has(key)) this.opts.addresses?.hold(localIp >>> 0);
    this.listeners.set(key, accept);
  }

  unlisten(localIp: number, port: number): void {
    if (this.listeners.delete((localIp >>> 0) * 65536 + port)) this.opts.addresses?.release(localIp >>> 0);
  }

  /** @internal */
  err(name: string): void {
    this.errors[name] = (this.errors[name] ?? 0) + 1;
  }

  /** @internal our MSS for a local address */
  ourMss(localIp: number): number {
    const m = this.opts.mss;
    return typeof m === 'number' ? m : m(localIp);
  }

  // ------------------------------------------------------------------ input

  /**
   * One received segment. IPs are host-order unsigned numbers; the IPv4 header and the TCP
   * checksum were already checked. buf[off .. off+len) is valid only during the call.
   */
  input(srcIp: number, dstIp: number, buf: Buffer, off: number, len: number, now: number): void {
    this.now = now;
    this.counters.segmentsIn++;
    const reason = checkTcp(buf, off, len);
    if (reason !== 0) {
      this.err('bad-header');
      this.err(tcpReasonName(reason));
      return;
    }
    const hl = (buf[off + 12] >>> 4) << 2;
    if (hl > 20 && parseTcpOptions(buf, off, hl, this.opt) !== 0) {
      this.err('bad-option');
      return;
    }
    if (hl === 20) this.opt.reset();
    const g = this.seg;
    g.srcIp = srcIp >>> 0;
    g.dstIp = dstIp >>> 0;
    g.srcPort = read16(buf, off);
    g.dstPort = read16(buf, off + 2);
    g.seq = readSeq(buf, off + 4);
    g.ack = readSeq(buf, off + 8);
    g.flags = buf[off + 13];
    g.wnd = read16(buf, off + 14);
    g.buf = buf;
    g.dataOff = off + hl;
    g.dataLen = len - hl;

    this.inCall = true;
    try {
      let c = this.lookup(g.dstIp, g.dstPort, g.srcIp, g.srcPort);
      if (
        c !== undefined &&
        c.state === TIME_WAIT &&
        (g.flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN &&
        c instanceof TimeWaitConnection
      ) {
        if (c.timeWaitReusable(g)) {
          // RFC 6191: a new incarnation; its ISN must be above anything the old one used.
          const floor = (c.sndMax + 65536 + 2) | 0;
          this.destroy(c, false);
          this.counters.timeWaitReused++;
          c = undefined;
          this.listenInput(g, now, true, floor);
          return;
        }
      }
      if (c !== undefined) c.segment(g, now);
      else this.listenInput(g, now, false, 0);
    } finally {
      this.inCall = false;
      g.buf = EMPTY;
    }
  }

  private lookup(localIp: number, localPort: number, remoteIp: number, remotePort: number): AnyConnection | undefined {
    const b = this.buckets;
    let c = b[connKey(remoteIp, remotePort) & (b.length - 1)];
    while (
      c !== null &&
      (c.remotePort !== remotePort || c.remoteIp !== remoteIp || c.localPort !== localPort || c.localIp !== localIp)
    ) {
      c = c.next;
    }
    return c ?? undefined;
  }

  /** Segments with no connection: LISTEN (RFC 9293 §3.10.7.2) or CLOSED (§3.10.7.1). */
  private listenInput(g: Segment, now: number, floored: boolean, isnFloor: number): void {
    const flags = g.flags;
    // An address in 240.0.0.0/4 is an IPv6 address's handle (the dataplane's ip6-peers.ts): its
    // wildcard is the listener on 240.0.0.0 (`tcp://::/port`), not the IPv4 one on 0.0.0.0.
    const wildcard = g.dstIp >>> 28 === 0xf ? 0xf0000000 * 65536 + g.dstPort : g.dstPort;
    const accept = this.listeners.get(g.dstIp * 65536 + g.dstPort) ?? this.listeners.get(wildcard);
    if (accept === undefined) {
      if ((flags & TCP_RST) !== 0) {
        this.err('rst-no-connection');
        return;
      }
      this.err('no-listener-rst');
      this.replyRst(g);
      return;
    }
    if ((flags & TCP_RST) !== 0) {
      this.err('rst-no-connection');
      return;
    }
    if ((flags & TCP_ACK) !== 0) {
      if ((flags & TCP_SYN) === 0 && this.opts.synCookies && now - this.lastCookieAt < 2 * COOKIE_PERIOD_MS) {
        if (this.cookieAck(g, now, accept)) return;
      }
      this.err('listen-bad-ack-rst');
      this.replyRst(g);
      return;
    }
    if ((flags & TCP_SYN) === 0) {
      this.err('listen-no-syn');
      return;
    }
    if (this.counters.connections - this.counters.timeWait >= this.opts.maxConnections) {
      this.err('conn-limit');
      return;
    }
    if (this.mem.admitConnection(g.srcIp) !== null) return; // counted: memory or source limit
    if (this.counters.synReceived >= this.opts.synQueueMax) {
      this.mem.cancelAdmit(); // no connection is made for it (a cookie is stateless)
      if (this.opts.synCookies) {
        this.err('syn-queue-full-cookie');
        this.sendCookie(g, now);
      } else this.err('syn-queue-full');
      return;
    }
    this.passiveOpen(g, now, accept, floored, isnFloor);
  }

  private tuple(localIp: number, remoteIp: number, localPort: number, remotePort: number, k: [number, number], x: number): number {
    const a = this.opts.addresses;
    if (a !== undefined) {
      localIp = a.digest(localIp);
      remoteIp = a.digest(remoteIp);
    }
    return hash4(k[0], k[1] ^ x, localIp, remoteIp, (localPort << 16) | remotePort, 0x5a17);
  }

  /** RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs clock. */
  isn(localIp: number, remoteIp: number, localPort: number, remotePort: number, now: number): number {
    const pick = this.opts.isnFor;
    if (pick !== undefined) return seqI32(pick(localIp, localPort, remoteIp, remotePort));
    const f = this.tuple(localIp, remoteIp, localPort, remotePort, this.isnKey, 0);
    return seqAdd(f, Math.floor(now * 250));
  }

  /** An int32 like every timestamp (seq.ts): a uint32 above 2^31 would be a HeapNumber per connection. */
  private tsOffset(localIp: number, remoteIp: number, localPort: number, remotePort: number): number {
    return this.tuple(localIp, remoteIp, localPort, remotePort, this.tsKey, 0) | 0;
  }

  /** `floored`: the ISN must be above `isnFloor` (an int32 sequence number: any value is one, so no sentinel). */
  private passiveOpen(g: Segment, now: number, accept: AcceptHandler, floored: boolean, isnFloor: number): void {
    const opt = this.opt;
    const o = this.opts;
    const c = new TcpConnection(this, g.dstIp, g.dstPort, g.srcIp, g.srcPort, accept);
    c.irs = g.seq;
    c.rcvNxt = seqAdd(g.seq, 1);
    let iss = this.isn(g.dstIp, g.srcIp, g.dstPort, g.srcPort, now);
    if (floored && !seqGt(iss, isnFloor)) iss = isnFloor;
    c.iss = iss;
    c.sndUna = iss;
    c.sndNxt = c.sndMax = seqAdd(iss, 1);
    this.negotiate(c, opt.mss, opt.wscale, opt.sackOk, opt.hasTs, opt.tsVal);
    c.sndWnd = g.wnd; // never scaled in a SYN
    c.maxSndWnd = g.wnd;
    c.sndWl1 = g.seq;
    c.sndWl2 = iss;
    c.rttTime = now;
    this.insert(c);
    this.setState(c, SYN_RECEIVED);
    this.counters.passiveOpens++;
    sendSynAck(c, now);
    c.rtoAt = now + o.rtoInitial;
    this.timerUpdate(c);
  }

  /** @internal our window shift */
  rcvWscaleFor(): number {
    return this.rcvWscale;
  }

  /** @internal applies the peer's SYN options (for an active open: those of its SYN-ACK). */
  negotiate(c: TcpConnection, peerMss: number, wscale: number, sackOk: boolean, hasTs: boolean, tsVal: number, active = false): void {
    const o = this.opts;
    if (o.windowScaling && wscale >= 0) {
      c.sndWscale = wscale;
      c.rcvWscale = this.rcvWscale;
      c.rcvWscaleSent = this.rcvWscale;
    }
    c.sackOk = o.sack && sackOk;
    c.tsOk = o.timestamps && hasTs;
    if (c.tsOk) {
      c.tsRecent = tsVal;
      c.tsRecentAt = this.now;
      if (!active) c.tsOffset = this.tsOffset(c.localIp, c.remoteIp, c.localPort, c.remotePort);
    }
    const ours = this.ourMss(c.localIp);
    const peer = peerMss > 0 ? peerMss : 536;
    let mss = (peer < ours ? peer : ours) - (c.tsOk ? 12 : 0);
    if (mss < 64) mss = 64;
    c.sndMss = mss;
    c.rcvMss = ours < 536 ? ours : 536;
  }

  // ------------------------------------------------------------------ SYN cookies

  private cookieHash(g: Segment, peerIsn: number, t: number): number {
    return this.tuple(g.dstIp, g.srcIp, g.dstPort, g.srcPort, this.cookieKey, (peerIsn ^ Math.imul(t, 0x9e3779b1)) | 0) & 0xffffff;
  }

  /**
   * A stateless SYN-ACK whose ISN is a cookie: 5 bits of time, 3 bits of MSS index, 24 bits of
   * keyed hash over the 4-tuple, the peer's ISN and the time. With timestamps, the low 5 bits of
   * our TSval carry the peer's window scale and SACK-permitted (echoed back in TSecr).
   *
   * Without timestamps nothing comes back to remember them by, so the SYN-ACK offers neither
   * window scaling nor SACK (as Linux does): both ends then use unscaled windows. Encoding the
   * shift in the ISN instead would take 4 of the hash's 24 bits (16× easier to forge a cookie)
   * for peers that are rare (timestamps are off mainly on Windows) and only during a SYN flood.
   */
  private sendCookie(g: Segment, now: number): void {
    const opt = this.opt;
    const o = this.opts;
    this.lastCookieAt = now;
    const t = Math.floor(now / COOKIE_PERIOD_MS);
    const ours = this.ourMss(g.dstIp);
    const peer = opt.mss > 0 ? opt.mss : 536;
    const want = peer < ours ? peer : ours;
    let idx = 0;
    while (idx < 7 && COOKIE_MSS[idx + 1] <= want) idx++;
    const iss = (((t & 31) << 27) | (idx << 24) | this.cookieHash(g, g.seq, t)) | 0;
    const tsOk = o.timestamps && opt.hasTs;
    const wscale = tsOk && o.windowScaling && opt.wscale >= 0 ? opt.wscale : -1;
    const sackOk = tsOk && o.sack && opt.sackOk;
    let tsVal = 0;
    if (tsOk) {
      const real = seqAdd(Math.floor(now), this.tsOffset(g.dstIp, g.srcIp, g.dstPort, g.srcPort));
      const bits = (wscale >= 0 ? wscale : 15) | (sackOk ? 16 : 0);
      tsVal = ((real & ~31) | bits) | 0;
      if (seqGt(tsVal, real)) tsVal = seqSub(tsVal, 32);
    }
    const win = o.rcvBuf > 0xffff ? 0xffff : o.rcvBuf;
    this.sendSynAck(
      g.dstIp,
      g.srcIp,
      g.dstPort,
      g.srcPort,
      iss,
      seqAdd(g.seq, 1),
      ours,
      wscale >= 0 ? this.rcvWscale : -1,
      sackOk,
      tsOk,
      tsVal,
      opt.tsVal,
      win,
    );
    this.counters.cookiesSent++;
  }

  /** Validates an ACK to a listener as a SYN cookie and, if good, creates the connection. */
  private cookieAck(g: Segment, now: number, accept: AcceptHandler): boolean {
    const cookie = seqSub(g.ack, 1);
    const peerIsn = seqSub(g.seq, 1);
    const t = Math.floor(now / COOKIE_PERIOD_MS);
    const tc = cookie >>> 27;
    let ok = false;
    for (let dt = 0; dt < 2 && !ok; dt++) {
      const tt = t - dt;
      if ((tt & 31) === tc && this.cookieHash(g, peerIsn, tt) === (cookie & 0xffffff)) ok = true;
    }
    if (!ok) {
      this.err('bad-cookie');
      return false;
    }
    if (this.counters.connections - this.counters.timeWait >= this.opts.maxConnections) {
      this.err('conn-limit');
      return true; // drop silently: the peer will retransmit
    }
    if (this.mem.admitConnection(g.srcIp) !== null) return true; // (counted) the same
    const opt = this.opt;
    const o = this.opts;
    const c = new TcpConnection(this, g.dstIp, g.dstPort, g.srcIp, g.srcPort, accept);
    c.irs = peerIsn;
    c.rcvNxt = g.seq;
    c.iss = cookie;
    c.sndUna = cookie;
    c.sndNxt = c.sndMax = g.ack;
    const tsOk = o.timestamps && opt.hasTs;
    let wscale = -1;
    let sackOk = false;
    if (tsOk) {
      const bits = opt.tsEcr & 31;
      wscale = (bits & 15) === 15 ? -1 : bits & 15;
      sackOk = (bits & 16) !== 0;
    }
    this.negotiate(c, COOKIE_MSS[(cookie >>> 24) & 7], wscale, sackOk, tsOk, opt.tsVal);
    c.sndWl1 = peerIsn;
    c.sndWl2 = cookie;
    c.lastAckSent = g.seq;
    c.rcvAdvRight = (g.seq + (o.rcvBuf > 0xffff ? 0xffff : o.rcvBuf)) | 0;
    c.retries = 1; // no handshake RTT sample without timestamps: we did not time the SYN-ACK
    this.insert(c);
    this.setState(c, SYN_RECEIVED);
    this.counters.cookiesAccepted++;
    this.counters.passiveOpens++;
    c.segment(g, now); // completes the handshake (SYN-RECEIVED → ESTABLISHED) and takes any data
    return true;
  }

  // ------------------------------------------------------------------ output helpers

  /** @internal A SYN-ACK with our options. */
  sendSynAck(
    localIp: number,
    remoteIp: number,
    localPort: number,
    remotePort: number,
    seq: number,
    ack: number,
    mss: number,
    wscale: number,
    sackOk: boolean,
    tsOk: boolean,
    tsVal: number,
    tsEcr: number,
    window: number,
    flags = TCP_SYN | TCP_ACK,
  ): void {
    const sink = this.sink;
    if (!sink.begin(localIp, remoteIp, false, true)) {
      this.err('tx-full');
      return;
    }
    const b = sink.buf;
    const o = sink.off;
    const hl = 24 + (tsOk ? 12 : sackOk ? 4 : 0) + (wscale >= 0 ? 4 : 0);
    writeTcpHeader(b, o, localPort, remotePort, seq, ack, hl, flags, window);
    let p = writeOptMss(b, o + 20, mss > 0xffff ? 0xffff : mss);
    if (tsOk) p = writeOptTimestamp(b, p, tsVal, tsEcr, sackOk);
    else if (sackOk) p = writeOptSackPermitted(b, p);
    if (wscale >= 0) writeOptWscale(b, p, wscale);
    sink.end(hl);
    this.counters.segmentsOut++;
    if (this.privateTx) this.counters.privateSegmentsOut++;
  }

  /** @internal A bare control segment (RST, RST+ACK) without options. */
  sendControl(localIp: number, remoteIp: number, localPort: number, remotePort: number, seq: number, ack: number, flags: number): void {
    const sink = this.sink;
    if (!sink.begin(localIp, remoteIp, false, true)) {
      this.err('tx-full');
      return;
    }
    writeTcpHeader(sink.buf, sink.off, localPort, remotePort, seq, ack, 20, flags, 0);
    sink.end(20);
    const k = this.counters;
    k.segmentsOut++;
    if ((flags & TCP_RST) !== 0) k.rstOut++;
    if (this.privateTx) {
      k.privateSegmentsOut++;
      if ((flags & TCP_RST) !== 0) k.privateRstOut++;
    }
  }

  /**
   * @internal What is sent from here to endPrivate() answers only a segment that failed
   * acceptance or hit no connection: counted in privateSegmentsOut (and, through the sink, in the
   * dataplane's private TX counters), which /metrics subtracts from every TX series so that a
   * scraper cannot tell whether a spoofed segment drew such an answer (private-reasons.ts).
   */
  beginPrivate(): void {
    this.privateTx = true;
    this.sink.privateTx = true;
  }

  /** @internal Ends beginPrivate(). */
  endPrivate(): void {
    this.privateTx = false;
    this.sink.privateTx = false;
  }

  /**
   * @internal sendControl() as a private frame (beginPrivate/endPrivate, exception-safe: a throw
   * in the output path must not leave later public frames marked private). Only unacceptable
   * segments' answers come here, never the per-segment hot path.
   */
  sendPrivateControl(localIp: number, remoteIp: number, localPort: number, remotePort: number, seq: number, ack: number, flags: number): void {
    this.beginPrivate();
    try {
      this.sendControl(localIp, remoteIp, localPort, remotePort, seq, ack, flags);
    } finally {
      this.endPrivate();
    }
  }

  /** RST for a segment without a connection (RFC 9293 §3.10.7.1); private (beginPrivate). */
  private replyRst(g: Segment): void {
    if ((g.flags & TCP_ACK) !== 0) {
      this.sendPrivateControl(g.dstIp, g.srcIp, g.dstPort, g.srcPort, g.ack, 0, TCP_RST);
    } else {
      const segLen = g.dataLen + ((g.flags & TCP_SYN) !== 0 ? 1 : 0) + ((g.flags & TCP_FIN) !== 0 ? 1 : 0);
      this.sendPrivateControl(g.dstIp, g.srcIp, g.dstPort, g.srcPort, 0, seqAdd(g.seq, segLen), TCP_RST | TCP_ACK);
    }
  }

  /**
   * @internal Whether a challenge ACK (RFC 5961 §7) may go out now on connection c, counted
   * either way. Limited per connection only, sharing the out-of-window ACK's clock as Linux does
   * (see TcpOptions.invalidAckIntervalMs for why there is no stack-wide budget).
   */
  takeChallengeAck(c: { lastOowAckAt: number }, now: number): boolean {
    if (now - c.lastOowAckAt < this.opts.invalidAckIntervalMs) {
      this.err('challenge-ack-limit');
      return false;
    }
    c.lastOowAckAt = now;
    this.counters.challengeAcks++;
    return true;
  }

  /**
   * @internal Whether the ACK owed for an unacceptable segment (RFC 9293 §3.10.7.4) may go out.
   * For segments without data it is rate limited per connection (500 ms, as Linux does) so two
   * endpoints that disagree cannot ping-pong ACKs forever.
   */
  takeOutOfWindowAck(c: { lastOowAckAt: number }, now: number, segLen: number): boolean {
    if (segLen > 0) return true;
    if (now - c.lastOowAckAt < this.opts.invalidAckIntervalMs) {
      this.err('out-of-window-ack-limited');
      return false;
    }
    c.lastOowAckAt = now;
    return true;
  }

  // ------------------------------------------------------------------ bookkeeping

  private insert(c: TcpConnection): void {
    if (this.tableCount >= this.buckets.length) this.resizeTable(this.buckets.length * 2);
    const b = this.buckets;
    const i = connKey(c.remoteIp, c.remotePort) & (b.length - 1);
    c.next = b[i];
    b[i] = c;
    this.tableCount++;
    this.counters.connections++;
    c.memSrc = this.mem.slotFor(c.remoteIp);
    const a = this.opts.addresses;
    if (a !== undefined) {
      a.hold(c.localIp);
      a.hold(c.remoteIp);
    }
  }

  private unlink(c: AnyConnection): void {
    if (this.replaceInTable(c, c.next)) this.tableCount--;
    c.next = null;
    const n = this.buckets.length;
    if (n > MIN_BUCKETS && this.tableCount < n >>> 3) this.resizeTable(n >>> 1);
  }

  /** Puts `by` (already chained to c.next, or c.next itself) in c's place in its chain; false if c is not in the table. */
  private replaceInTable(c: AnyConnection, by: AnyConnection | null): boolean {
    const b = this.buckets;
    const i = connKey(c.remoteIp, c.remotePort) & (b.length - 1);
    let p = b[i];
    if (p === c) {
      b[i] = by;
      return true;
    }
    while (p !== null && p.next !== c) p = p.next;
    if (p === null) return false;
    p.next = by;
    return true;
  }

  /** Rehashes the table into n buckets (a power of two); the old array is cleared, holding nothing. */
  private resizeTable(n: number): void {
    const old = this.buckets;
    const b = new Array<AnyConnection | null>(n).fill(null);
    const mask = n - 1;
    for (let j = 0; j < old.length; j++) {
      let c = old[j];
      while (c !== null) {
        const next = c.next;
        const i = connKey(c.remoteIp, c.remotePort) & mask;
        c.next = b[i];
        b[i] = c;
        c = next;
      }
      old[j] = null;
    }
    this.buckets = b;
  }

  /** @internal state change with the current-count counters */
  setState(c: AnyConnection, s: number): void {
    const k = this.counters;
    const old = c.state;
    if (old === SYN_RECEIVED) k.synReceived--;
    else if (old === TIME_WAIT) {
      k.timeWait--;
      this.mem.timeWaitAdd(-1);
    } else if (isSynchronized(old)) k.established--;
    if (s === SYN_RECEIVED) k.synReceived++;
    else if (s === TIME_WAIT) {
      k.timeWait++;
      this.timeWaitRank = this.mem.timeWaitAdd(1);
    } else if (isSynchronized(s)) k.established++;
    c.state = s;
  }

  /**
   * (Re)queues a TIME_WAIT connection at the end of the 2MSL FIFO, by its lingerAt. Every
   * TIME_WAIT lasts timeWaitMs from a later `now`, so appending keeps the order without a heap
   * (O(1) per connection instead of O(log n) against every connection in TIME_WAIT).
   */
  private timeWaitQueue(c: TimeWaitConnection): void {
    if (c.inTimeWaitList) this.timeWaitUnlink(c);
    c.inTimeWaitList = true;
    // Walk back from the tail in case timeWaitMs was lowered meanwhile (normally zero steps).
    let p = this.twTail;
    while (p !== null && p.lingerAt > c.lingerAt) p = p.twPrev;
    c.twPrev = p;
    c.twNext = p === null ? this.twHead : p.twNext;
    if (c.twNext !== null) c.twNext.twPrev = c;
    else this.twTail = c;
    if (p !== null) p.twNext = c;
    else this.twHead = c;
  }

  /** @internal A retransmitted FIN in TIME_WAIT: our last ACK was lost; the 2MSL wait starts again. */
  restartTimeWait(c: TimeWaitConnection, now: number): void {
    c.lingerAt = now + this.opts.timeWaitMs;
    this.timeWaitQueue(c);
  }

  private timeWaitUnlink(c: TimeWaitConnection): void {
    const prev = c.twPrev;
    const next = c.twNext;
    if (prev !== null) prev.twNext = next;
    else this.twHead = next;
    if (next !== null) next.twPrev = prev;
    else this.twTail = prev;
    c.twPrev = c.twNext = null;
    c.inTimeWaitList = false;
  }

  /**
   * @internal A connection that just entered TIME_WAIT hands its place in the table to a
   * TimeWaitConnection (see time-wait.ts); the TcpConnection itself becomes CLOSED for the
   * application that may still hold it (it was told onClose already).
   */
  toTimeWait(c: TcpConnection): void {
    const spare = this.twFree.pop();
    let tw: TimeWaitConnection;
    if (spare !== undefined) {
      tw = spare;
      tw.init(c);
    } else tw = new TimeWaitConnection(this, c);
    tw.next = c.next;
    this.replaceInTable(c, tw);
    c.next = null;
    if (c.heapIdx >= 0) this.heap.remove(c);
    c.state = CLOSED; // (the counters keep counting the TIME_WAIT, now tw)
    this.mem.releaseAll(c); // TIME_WAIT holds no buffers and does not count for its source
    this.timeWaitQueue(tw);
  }

  /** @internal removes a connection; `notify` calls the application's onClose (once). */
  destroy(c: AnyConnection, notify: boolean): void {
    if (c.state === CLOSED) return;
    this.setState(c, CLOSED);
    this.unlink(c);
    const a = this.opts.addresses;
    if (a !== undefined) {
      a.release(c.localIp);
      a.release(c.remoteIp);
    }
    if (c instanceof TimeWaitConnection) {
      if (c.inTimeWaitList) this.timeWaitUnlink(c);
      this.counters.connections--;
      if (this.twFree.length < TW_FREE_MAX) this.twFree.push(c);
      return;
    }
    this.heap.remove(c);
    this.counters.connections--;
    c.q.clear();
    this.mem.releaseAll(c);
    c.reasm = null;
    if (notify) this.notifyClose(c);
  }

  /** @internal */
  notifyClose(c: TcpConnection): void {
    if (c.closeNotified || c.handler === null) return;
    c.closeNotified = true;
    c.handler.onClose();
  }

  /** @internal queue a connection for output at the next flush */
  markDirty(c: TcpConnection): void {
    if (c.dirty) return;
    c.dirty = true;
    this.dirtyList.push(c);
    if (!this.inCall && this.dirtyList.length === 1 && this.opts.onWork !== undefined) this.opts.onWork();
  }

  /** @internal a connection's timers changed */
  timerUpdate(c: TcpConnection): void {
    if (c.state === CLOSED) return;
    if (lowerHeapKey(c)) this.heap.keyLowered(c);
    // A later deadline is applied lazily when the old key fires.
  }

  // ------------------------------------------------------------------ driving

  /** Emits pending data/ACKs of the connections that need it (call after each RX vector and after tick). */
  flush(now: number): void {
    this.now = now;
    this.inCall = true;
    this.txBlocked = false;
    if (this.mem.wantsReclaim() && now - this.lastReclaimAt >= RECLAIM_MS) this.reclaim(now);
    const list = this.dirtyList;
    this.dirtyList = this.spareList;
    try {
      for (let i = 0; i < list.length; i++) {
        const c = list[i];
        c.dirty = false;
        if (c.state === CLOSED) continue;
        if (this.txBlocked) {
          this.markDirty(c);
          continue;
        }
        c.output(now);
      }
    } finally {
      clearArray(list);
      this.spareList = list;
      this.inCall = false;
    }
  }

  /**
   * Memory pressure: drop the out-of-order data of every connection that is tight (all of them
   * when the global budget is, those of a tight source otherwise). It was never acknowledged; the
   * peers send it again. The cheapest bytes to give back, so they go first.
   */
  private reclaim(now: number): void {
    this.lastReclaimAt = now;
    const mem = this.mem;
    mem.sources.pressureSeen = false;
    for (const head of this.buckets) {
      for (let c: AnyConnection | null = head; c !== null; c = c.next) {
        if (c instanceof TcpConnection && c.memOoo > 0 && mem.tight(c.memSrc)) {
          mem.pruneOutOfOrder(c);
          c.ackPending = true; // tell the peer its SACKed data is gone (fewer SACK blocks)
          this.markDirty(c);
        }
      }
    }
  }

  /** True when connections wait for output (e.g. the sink was full): call flush() again. */
  pending(): boolean {
    return this.dirtyList.length > 0;
  }

  /** Runs expired timers. */
  tick(now: number): void {
    this.now = now;
    this.inCall = true;
    try {
      const heap = this.heap;
      while (heap.size > 0 && heap.topKey() <= now) {
        const c = heap.pop()!;
        runTimers(c, now);
        this.timerUpdate(c);
      }
      // 2MSL over.
      let c = this.twHead;
      while (c !== null && c.lingerAt <= now) {
        c.lingerAt = Infinity;
        this.destroy(c, false);
        c = this.twHead;
      }
    } finally {
      this.inCall = false;
    }
  }

  /** Time (ms) of the next timer, Infinity if none. */
  nextDeadline(): number {
    // Keys moved later lazily are corrected here, from the top only.
    const heap = this.heap;
    const tw = this.twHead !== null ? this.twHead.lingerAt : Infinity;
    for (;;) {
      const c = heap.top();
      if (c === undefined) return tw;
      const d = deadlineOf(c);
      if (d === c.heapKey) return d < tw ? d : tw;
      if (d === Infinity) heap.remove(c);
      else heap.set(c, d);
    }
  }

  /**
   * A Packet Too Big (ICMPv6, RFC 8201) for a segment of this connection: lowers its MSS so that
   * a segment fits `mtu` with `headerBytes` of IP and TCP header (and the timestamp option when
   * in use). The quoted sequence number must be in flight (snd.una ≤ seq < snd.max), else it is
   * ignored and counted (RFC 5927 §4.1: blind ICMP attacks). Later segments and retransmissions
   * use the new MSS. Returns whether it was lowered.
   */
  packetTooBig(localIp: number, localPort: number, remoteIp: number, remotePort: number, seq: number, mtu: number, headerBytes: number): boolean {
    const c = this.lookup(localIp >>> 0, localPort, remoteIp >>> 0, remotePort);
    if (!(c instanceof TcpConnection)) {
      this.err('ptb-no-connection');
      return false;
    }
    seq = seqI32(seq); // quoted from the wire as unsigned
    if (seqLt(seq, c.sndUna) || seqGeq(seq, c.sndMax)) {
      this.err('ptb-not-in-flight');
      return false;
    }
    const mss = Math.max(64, mtu - headerBytes - (c.tsOk ? 12 : 0));
    if (mss >= c.sndMss) return false;
    c.sndMss = mss;
    this.err('ptb-mss-lowered');
    return true;
  }

  /** The connection for a 4-tuple, if any (for tests and tools). */
  find(localIp: number, localPort: number, remoteIp: number, remotePort: number): AnyConnection | undefined {
    return this.lookup(localIp >>> 0, localPort, remoteIp >>> 0, remotePort);
  }

  /** Every connection, as of the call (the caller may close some while it walks them). */
  *connections(): IterableIterator<AnyConnection> {
    const all: AnyConnection[] = [];
    for (const head of this.buckets) {
      for (let c: AnyConnection | null = head; c !== null; c = c.next) all.push(c);
    }
    yield* all;
  }

  /** Rows for `show session`. */
  *sessions(): IterableIterator<SessionInfo> {
    for (const c of this.connections()) {
      const full = c instanceof TcpConnection;
      yield {
        localIp: c.localIp,
        localPort: c.localPort,
        remoteIp: c.remoteIp,
        remotePort: c.remotePort,
        local: `${ipToString(c.localIp)}:${c.localPort}`,
        remote: full ? c.remote : `${ipToString(c.remoteIp)}:${c.remotePort}`,
        state: STATE_NAMES[c.state],
        sendQueue: full ? c.q.bytes : 0,
        recvQueue: full ? c.rcvQueued + (c.reasm?.bytes ?? 0) : 0,
        srtt: c.srtt,
        rttvar: c.rttvar,
        rto: c.rto,
        cwnd: c.cwnd,
        ssthresh: c.ssthresh,
        sndWnd: c.sndWnd,
        rcvWnd: Math.max(0, (c.rcvAdvRight - c.rcvNxt) | 0),
        mss: c.sndMss,
        congestion: full ? c.cc.describe?.() : undefined,
      };
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** What the connection table holds: full connections, and TIME_WAIT ones in their reduced form. */
export type AnyConnection = TcpConnection | TimeWaitConnection;

/** Spare TIME_WAIT entries kept for reuse (see TcpStack.twFree): ~300 bytes each. */
const TW_FREE_MAX = 1024;

/** The connection table's smallest size (buckets). */
const MIN_BUCKETS = 64;

/** A 30-bit key (a V8 small integer: no boxing per lookup) from the remote endpoint. */
/**
 * The connection table's bucket hash: keyed (HalfSipHash-1-3, a per-process key), because the
 * peer chooses its address and port: with a fixed function, a client (or an IPv6 peer, whose
 * 240/4 handles are handed out in order) could pick 4-tuples that all land in one bucket and make
 * every lookup walk a chain of thousands.
 */
const CONN_TABLE_KEY = makeKey(undefined, 0);

function connKey(ip: number, port: number): number {
  return tableHash4(CONN_TABLE_KEY[0], CONN_TABLE_KEY[1], ip, port, 0, 0) & 0x3fffffff;
}

/**
 * Makes the connection's earliest deadline its heap key when that is earlier than the key (or
 * the connection is not in the heap and has one); returns whether it did. A boolean and not the
 * deadline: this runs per segment sent, and a double returned from a call V8 does not inline
 * (the senders are large) is a new heap number.
 */
function lowerHeapKey(c: TcpConnection): boolean {
  const d = deadlineOf(c);
  if (c.heapIdx < 0 ? d === Infinity : d >= c.heapKey) return false;
  c.heapKey = d;
  return true;
}

function deadlineOf(c: TcpConnection): number {
  let d = c.rtoAt;
  if (c.persistAt < d) d = c.persistAt;
  if (c.delackAt < d) d = c.delackAt;
  if (c.kaAt < d) d = c.kaAt;
  if (c.lingerAt < d) d = c.lingerAt;
  if (c.reoAt < d) d = c.reoAt;
  if (c.ptoAt < d) d = c.ptoAt;
  if (c.paceAt < d) d = c.paceAt;
  return d;
}
