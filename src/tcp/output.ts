/**
 * Writing a connection's segments: one data/ACK segment into the sink (header, timestamps,
 * SACK blocks, the window we advertise, payload copied from the send queue), pure ACKs, RSTs,
 * our SYN and SYN-ACK, the per-flush send step, and the sizing rules both loss-recovery send
 * loops share.
 */
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, writeOptSack, writeOptTimestamp, writeTcpHeader } from '../wire/tcp.js';
import type { TcpConnection } from './connection.js';
import type { TcpStack } from './stack.js';
import { sackBlocksWithFin } from './reassembly.js';
import { rtoCur } from './rtt.js';
import { seqAdd, seqGt, seqLt } from './seq.js';

/** Largest payload asked for in one super-segment (the sink's room, ≤ one IPv4 packet, decides). */
export const SUPER_SEGMENT_MAX = 65535;

/** The SACK blocks that follow a D-SACK block (scratch, copied into the stack's sackOut). */
const sackTail = new Int32Array(6);

/** The sequence number where the queued data ends (our FIN's, once end() was called). */
export function dataEnd(c: TcpConnection): number {
  return c.finQueued ? c.finSeq : seqAdd(c.sndUna, c.q.bytes);
}

/**
 * Sends one segment at `seq` with up to maxLen data bytes, and FIN when allowFin and the
 * segment reaches finSeq. Returns the sequence space used, or -1 when the sink had no room.
 */
export function transmit(c: TcpConnection, seq: number, maxLen: number, now: number, allowFin: boolean, superSeg = false): number {
  const st = c.stack;
  const sink = st.sink;
  c.lastPiece = 0;
  // A D-SACK reports a duplicate once (RFC 2883 §4): the device would copy it onto every piece of
  // a super-segment, so the segment that carries it is a plain one.
  if (superSeg && c.dsack) superSeg = false;
  if (!sink.begin(c.localIp, c.remoteIp, superSeg)) {
    st.txBlocked = true;
    return -1;
  }
  const buf = sink.buf;
  const o = sink.off;
  let hl = c.tsOk ? 32 : 20;
  let nsack = 0;
  const rs = c.reasm;
  if (c.sackOk && ((rs !== null && rs.count > 0) || c.oooFin || c.dsack)) {
    const max = c.tsOk ? 3 : 4;
    if (c.dsack) {
      // RFC 2883: the D-SACK block first, then the SACK blocks (dsack.ts); reported once.
      const out = st.sackOut;
      nsack = 1 + sackBlocksWithFin(rs, c.oooFin, c.oooFinSeq, c.oooFinLatest, sackTail, max - 1);
      out[0] = c.dsackStart;
      out[1] = c.dsackEnd;
      for (let i = 2; i < 2 * nsack; i++) out[i] = sackTail[i - 2];
      c.dsack = false;
      st.counters.dsacksOut++;
    } else nsack = sackBlocksWithFin(rs, c.oooFin, c.oooFinSeq, c.oooFinLatest, st.sackOut, max);
    hl += 4 + 8 * nsack;
  }
  let len = 0;
  let flags = TCP_ACK;
  if (maxLen > 0) {
    const end = dataEnd(c);
    len = (end - seq) | 0;
    if (len > maxLen) len = maxLen;
    if (len > sink.room - hl) len = sink.room - hl;
    // sndMss leaves room for the timestamp option only: SACK blocks come out of the payload
    // (RFC 6691; Linux's tcp_current_mss): payload + options ≤ SND.MSS + 12, the peer's MSS.
    const mss = nsack > 0 ? c.sndMss - (4 + 8 * nsack) : c.sndMss;
    // A plain segment never exceeds SND.MSS (RFC 9293 §3.7.1 MUST-16), also when the caller asked
    // for a super-segment that was refused above (a D-SACK is owed): only the pieces of a
    // super-segment may add up to more.
    if (!superSeg && len > mss) len = mss;
    if (superSeg && len > 0) {
      // A super-segment: the device cuts it into pieces of one MSS (what fits one frame
      // with these options); keep it a whole number of pieces unless it ends the data.
      let piece = mss;
      const segRoom = (sink.segRoom ?? sink.room) - hl;
      if (segRoom < piece) piece = segRoom;
      if (len > piece) {
        if (seqAdd(seq, len) !== end) len -= len % piece;
        if (len > piece) c.lastPiece = piece;
      }
    }
    if (len < 0) len = 0;
    if (len > 0) {
      const pos = (seq - c.sndUna) | 0;
      const q = c.q;
      // A super-segment lying in one chunk goes by reference where the sink can (no copy).
      if (!(superSeg && sink.attach !== undefined && q.locate(pos, len) && sink.attach(q.spanChunk!, q.spanOff, len))) q.copy(pos, len, buf, o + hl);
      if (seqAdd(seq, len) === end) flags |= TCP_PSH;
    }
  }
  if (allowFin && c.finQueued && (seqAdd(seq, len)) === c.finSeq) flags |= TCP_FIN;
  writeTcpHeader(buf, o, c.localPort, c.remotePort, seq, c.rcvNxt, hl, flags, windowField(c, c.rcvQueued));
  let p = o + 20;
  if (c.tsOk) p = writeOptTimestamp(buf, p, c.tsNow(now), c.tsRecent);
  if (nsack > 0) writeOptSack(buf, p, st.sackOut, nsack);
  const piece = c.lastPiece;
  sink.end(hl + len, piece);
  c.lastAckSent = c.rcvNxt;
  c.ackPending = false;
  const k = st.counters;
  const segs = piece > 0 ? Math.ceil(len / piece) : 1;
  k.segmentsOut += segs;
  if (st.privateTx) k.privateSegmentsOut += segs;
  if (len > 0) {
    k.dataSegmentsOut += segs;
    k.bytesOut += len;
  }
  return len + ((flags & TCP_FIN) !== 0 ? 1 : 0);
}

/** What advertising a receive window needs (TcpConnection and TimeWaitConnection). */
export interface ReceiveWindow {
  readonly stack: TcpStack;
  readonly rcvNxt: number;
  /** Right edge of the window last advertised (never moves left). */
  rcvAdvRight: number;
  readonly rcvMss: number;
  readonly rcvWscale: number;
  /** The memory budget's source slot (a TcpConnection's; TIME_WAIT has none). */
  readonly memSrc?: number;
}

/**
 * The window we advertise now, with `queued` bytes held for the application, as the (scaled)
 * field value; updates rcvAdvRight.
 */
export function windowField(r: ReceiveWindow, queued: number): number {
  const rcvBuf = r.stack.opts.rcvBuf;
  const promised = (r.rcvAdvRight - r.rcvNxt) | 0;
  if (r.stack.privateTx) {
    // A private answer moves no edge: the window update, if one is owed, stays owed (review r/metrics F1).
    const s = r.rcvWscale;
    // Rounded DOWN (review r/metrics2 R2-4): rounding up would advertise a right edge beyond
    // rcvAdvRight that nothing records (a later public ACK could then shrink the window), and
    // would tell an off-path prober where RCV.NXT sits within a 2^wscale step.
    const f = promised > 0 ? promised >>> s : 0;
    return f > 0xffff ? 0xffff : f;
  }
  let win = rcvBuf - queued;
  if (win < 0) win = 0;
  if (r.memSrc !== undefined) win = r.stack.mem.window(r.memSrc, win, promised, r.rcvMss);
  // Receiver silly window avoidance: move the right edge only by a useful amount.
  const grow = win - promised;
  if (grow < Math.min(rcvBuf >> 1, r.rcvMss)) win = promised > 0 ? promised : 0;
  const s = r.rcvWscale;
  let field = win >>> s;
  if (promised > 0 && field << s < promised) field = (promised + (1 << s) - 1) >>> s;
  if (field > 0xffff) field = 0xffff;
  const right = (r.rcvNxt + field * (1 << s)) | 0;
  if (seqGt(right, r.rcvAdvRight)) r.rcvAdvRight = right;
  return field;
}

/** A pure ACK now, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> (kept for the next flush if the sink is full). */
export function sendAck(c: TcpConnection, now: number): void {
  if (transmit(c, c.sndNxt, 0, now, false) < 0) {
    c.ackPending = true;
    c.stack.markDirty(c);
  }
}

/**
 * The pure ACK that answers only an unacceptable segment (challenge ACK, out-of-window,
 * duplicate or out-of-order data): private (TcpStack.beginPrivate), left out of /metrics.
 *
 * It settles none of the connection's public debts (review r/metrics F1): a delayed ACK owed
 * for legitimate data (lastAckSent, ackPending) is still sent when due, a window update is still
 * owed (windowField advertises only what was promised already for a private segment, rounded
 * down), and a D-SACK owed from before this segment stays owed and is not sent here (the
 * segment's own D-SACK goes in this ACK): each block is reported once.
 * If the sink is full it is dropped (a courtesy ACK; never kept and sent later as public).
 */
export function sendPrivateAck(c: TcpConnection, now: number): void {
  const st = c.stack;
  const lastAckSent = c.lastAckSent;
  const ackPending = c.ackPending;
  const txBlocked = st.txBlocked;
  // A D-SACK owed from before this segment is a public debt, reported once (RFC 2883 §4): it goes
  // in the public ACK that settles it, so it is left out of this one (review r/metrics2 R2-1).
  // Only a D-SACK this segment set (or changed) goes out here; the owed one is restored below.
  if (c.dsack && c.dsackIn && c.dsackStart === c.dsackInStart && c.dsackEnd === c.dsackInEnd) c.dsack = false;
  st.beginPrivate();
  try {
    transmit(c, c.sndNxt, 0, now, false);
  } finally {
    st.endPrivate();
    c.lastAckSent = lastAckSent;
    c.ackPending = ackPending;
    st.txBlocked = txBlocked;
    c.dsack = c.dsackIn;
    c.dsackStart = c.dsackInStart;
    c.dsackEnd = c.dsackInEnd;
  }
}

/** <SEQ=seq><ACK=RCV.NXT><CTL=RST,ACK>. */
export function sendRst(c: TcpConnection, seq: number): void {
  c.stack.sendControl(c.localIp, c.remoteIp, c.localPort, c.remotePort, seq, c.rcvNxt, TCP_RST | TCP_ACK);
}

/** Our SYN-ACK (passive or simultaneous open), with the options negotiated from the peer's SYN. */
export function sendSynAck(c: TcpConnection, now: number): void {
  const win = c.stack.opts.rcvBuf > 0xffff ? 0xffff : c.stack.opts.rcvBuf;
  sendSynSegment(c, now, TCP_SYN | TCP_ACK, c.rcvNxt, c.rcvWscaleSent, c.sackOk, c.tsOk, c.tsRecent, win);
  c.lastAckSent = c.rcvNxt;
  const right = seqAdd(c.rcvNxt, win);
  if (seqGt(right, c.rcvAdvRight) || c.rcvAdvRight === 0) c.rcvAdvRight = right;
}

/** Our SYN for an active open, offering every option we support. */
export function sendSyn(c: TcpConnection, now: number): void {
  const o = c.stack.opts;
  const wscale = o.windowScaling ? c.stack.rcvWscaleFor() : -1;
  sendSynSegment(c, now, TCP_SYN, 0, wscale, o.sack, o.timestamps, 0, o.rcvBuf > 0xffff ? 0xffff : o.rcvBuf);
}

function sendSynSegment(
  c: TcpConnection,
  now: number,
  flags: number,
  ack: number,
  wscale: number,
  sackOk: boolean,
  tsOk: boolean,
  tsEcr: number,
  win: number,
): void {
  const st = c.stack;
  const mss = st.ourMss(c.localIp);
  st.sendSynAck(c.localIp, c.remoteIp, c.localPort, c.remotePort, c.iss, ack, mss, wscale, sackOk, tsOk, c.tsNow(now), tsEcr, win, flags);
}

/**
 * The sending step of a flush, in a synchronized state: RFC 5681 §4.1's restart after idle,
 * then whatever loss recovery sends (retransmissions first, then new data and FIN).
 */
export function sendData(c: TcpConnection, now: number): void {
  if (c.sndMax === c.sndUna && now - c.lastSendAt > rtoCur(c) && c.cwnd > c.iw()) {
    c.cwnd = c.iw();
    c.cc.onIdle(c);
  }
  c.rec.send(now);
}

/**
 * Whether new data may go out as super-segments (GSO): the sink can take them and the
 * connection is in steady state. Retransmissions, probes and limited transmit stay one MSS.
 */
export function superOk(c: TcpConnection): boolean {
  return c.stack.sink.gso === true && c.rec.steady();
}

/**
 * The size of the next new-data segment: at most maxLen, what remains queued, the peer's window
 * (wndAvail) and the congestion room. 0 = wait: sender silly window avoidance (RFC 9293
 * §3.8.6.2.1, without Nagle) sends small segments only when they end the queued data or nothing
 * else is in flight.
 */
export function newSegmentLen(c: TcpConnection, maxLen: number, remaining: number, wndAvail: number, room: number, flight: number): number {
  const mss = c.sndMss;
  let len = maxLen;
  if (remaining < len) len = remaining;
  if (wndAvail < len) len = wndAvail;
  if (room < len) len = room;
  if (len < mss && len < remaining && flight > 0 && len < c.maxSndWnd >> 1) {
    if (room < mss) c.cwndLimited = true;
    return 0;
  }
  return len;
}

/** Counts a retransmission; Karn: an RTT measurement covering a retransmitted segment is ambiguous. */
export function noteRetransmit(c: TcpConnection, seq: number): void {
  c.stack.counters.retransmits++;
  if (c.rttActive && seqLt(seq, c.rttSeq)) c.rttActive = false;
}
