/**
 * Segment acceptance in the synchronized states and TIME_WAIT: the checks RFC 9293 §3.10.7.4
 * makes before a segment may touch the connection, shared by TcpConnection and
 * TimeWaitConnection:
 * - R1, PAWS (RFC 7323 §5.3): a segment with a TSval older than TS.Recent is an old duplicate,
 *   answered with a rate-limited ACK. The one exemption is Linux's "disordered ACK" rule
 *   (isDisorderedAck): a reordered duplicate ACK that changes nothing; TIME_WAIT has none.
 * - R2, the sequence test: the segment must overlap the receive window (zero window: only
 *   SEG.SEQ = RCV.NXT, whose ACK is still taken).
 * - RST (RFC 5961 §3.2): only SEG.SEQ = RCV.NXT resets; elsewhere in the window a challenge ACK.
 * - SYN (RFC 5961 §4.2): a challenge ACK, rate limited, whatever its sequence number or TSval
 *   (in SYN-RECEIVED: in the window the caller returns to LISTEN, outside it the caller checks for
 *   a retransmitted SYN).
 * - no ACK bit: dropped.
 * R3, TS.Recent, is taken by updateTsRecent once the caller has also accepted the ACK field, so
 * that a challenged or dropped segment cannot move it.
 *
 * The answers the RFCs require (the ACK for an unacceptable segment, challenge ACKs) are sent
 * here, rate limited per connection (TcpStack.takeOutOfWindowAck/takeChallengeAck).
 */
import type { TcpParsedOptions } from '../wire/tcp.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import { seqAdd, seqGeq, seqGt, seqLeq, seqLt } from './seq.js';
import type { TcpStack } from './stack.js';
import { SYN_RECEIVED, type Segment } from './types.js';

/** What the receiving side of either connection kind offers the checks. */
export interface SegmentReceiver {
  readonly stack: TcpStack;
  readonly state: number;
  readonly tsOk: boolean;
  tsRecent: number;
  /** When TS.Recent was last set (ms, the stack's clock): RFC 7323 §5.5's 24-day validity. */
  tsRecentAt: number;
  readonly rcvNxt: number;
  /** Right edge of the window we last advertised. */
  readonly rcvAdvRight: number;
  readonly lastAckSent: number;
  /** When an ACK for an invalid segment (out of window, or a challenge ACK) last went out. */
  lastOowAckAt: number;
  /**
   * <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> now, as a private frame (TcpStack.beginPrivate) that
   * settles no public debt of the connection (output.ts sendPrivateAck).
   */
  sendPrivateAck(now: number): void;
  /** Whether a segment failing PAWS is still taken as a reordered duplicate ACK (isDisorderedAck). */
  disorderedAck(g: Segment, tsVal: number): boolean;
  /** A segment dropped by PAWS: its part below RCV.NXT goes in a D-SACK block (dsack.ts; not in TIME_WAIT). */
  duplicateDropped?(seq: number, segLen: number): void;
}

/** What isDisorderedAck reads of the sending side. */
export interface DisorderedAckSender {
  readonly rcvNxt: number;
  readonly tsRecent: number;
  readonly sndUna: number;
  readonly sndWnd: number;
  readonly sndWl1: number;
  readonly sndWscale: number;
  readonly rto: number;
}

/**
 * The one exemption from PAWS (RFC 7323 §5.3 R1), Linux's tcp_disordered_ack: a pure ACK that
 * sits exactly at RCV.NXT, acknowledges nothing new (SEG.ACK = SND.UNA), would not change the
 * send window, and whose TSval is at most one RTO older than TS.Recent: a duplicate ACK that was
 * merely reordered behind a newer one. Anything else older than TS.Recent is an old duplicate:
 * taken, its ACK could drop unacknowledged data from the send queue or close the send window.
 */
export function isDisorderedAck(c: DisorderedAckSender, g: Segment, tsVal: number): boolean {
  return (
    (g.flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK)) === TCP_ACK &&
    g.dataLen === 0 &&
    g.seq === c.rcvNxt &&
    g.ack === c.sndUna &&
    !seqGt(g.seq, c.sndWl1) &&
    g.wnd << c.sndWscale === c.sndWnd &&
    ((c.tsRecent - tsVal) | 0) <= c.rto
  );
}

/** TSval ticks below TS.Recent that PAWS still lets pass, as Linux's TCP_PAWS_WINDOW: segments
 *  sent within the same clock tick may be reordered without being old duplicates. */
const PAWS_WINDOW = 1;

/**
 * RFC 7323 §5.5: TS.Recent not updated for 24 days is invalid (the peer's TSval may have moved by
 * more than 2^31 ticks at 1 kHz), and PAWS does not reject against it (Linux TCP_PAWS_24DAYS).
 */
export const PAWS_IDLE_MS = 24 * 86400 * 1000;

/** Whether TS.Recent is still valid at `now` (set within the last 24 days). */
function tsRecentValid(r: SegmentReceiver, now: number): boolean {
  return now - r.tsRecentAt < PAWS_IDLE_MS;
}

/** Passed every check: process the ACK, the text and the FIN. */
export const SEG_ACCEPT = 0;
/** Zero window and SEG.SEQ = RCV.NXT: process the ACK (and owe an ACK), not the text or FIN. */
export const SEG_ACCEPT_ACK_ONLY = 1;
/** Dropped here (counted, and answered where the RFCs say so). */
export const SEG_DROP = 2;
/** Fails the sequence test; not yet answered: the caller may act, then calls rejectOutOfWindow. */
export const SEG_OUT_OF_WINDOW = 3;
/** RST with SEG.SEQ = RCV.NXT: the caller resets the connection (TIME_WAIT ignores it, RFC 1337). */
export const SEG_RESET = 4;
/** A SYN inside the window in SYN-RECEIVED: the caller returns to LISTEN. */
export const SEG_SYN_IN_SYN_RECEIVED = 5;

/** SEG.LEN: the data, plus one for each of SYN and FIN. */
export function segmentLength(g: Segment): number {
  return g.dataLen + ((g.flags & TCP_SYN) !== 0 ? 1 : 0) + ((g.flags & TCP_FIN) !== 0 ? 1 : 0);
}

/** The checks of RFC 9293 §3.10.7.4 up to the ACK field; one of the SEG_* verdicts. */
export function acceptSegment(r: SegmentReceiver, g: Segment, segLen: number, now: number): number {
  const st = r.stack;
  const opt = st.opt;
  const flags = g.flags;
  if (r.tsOk && opt.hasTs && (flags & TCP_RST) === 0 && ((r.tsRecent - opt.tsVal) | 0) > PAWS_WINDOW && tsRecentValid(r, now) && !r.disorderedAck(g, opt.tsVal)) {
    if ((flags & TCP_SYN) !== 0 && r.state !== SYN_RECEIVED) return synChallenge(r, now);
    st.err('paws');
    r.duplicateDropped?.(g.seq, segLen);
    outOfWindowAck(r, now, segLen);
    return SEG_DROP;
  }
  const rcvNxt = r.rcvNxt;
  let wnd = (r.rcvAdvRight - rcvNxt) | 0;
  if (wnd < 0) wnd = 0;
  const seq = g.seq;
  let ok: boolean;
  if (segLen === 0) {
    ok = wnd === 0 ? seq === rcvNxt : seqGeq(seq, rcvNxt) && seqLt(seq, seqAdd(rcvNxt, wnd));
  } else if (wnd === 0) {
    ok = false;
  } else {
    const last = (seq + segLen - 1) | 0;
    const right = seqAdd(rcvNxt, wnd);
    ok = (seqGeq(seq, rcvNxt) && seqLt(seq, right)) || (seqGeq(last, rcvNxt) && seqLt(last, right));
  }
  let verdict = SEG_ACCEPT;
  if (!ok) {
    if (wnd === 0 && seq === rcvNxt && (flags & (TCP_SYN | TCP_RST)) === 0) {
      verdict = SEG_ACCEPT_ACK_ONLY;
    } else if ((flags & TCP_RST) !== 0) {
      st.err('rst-out-of-window');
      return SEG_DROP;
    } else if ((flags & TCP_SYN) !== 0 && r.state !== SYN_RECEIVED) {
      return synChallenge(r, now); // RFC 5961 §4.2: "regardless of the sequence number"
    } else return SEG_OUT_OF_WINDOW;
  }
  if ((flags & TCP_RST) !== 0) {
    if (seq === rcvNxt) return SEG_RESET;
    st.err('rst-challenge');
    challengeAck(r, now);
    return SEG_DROP;
  }
  if ((flags & TCP_SYN) !== 0) {
    if (r.state === SYN_RECEIVED) return SEG_SYN_IN_SYN_RECEIVED;
    return synChallenge(r, now);
  }
  if ((flags & TCP_ACK) === 0) {
    st.err('no-ack');
    return SEG_DROP;
  }
  return verdict;
}

/** Drops a segment that failed the sequence test, with the ACK RFC 9293 asks for (rate limited). */
export function rejectOutOfWindow(r: SegmentReceiver, segLen: number, now: number): void {
  r.stack.err('out-of-window');
  outOfWindowAck(r, now, segLen);
}

/**
 * RFC 7323 §5.3 R3 (after R1 and R2, and after the ACK field was found acceptable) and §4.3:
 * an accepted segment that covers Last.ACK.sent sets TS.Recent (also an older TSval once
 * TS.Recent is invalid, §5.5).
 */
export function updateTsRecent(r: SegmentReceiver, seq: number, opt: TcpParsedOptions, now: number): void {
  if (r.tsOk && opt.hasTs && seqLeq(seq, r.lastAckSent) && (seqGeq(opt.tsVal, r.tsRecent) || !tsRecentValid(r, now))) {
    r.tsRecent = opt.tsVal;
    r.tsRecentAt = now;
  }
}

function outOfWindowAck(r: SegmentReceiver, now: number, segLen: number): void {
  if (r.stack.takeOutOfWindowAck(r, now, segLen)) privateAck(r, now);
}

/**
 * A SYN in a synchronized state or TIME_WAIT, in the window or not, PAWS-failing or not: a
 * challenge ACK under the per-connection limit (Linux's syn_challenge). The ACK owed for an
 * unacceptable segment with data is not limited, but a SYN is no such segment: unlimited, one
 * spoofed SYN per ACK would make us a reflector (Linux's tcp_oow_rate_limited exempts only data
 * without SYN).
 */
function synChallenge(r: SegmentReceiver, now: number): number {
  r.stack.err('syn-challenge');
  challengeAck(r, now);
  return SEG_DROP;
}

function challengeAck(r: SegmentReceiver, now: number): void {
  if (r.stack.takeChallengeAck(r, now)) privateAck(r, now);
}

/** The answers above are private (TcpStack.beginPrivate): /metrics leaves them out of its TX series. */
function privateAck(r: SegmentReceiver, now: number): void {
  r.sendPrivateAck(now);
}
