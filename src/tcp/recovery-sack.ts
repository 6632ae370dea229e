/**
 * Loss recovery on SACK connections, as modern stacks do it: every outstanding segment is kept
 * in a SentLog with its last send time; RACK (RFC 8985 §6) deems a segment lost once a segment
 * sent after it was delivered and a reordering window has passed (this also finds lost
 * retransmissions, which RFC 6675 alone leaves to the RTO); a Tail Loss Probe (RFC 8985 §7)
 * replaces the RTO for losses at the end of a flight; the pipe is RFC 6675's (outstanding −
 * SACKed − lost + retransmitted), cwnd during recovery follows PRR (RFC 6937), and one rescue
 * retransmission (RFC 6675 §5) covers the tail during recovery. After an RTO every unSACKed
 * segment is deemed lost and resent in order under slow start, with RACK still active.
 *
 * Recoveries that prove spurious are undone (spurious.ts): every retransmission of the episode
 * reported back as a duplicate (D-SACK, RFC 3708), the first ACK after a retransmission echoing
 * the original's timestamp (Eifel, RFC 3522), or after an RTO data acknowledged that was never
 * retransmitted (F-RTO, RFC 5682); the response is RFC 4015's.
 */
import type { TcpParsedOptions } from '../wire/tcp.js';
import type { TcpConnection } from './connection.js';
import { dataEnd, newSegmentLen, noteRetransmit, superOk, SUPER_SEGMENT_MAX, transmit } from './output.js';
import type { LossRecovery } from './recovery.js';
import { RackScan } from './rack.js';
import { Scoreboard } from './scoreboard.js';
import { CA_LOSS, CA_OPEN, CA_RECOVERY, DeliveryRate } from './delivery-rate.js';
import { R_APP_LIMITED, R_EVER_RETRANS, R_LOST, R_RETRANS, R_SACKED, SentLog } from './sent-log.js';
import { seqAdd, seqGeq, seqGt, seqLeq, seqLt } from './seq.js';
import { rtoCur } from './rtt.js';
import { FRTO_SEND_NEW, FRTO_SPURIOUS, isDsack, SpuriousDetectors } from './spurious.js';
import { armRto, startPersist } from './timers.js';
import { CLOSE_WAIT, CLOSING, ESTABLISHED, FIN_WAIT_1, LAST_ACK, type Segment } from './types.js';

/** RFC 8985 §7.2: added to 2·SRTT for the probe timeout (Linux's TCP_TIMEOUT_MIN_US, 2 ms). */
const TLP_EXTRA_MS = 2;
/** Allowance for the peer's delayed ACK when a single segment is outstanding (Linux's minimum ATO). */
const TLP_DELACK_MS = 40;
/**
 * The pacer's credit (ms): a paced send may go up to this long "early" against the schedule, so
 * a wakeup that comes late does not cost the rate. The stack's clock is fractional ms (the
 * dataplane's performance.now(), read once per RX vector) and its timer heap keeps fractional
 * deadlines, but what wakes a waiting connection is the TCP host's one setTimeout for the
 * earliest deadline (dataplane/tcp-host.ts): Node fires it ≥ 1 ms after it is armed (libuv's
 * loop clock is in whole ms; in interrupt mode the loop sleeps in epoll until then or until a
 * frame arrives), where Linux's pacer has a high-resolution timer. Arriving ACKs wake it too.
 * A loaded loop turns less often than that: the credit is the time since this connection's last
 * send opportunity (its previous send() call), at least PACE_CREDIT_MS and at most
 * PACE_CREDIT_MAX_MS, applied once per send() call, so a loop that turns every w ms still sends
 * w ms of data per turn (with a fixed 2 ms credit, turns ≥ 3 ms apart sent below the pacing rate,
 * not app-limited, and BtlBw ratcheted down each gain cycle). A burst is at most the credit's
 * data plus one quantum (bbr.ts: ~1 ms of data, ≥ 2 segments, ≤ 64 KB); sending again with
 * nothing in flight (an idle restart) gets PACE_CREDIT_MS only.
 */
export const PACE_CREDIT_MS = 2;
/** The most the pacer's credit grows to when the event loop turns slowly (ms). */
export const PACE_CREDIT_MAX_MS = 10;
/** IPv4 and TCP headers of a segment, without options (what the pacer charges per segment besides the payload). */
const SEGMENT_HEADERS = 40;
/** IPv6 and TCP headers of a segment, without options. */
const SEGMENT_HEADERS_6 = 60;

export class SackRecovery implements LossRecovery {
  readonly log = new SentLog();
  /** What the peer reported as received above SND.UNA (RFC 6675 §3). */
  readonly sb = new Scoreboard();
  inRecovery = false;
  /** After an RTO, until SND.UNA reaches `recover` (Linux's "Loss" state). */
  inLoss = false;
  /** SND.MAX when recovery (or the loss state) began. */
  private recover = 0;
  /** Retransmit the first lost segment at once, whatever the pipe (RFC 6675 §5 step 4.3). */
  private forceRxt = false;
  // RFC 6675 pipe accounting (bytes).
  private sackedBytes = 0;
  private sackedSegs = 0;
  /** Bytes of records deemed lost and not retransmitted since. */
  private lostBytes = 0;
  /** No lost, not yet retransmitted record below this record number. */
  private rxtHint = 0;
  /** Highest sequence number SACKed or cumulatively ACKed (for reordering detection). */
  private fack = 0;
  /** fack as it was before the ACK being processed (reordering is judged against it, as Linux). */
  private fackBefore = 0;
  /** Bytes newly delivered (cumulatively ACKed or SACKed) by the segment being processed. */
  private delivered = 0;
  /** Records RACK deemed lost while processing the current ACK/timer. */
  private newlyLost = 0;
  // RACK (RFC 8985 §6): the most recently sent segment known delivered, and its RTT.
  private rackXmit = -Infinity;
  private rackOrder = -1;
  private rackRtt = 0;
  /**
   * RACK.min_RTT (RFC 8985 §6.2 step 4) from the send log's times: the clock's resolution (µs),
   * where the connection's RTT estimate comes from timestamps in whole milliseconds.
   */
  private minRttFine = Infinity;
  /** RFC 8985 §6.2 step 4: RACK.reo_wnd_mult, raised by D-SACKs, back to 1 after 16 recoveries. */
  private reoWndMult = 1;
  /** No further raise of reoWndMult until SND.UNA passes this (one per round trip). */
  private reoWndRound = 0;
  private reoWndPersist = 0;
  /** Transmissions so far (orders the records' sends). */
  private xmits = 0;
  reorderSeen = false;
  /** A probe is out: no other one until an ACK advances SND.UNA past tlpEnd. */
  private tlpOut = false;
  private tlpEnd = 0;
  // PRR (RFC 6937).
  private prrDelivered = 0;
  private prrOut = 0;
  private recoverFs = 0;
  private rescueDone = false;
  /** RACK's incremental loss scan (rack.ts), made at the first retransmission or SACK. */
  private rack: RackScan | null = null;
  /** Detectors of spurious retransmissions (spurious.ts), made at the first recovery. */
  private spur: SpuriousDetectors | null = null;
  /** The current recovery/RTO episode can still be undone (the controller holds a snapshot). */
  private undoOpen = false;
  /** F-RTO step 2b (RFC 5682): new segments to send before any further retransmission. */
  private frtoNew = 0;
  /** The ACK being processed delivered (cumulatively or by SACK) a segment never retransmitted. */
  private origDelivered = false;
  /** The ACK being processed carried new SACK information. */
  private newSack = false;
  /** Bytes deemed lost while processing the current ACK (the rate sample's losses). */
  private newlyLostBytes = 0;
  /** Delivery-rate estimation and the rate sample, for a model-based controller (bbr); null otherwise. */
  readonly rate: DeliveryRate | null = null;
  /** The pacer: when send() last ran (its credit is the time since, see send()). */
  private paceLastCall = 0;
  /**
   * The pacer held the last send() (a deadline not yet reached): only then may the next one make up
   * for a late wakeup with more than the 2 ms credit. A connection that stopped because the
   * application had nothing more (or cwnd was full) earns no credit for the time it waited, or one
   * byte in flight would let it bank 10 ms and send them at once (review r/bbr2 B1).
   */
  private paceHeld = false;
  /** The pacer: what one segment costs on the wire besides its payload (IP and TCP headers, timestamps). */
  private readonly segHeaders: number;

  constructor(private readonly c: TcpConnection) {
    this.recover = c.sndUna;
    this.fack = this.fackBefore = c.sndUna;
    this.reoWndRound = c.sndUna;
    // An IPv6 peer's address is a handle in 240.0.0.0/4 (dataplane/ip6-peers.ts).
    this.segHeaders = (c.remoteIp >>> 28 === 0xf ? SEGMENT_HEADERS_6 : SEGMENT_HEADERS) + (c.tsOk ? 12 : 0);
    // Created at ESTABLISHED: the first send's credit counts from here (not from time 0).
    this.paceLastCall = c.stack.now;
    if (c.cc.modelBased) {
      this.rate = new DeliveryRate();
      this.log.enableRate();
      c.cc.init?.(c, c.stack.now);
    }
  }

  steady(): boolean {
    return !this.inRecovery && !this.inLoss;
  }

  // ---------------------------------------------------------------- sending

  /** RFC 6675 pipe: outstanding − SACKed − lost (a retransmitted lost segment counts again). */
  private pipe(): number {
    const c = this.c;
    return ((c.sndMax - c.sndUna) | 0) - this.sackedBytes - this.lostBytes;
  }

  send(now: number): void {
    const c = this.c;
    const st = c.stack;
    const mss = c.sndMss;
    const log = this.log;
    const rate = this.rate;
    const paced = rate !== null && c.cc.pacingRate > 0;
    if (paced) {
      // The pacer's credit (see PACE_CREDIT_MS): the time since the previous send opportunity,
      // within [PACE_CREDIT_MS, PACE_CREDIT_MAX_MS]; PACE_CREDIT_MS on a restart from idle.
      const lag = now - this.paceLastCall;
      this.paceLastCall = now;
      let credit = PACE_CREDIT_MS;
      if (lag > credit && this.paceHeld && c.sndMax !== c.sndUna) credit = lag < PACE_CREDIT_MAX_MS ? lag : PACE_CREDIT_MAX_MS;
      if (rate.paceNext < now - credit) rate.paceNext = now - credit;
      this.paceHeld = false;
    }
    let sent = false;
    if (this.forceRxt) {
      // RFC 6675 §5 step (4.3): the first lost segment goes out at once, whatever the pipe.
      const k = this.nextLost();
      if (k !== -1) {
        if (this.retransmitRecord(k, now) < 0) {
          st.markDirty(c);
          return;
        }
        sent = true;
      }
      this.forceRxt = false;
    }
    for (;;) {
      const room = c.cwnd - this.pipe();
      const wndEnd = seqAdd(c.sndUna, c.sndWnd);
      // 1. Retransmit what is deemed lost, in sequence order (RFC 6675 NextSeg rule 1), unless
      // F-RTO wants new data first (RFC 5682 step 2b).
      const k = this.frtoNew > 0 ? -1 : this.nextLost();
      if (k !== -1) {
        if (room < log.len(k) && room < mss) {
          c.cwndLimited = true;
          break;
        }
        // Beyond the peer's window only the segment at SND.UNA (it doubles as a window probe).
        if (log.start(k) !== c.sndUna && !seqLt(log.start(k), wndEnd)) break;
        if (paced && !this.paceOk(now)) { this.paceHeld = true; break; }
        const r = this.retransmitRecord(k, now);
        if (r < 0) break;
        if (paced) this.paced(r);
        sent = true;
        continue;
      }
      // 2. New data (rule 2).
      const remaining = (dataEnd(c) - c.sndMax) | 0;
      const flight = (c.sndMax - c.sndUna) | 0;
      let n: number;
      if (remaining > 0) {
        const wndAvail = (wndEnd - c.sndMax) | 0;
        if (wndAvail <= 0) {
          if (c.sndWnd === 0 && flight === 0 && !c.persisting) startPersist(c, now);
          else if (this.rescue(now, room)) sent = true;
          break;
        }
        if (room <= 0) {
          c.cwndLimited = true;
          break;
        }
        const big = superOk(c);
        let max = big ? SUPER_SEGMENT_MAX : mss;
        if (paced) {
          // One burst is at most the controller's quantum (~1 ms at the pacing rate).
          const q = c.cc.quantum;
          if (q < max) max = q > mss ? q : mss;
        }
        let len = newSegmentLen(c, max, remaining, wndAvail, room, flight);
        if (len === 0) {
          // Less than a segment queued and room for more: the application is what limits.
          if (rate !== null && remaining < mss && room >= mss) rate.markAppLimited(this.pipe());
          break;
        }
        if (paced && !this.paceOk(now)) { this.paceHeld = true; break; }
        // Sending again from an empty pipe after the application paused (Linux's CA_EVENT_TX_START).
        if (rate !== null && flight === 0 && rate.appLimited !== 0) c.cc.onIdle(c, now);
        if (this.frtoNew > 0) {
          if (len > mss) len = mss;
          this.frtoNew--;
        }
        n = transmit(c, c.sndMax, len, now, true, big && len > mss);
        if (paced && n > 0) this.paced(n);
      } else if (c.finQueued && c.sndMax === c.finSeq) {
        if (room <= 0 && flight > 0) {
          c.cwndLimited = true;
          break;
        }
        n = transmit(c, c.sndMax, 0, now, true);
      } else {
        c.cwndLimited = false; // application-limited
        if (rate !== null && this.pipe() < c.cwnd) rate.markAppLimited(this.pipe());
        this.frtoNew = 0;
        if (this.rescue(now, room)) sent = true;
        break;
      }
      if (n < 0) break;
      this.sentNew(n, now);
      sent = true;
    }
    if (sent && c.sndMax !== c.sndUna) {
      armRto(c, now);
      this.armProbe(now);
    }
    if (st.txBlocked) st.markDirty(c);
  }

  /**
   * The pacer (model-based controllers): true when a send may go now; otherwise the pacer's
   * timer is armed for the deadline and the caller stops.
   */
  private paceOk(now: number): boolean {
    const c = this.c;
    const r = this.rate!;
    let next = r.paceNext;
    const pr = c.cc.pacingRate;
    if (next <= now || pr <= 0) return true;
    // The schedule was made at the rate of the last send; the wait is at most ~2 quanta at the
    // current rate (a rate that rose meanwhile, e.g. from a first guess off a bad handshake RTT,
    // shortens it).
    const most = now + (2 * c.cc.quantum) / pr;
    if (next > most) {
      next = r.paceNext = most;
    }
    if (c.paceAt !== next) {
      c.paceAt = next;
      c.stack.timerUpdate(c);
      c.stack.counters.pacerWaits++;
    }
    return false;
  }

  /**
   * n bytes of sequence space were just sent: the next send waits their size on the wire over the
   * rate, from the schedule (send() keeps it at most the credit behind now). Unlike Linux, the
   * first 10 segments are paced too (tcp-bbr.test.ts: the initial window does not go out at once).
   * On the wire, as Linux's pacer
   * (which charges skb->len, headers included, at a rate computed from payload bytes): each
   * segment costs its IP and TCP headers too, a margin of ~3.5% below BtlBw on top of the 1%
   * the controller leaves; pacing payload alone at 0.99·BtlBw kept a standing queue at the
   * bottleneck (the bottleneck e2e test).
   */
  private paced(n: number): void {
    const c = this.c;
    const rate = c.cc.pacingRate;
    if (rate <= 0 || n <= 0) return;
    this.rate!.paceNext += (n + Math.ceil(n / c.sndMss) * this.segHeaders) / rate;
  }

  /** The first record deemed lost and not retransmitted since, or -1. */
  private nextLost(): number {
    if (this.lostBytes <= 0) return -1;
    const log = this.log;
    let k = this.rxtHint < log.lo ? log.lo : this.rxtHint;
    while (k < log.hi && (log.flags(k) & R_LOST) === 0) k++;
    this.rxtHint = k;
    return k < log.hi ? k : -1;
  }

  /** Sends record k again; returns the sequence space sent or -1 (no TX room). */
  private retransmitRecord(k: number, now: number): number {
    const c = this.c;
    const log = this.log;
    const s = log.start(k);
    let len = log.len(k);
    const fin = c.finQueued && log.end(k) === seqAdd(c.finSeq, 1);
    const n = transmit(c, s, fin ? len - 1 : len, now, true);
    if (n < 0) return -1;
    if (n === 0) return 0;
    if (n < len) {
      log.split(k, seqAdd(s, n)); // the sink's room shrank: keep records as sent
      len = n;
    }
    const f = log.flags(k);
    if ((f & R_LOST) !== 0) this.lostBytes -= len;
    log.setFlags(k, (f & ~R_LOST) | R_RETRANS | R_EVER_RETRANS);
    log.setSent(k, now, ++this.xmits);
    if (this.rate !== null) this.rate.onSent(log, k, now, (c.sndMax - c.sndUna) | 0);
    (this.rack ??= new RackScan()).onRetransmit(s, this.xmits);
    noteRetransmit(c, s);
    if (this.undoOpen) {
      const sp = this.spur!;
      sp.dsack.onRetransmit();
      if (c.tsOk) sp.eifel.onRetransmit(c.tsNow(now));
    }
    if (this.inRecovery) this.prrOut += len;
    c.lastSendAt = now;
    return n;
  }

  /**
   * Records n bytes of sequence space just sent for the first time at SND.MAX: one record per
   * wire segment (a super-segment's pieces are separate records with one send time), so that
   * SACK, RACK and retransmissions keep working per MSS.
   */
  private sentNew(n: number, now: number): void {
    const c = this.c;
    const seq = c.sndMax;
    const e = seqAdd(seq, n);
    const piece = c.lastPiece;
    const rate = this.rate;
    const log = this.log;
    let flight = (seq - c.sndUna) | 0;
    let s = seq;
    if (piece > 0) {
      while (((e - s) | 0) > piece) {
        const next = seqAdd(s, piece);
        log.push(s, next, now, ++this.xmits);
        if (rate !== null) rate.onSent(log, log.hi - 1, now, flight);
        flight += piece;
        s = next;
      }
    }
    log.push(s, e, now, ++this.xmits);
    if (rate !== null) rate.onSent(log, log.hi - 1, now, flight);
    c.sndMax = c.sndNxt = e;
    if (this.inRecovery) this.prrOut += n;
    c.lastSendAt = now;
  }

  sentOutside(start: number, end: number, now: number): void {
    this.log.push(start, end, now, ++this.xmits);
    if (this.rate !== null) this.rate.onSent(this.log, this.log.hi - 1, now, (start - this.c.sndUna) | 0);
  }

  /**
   * RFC 6675 §5 (C): once per recovery, when nothing else may be sent, retransmit the highest
   * unSACKed segment so that a loss at the tail of the flight does not wait for the RTO.
   */
  private rescue(now: number, room: number): boolean {
    if (!this.inRecovery || this.rescueDone || room < this.c.sndMss) return false;
    const log = this.log;
    let k = log.hi - 1;
    while (k >= log.lo && (log.flags(k) & R_SACKED) !== 0) k--;
    if (k < log.lo || (log.flags(k) & (R_RETRANS | R_LOST)) !== 0) return false;
    if (this.retransmitRecord(k, now) <= 0) return false;
    this.rescueDone = true;
    this.c.stack.counters.rescueRetransmits++;
    return true;
  }

  // ---------------------------------------------------------------- ACKs

  onAckArrived(opt: TcpParsedOptions, ack: number, now: number): boolean {
    const c = this.c;
    this.delivered = 0;
    this.origDelivered = false;
    this.fackBefore = this.fack;
    if (this.rate !== null) this.rate.begin(this.pipe());
    let newSack = false;
    if (opt.sackCount > 0 && isDsack(ack, opt.sack, opt.sackCount)) this.onDsack(opt.sack[0], opt.sack[1]);
    // SACK blocks (RFC 2018): only those above the cumulative ACK and within what was sent.
    for (let i = 0; i < opt.sackCount; i++) {
      let s = opt.sack[2 * i];
      const e = opt.sack[2 * i + 1];
      if (!seqLt(s, e) || seqLeq(e, ack) || seqGt(e, c.sndMax)) continue; // D-SACK or bogus
      if (seqLt(s, ack)) s = ack;
      if (this.sb.add(s, e)) {
        newSack = true;
        this.sackRecords(s, e, now);
      }
    }
    // The cumulative part, before the connection's RTT sample (RACK's check of retransmitted
    // records compares with the minimum RTT as it was before this ACK).
    if (seqGt(ack, c.sndUna)) this.ackRecords(ack, now);
    this.newSack = newSack;
    return newSack;
  }

  onUnaAdvanced(ack: number, acked: number, flightBefore: number, now: number): void {
    const c = this.c;
    const opt = c.stack.opt;
    const frto = this.inLoss && this.spur !== null && this.spur.frto.active; // (this ACK may end the loss state)
    // RFC 3522: the first ACK of new data after a retransmission echoes the original's timestamp.
    if (this.undoOpen && c.tsOk && opt.hasTs && this.spur!.eifel.waiting && this.spur!.eifel.onAck(opt.tsEcr)) {
      c.stack.counters.undoEifel++;
      this.undoSpurious(this.inLoss, acked);
    }
    this.sb.trim(ack);
    if (this.tlpOut && seqGeq(ack, this.tlpEnd)) this.tlpOut = false;
    if (this.inRecovery) {
      // Full acknowledgment: leave recovery (RFC 6675 §5, RFC 6937). Before it, RACK finds the
      // remaining losses and PRR sets cwnd (lossDetect).
      if (seqGeq(ack, this.recover)) {
        this.inRecovery = false;
        if (this.rate === null) c.cwnd = c.ssthresh; // (a model-based controller restores its own)
      }
    } else if (this.rate === null) {
      // Count what this ACK newly delivered (bytes SACKed earlier were counted then).
      c.cc.onAck(c, this.delivered, flightBefore, now);
    }
    if (this.inLoss && seqGeq(ack, this.recover)) this.inLoss = false;
    if (frto) this.frtoAck(ack, true, this.newSack, acked);
    this.lossDetect(now, true);
  }

  onDuplicateAck(_g: Segment, newSack: boolean, _sameWindow: boolean, now: number): void {
    if (this.inLoss && this.spur !== null && this.spur.frto.active) this.frtoAck(this.c.sndUna, false, true, 0);
    if (newSack) this.lossDetect(now, true);
  }

  /** Marks the records inside a new SACK block [s, e) (only whole records: they were sent whole). */
  private sackRecords(s: number, e: number, now: number): void {
    const log = this.log;
    for (let k = log.firstEndingAfter(s); k < log.hi; k++) {
      if (!seqLt(log.start(k), e)) break;
      if (seqGeq(log.start(k), s) && seqLeq(log.end(k), e)) this.delivered += this.markSacked(k, now);
    }
  }

  /** Drops the records the cumulative ACK covers, updating RACK and the pipe counters. */
  private ackRecords(ack: number, now: number): void {
    const log = this.log;
    while (log.count > 0 && seqLeq(log.end(log.lo), ack)) {
      const k = log.lo;
      const f = log.flags(k);
      const len = log.len(k);
      if ((f & R_SACKED) !== 0) {
        this.sackedBytes -= len;
        this.sackedSegs--;
      } else {
        if ((f & R_LOST) !== 0) this.lostBytes -= len;
        if (this.rate !== null) this.rate.onDelivered(log, k, len, now);
        if ((f & R_EVER_RETRANS) === 0) {
          this.origDelivered = true;
          // RFC 8985 §6.2 step 3 (Linux tcp_clean_rtx_queue): a segment sent once that the
          // cumulative ACK delivers below what an earlier ACK had SACKed was reordered.
          if (seqLt(log.end(k), this.fackBefore)) this.reorderSeen = true;
        }
        this.delivered += len;
        this.rackUpdate(k, now);
      }
      log.shift();
    }
    if (log.count > 0 && seqLt(log.start(log.lo), ack)) {
      // Part of a record: keep the counters in step with its new length.
      const k = log.lo;
      const f = log.flags(k);
      const part = (ack - log.start(k)) | 0;
      if ((f & R_SACKED) !== 0) this.sackedBytes -= part;
      else {
        if ((f & R_LOST) !== 0) this.lostBytes -= part;
        this.delivered += part;
        if (this.rate !== null) this.rate.onDeliveredPart(part, now);
      }
      log.trimFront(ack);
    }
    if (seqGt(ack, this.fack)) this.fack = ack;
    if (log.count === 0) {
      this.sackedBytes = this.sackedSegs = this.lostBytes = 0;
      if (this.c.reoAt !== Infinity) this.c.reoAt = Infinity;
      this.rack?.clear();
    }
  }

  /** Marks record k SACKed; returns its length if newly so (0 otherwise). */
  private markSacked(k: number, now: number): number {
    const log = this.log;
    const f = log.flags(k);
    if ((f & R_SACKED) !== 0) return 0;
    const len = log.len(k);
    if ((f & R_LOST) !== 0) this.lostBytes -= len;
    if (this.rate !== null) this.rate.onDelivered(log, k, len, now);
    log.setFlags(k, (f & R_EVER_RETRANS) | R_SACKED);
    // For F-RTO only what was sent before the timeout counts (new data SACKed says the loss was real).
    if ((f & R_EVER_RETRANS) === 0 && (this.spur === null || seqLeq(log.end(k), this.spur.frto.recoveryPoint))) this.origDelivered = true;
    this.sackedBytes += len;
    this.sackedSegs++;
    const e = log.end(k);
    // RFC 8985 §6.2 step 3: a segment sent once, SACKed below what an earlier ACK reported, was
    // reordered. Against fack before this ACK: one ACK's blocks (newest first) and the ones a lost
    // ACK carried are not a reordering, they arrive together.
    if ((f & R_EVER_RETRANS) === 0 && seqLt(e, this.fackBefore)) this.reorderSeen = true;
    if (seqGt(e, this.fack)) this.fack = e;
    this.rackUpdate(k, now);
    return len;
  }

  private markLost(k: number, count = true): void {
    const log = this.log;
    const f = log.flags(k);
    if ((f & (R_SACKED | R_LOST)) !== 0) return;
    if (count && (f & R_RETRANS) !== 0) this.c.stack.counters.lostRetransmits++;
    log.setFlags(k, (f & (R_EVER_RETRANS | R_APP_LIMITED)) | R_LOST);
    this.lostBytes += log.len(k);
    this.newlyLostBytes += log.len(k);
    if (k < this.rxtHint) this.rxtHint = k;
  }

  // ---------------------------------------------------------------- RACK (RFC 8985 §6) and PRR

  /** RFC 8985 §6.2 step 2: remember the most recently sent segment that was delivered. */
  private rackUpdate(k: number, now: number): void {
    const c = this.c;
    const log = this.log;
    const t = log.time(k);
    const rtt = now - t;
    if ((log.flags(k) & R_EVER_RETRANS) !== 0) {
      // Possibly the original transmission that was delivered: not a sample for this send time.
      if (rtt < (this.minRttFine !== Infinity ? this.minRttFine : c.minRtt)) return;
      const opt = c.stack.opt;
      if (c.tsOk && opt.hasTs && opt.tsEcr !== 0 && seqLt(opt.tsEcr, c.tsNow(t))) return;
    } else {
      if (rtt < c.minRtt) c.minRtt = rtt;
      if (rtt < this.minRttFine) this.minRttFine = rtt;
    }
    const o = log.order(k);
    if (o > this.rackOrder) {
      this.rackOrder = o;
      this.rackXmit = t;
      this.rackRtt = rtt;
    }
  }

  /**
   * RFC 8985 §6.2 step 4: the reordering window. Zero while no reordering was seen and we are
   * already recovering or DupThresh segments are SACKed; otherwise reo_wnd_mult · min_RTT/4,
   * bounded by SRTT (as Linux). min_RTT is measured from the send log (µs resolution), so the
   * window is as small as the path's: on a LAN path of 50 µs it is ~12 µs, not the 1 ms floor
   * this had while min_RTT came from whole-millisecond timestamps (each loss then waited for the
   * reordering timer, ≥ 1 ms with Node's timers, instead of being found by the next ACK).
   * Without a fine sample yet, the whole-millisecond estimate with a 1 ms floor.
   * The SRTT bound is at least min_RTT (RFC 8985 §6.2 step 4 takes both in the same clock): with
   * timestamps SRTT is averaged from whole-millisecond samples and decays to ~0 below 1 ms, which
   * made every reordering on a LAN a spurious retransmission.
   */
  private reoWnd(): number {
    const c = this.c;
    if (!this.reorderSeen && (this.inRecovery || this.inLoss || this.sackedSegs >= 3)) return 0;
    const fine = this.minRttFine !== Infinity;
    let w = (this.reoWndMult * (fine ? this.minRttFine : c.minRtt === Infinity ? 4 : c.minRtt)) / 4;
    let bound = c.hasRtt && c.srtt > 0 ? c.srtt : Infinity;
    if (fine && bound < this.minRttFine) bound = this.minRttFine;
    if (w > bound) w = bound;
    return fine || w >= 1 ? w : 1;
  }

  /**
   * RFC 8985 §6.2 step 5: mark lost what was sent before the RACK segment, long enough ago. The
   * scan (rack.ts) visits only the candidates, in send order, not every outstanding segment.
   */
  private rackDetect(now: number): void {
    if (this.rackXmit === -Infinity) return;
    const c = this.c;
    const log = this.log;
    const ro = this.rackOrder;
    const span = this.rackRtt + this.reoWnd();
    const scan = (this.rack ??= new RackScan());
    scan.begin();
    for (let k = scan.next(log, ro, span, now); k >= 0; k = scan.next(log, ro, span, now)) {
      this.markLost(k);
      this.newlyLost++;
      c.stack.counters.rackLost++;
    }
    const at = scan.dueAt;
    if (at !== c.reoAt) {
      c.reoAt = at;
      if (at !== Infinity) c.stack.timerUpdate(c);
    }
  }

  /**
   * After an ACK (or the reordering timer): RACK loss detection, entering fast recovery, and
   * PRR's cwnd for this ACK (RFC 6937 §3, with SSRB).
   */
  private lossDetect(now: number, ack = false): void {
    const c = this.c;
    this.newlyLost = 0;
    if (ack) this.newlyLostBytes = 0;
    if (this.sackedBytes > 0 || this.inRecovery || this.inLoss || c.reoAt !== Infinity) this.rackDetect(now);
    if (!this.inRecovery && !this.inLoss && this.newlyLost > 0) this.enterRecovery(now);
    else if (this.inRecovery && this.rate === null) this.prrUpdate();
    // A model-based controller (bbr) sets cwnd and the pacing rate from this ACK's rate sample,
    // recovering or not (it replaces PRR), after the loss detection as in Linux's tcp_ack.
    if (ack && this.rate !== null) this.rateSample(now);
    const d = this.delivered;
    this.delivered = 0;
    if (this.newlyLost > 0 || d > 0) c.stack.markDirty(c);
  }

  /** The rate sample of the ACK just processed, to the controller. */
  private rateSample(now: number): void {
    const c = this.c;
    const rs = this.rate!;
    rs.losses = this.newlyLostBytes;
    this.newlyLostBytes = 0;
    rs.finish(now, this.minRttFine !== Infinity ? this.minRttFine : c.minRtt);
    rs.inFlight = this.pipe();
    rs.caState = this.inLoss ? CA_LOSS : this.inRecovery ? CA_RECOVERY : CA_OPEN;
    c.cc.onRateSample!(c, rs, now);
  }

  private enterRecovery(now: number): void {
    const c = this.c;
    const flight = (c.sndMax - c.sndUna) | 0;
    c.cc.onLoss(c, flight, now);
    this.beginUndo();
    this.recover = c.sndMax;
    this.inRecovery = true;
    this.forceRxt = true;
    // PRR (RFC 6937): cwnd follows the data delivered during recovery.
    this.prrDelivered = 0;
    this.prrOut = 0;
    this.recoverFs = flight;
    this.rescueDone = false;
    this.tlpOut = false;
    c.ptoAt = Infinity;
    // RFC 8985 §6.2 step 4: after 16 recoveries without a D-SACK the multiplier is 1 again.
    if (this.reoWndPersist > 0 && --this.reoWndPersist === 0) this.reoWndMult = 1;
    if (this.rate === null) this.prrUpdate();
    c.stack.counters.fastRetransmits++;
    c.stack.markDirty(c);
  }

  private prrUpdate(): void {
    const c = this.c;
    const mss = c.sndMss;
    const delivered = this.delivered;
    this.prrDelivered += delivered;
    const pipe = this.pipe();
    let sndcnt: number;
    if (pipe > c.ssthresh) {
      sndcnt = Math.ceil((this.prrDelivered * c.ssthresh) / (this.recoverFs > 0 ? this.recoverFs : 1)) - this.prrOut;
    } else {
      const lim = Math.max(this.prrDelivered - this.prrOut, delivered) + mss;
      sndcnt = Math.min(c.ssthresh - pipe, lim);
    }
    if (sndcnt < 0) sndcnt = 0;
    c.cwnd = pipe + sndcnt;
    if (c.cwnd < mss) c.cwnd = mss;
  }

  // ---------------------------------------------------------------- timers

  /**
   * RFC 8985 §7.2: arm the Tail Loss Probe timer while data is outstanding: 2·SRTT + 2 ms (as
   * Linux), plus the peer's delayed-ACK allowance when one segment is out, and only when it comes
   * before the RTO. Unlike RFC 8985 (and Linux), also during fast recovery: a Linux receiver
   * acknowledges a burst with one ACK, and when that ACK is lost in recovery nothing but the RTO
   * (≥ 200 ms) would ask again; RACK cannot help, nothing was sent after. Measured on the bench's
   * loss row, this halved the timeouts (docs/bench.md). Not after an RTO (inLoss).
   */
  armProbe(now: number): void {
    const c = this.c;
    if (this.inLoss || this.tlpOut || c.sndMax === c.sndUna || c.persisting) {
      if (c.ptoAt !== Infinity) c.ptoAt = Infinity;
      return;
    }
    const at = now + this.pto();
    if (at >= c.rtoAt) {
      c.ptoAt = Infinity;
      return;
    }
    c.ptoAt = at;
    c.stack.timerUpdate(c);
  }

  onTimer(now: number): void {
    const c = this.c;
    if (c.reoAt <= now) {
      // RACK reordering timer: the window for segments sent before the RACK segment has passed.
      c.reoAt = Infinity;
      this.delivered = 0;
      this.lossDetect(now);
    }
    if (c.ptoAt <= now) {
      c.ptoAt = Infinity;
      this.tailLossProbe(now);
    }
  }

  /**
   * RFC 8985 §7.3, the probe: the highest unSACKed segment again. RFC 8985 prefers a new segment
   * when one may be sent, but a receiver acknowledges a lone in-order segment only when its
   * delayed-ACK timer fires (Linux: 40 ms), while it answers a duplicate at once with a D-SACK
   * (RFC 2883): when the flight arrived and only its ACK was lost, as under random loss both ways,
   * the probe costs ~1 RTT instead of ~40 ms. When the last segment itself was lost, the probe
   * repairs it directly.
   */
  private tailLossProbe(now: number): void {
    const c = this.c;
    const s = c.state;
    if (!(s === ESTABLISHED || s === CLOSE_WAIT || s === FIN_WAIT_1 || s === CLOSING || s === LAST_ACK)) return;
    if (this.inLoss || c.sndMax === c.sndUna || c.persisting) return;
    const log = this.log;
    let k = log.hi - 1;
    while (k >= log.lo && (log.flags(k) & R_SACKED) !== 0) k--;
    if (k < log.lo) return;
    const n = this.retransmitRecord(k, now);
    if (n < 0) {
      c.ptoAt = now + 1; // no TX room: try again shortly
      c.stack.timerUpdate(c);
      return;
    }
    c.stack.counters.tailLossProbes++;
    const second = this.tlpOut;
    this.tlpOut = true;
    this.tlpEnd = c.sndMax;
    // One more probe, twice the PTO later, if this one is not answered before the RTO (RFC 8985
    // sends one): under random loss both ways a probe's ACK is lost as often as any other, and
    // the RTO behind it costs ≥ 200 ms and the window. It halved the timeouts in loss-sim. The
    // RTO stays where the first probe put it.
    if (!second) {
      c.rtoAt = now + rtoCur(c);
      const at = now + 2 * this.pto();
      if (at < c.rtoAt) c.ptoAt = at;
    }
    c.stack.timerUpdate(c);
  }

  /** RFC 8985 §7.2: 2·SRTT + 2 ms, plus the delayed-ACK allowance when one segment is out. */
  private pto(): number {
    const c = this.c;
    const pto = c.hasRtt ? 2 * c.srtt + TLP_EXTRA_MS : c.stack.opts.rtoInitial;
    return this.log.count <= 1 ? pto + TLP_DELACK_MS : pto;
  }

  /**
   * RFC 6675 §5.1 / RFC 8985: every unSACKed segment is deemed lost and resent in order under
   * slow start; SACKed ones are skipped. RACK keeps finding lost retransmissions. If the peer
   * dropped data it had SACKed (SND.UNA's segment SACKed: reneging), forget the SACKs.
   */
  onRto(): void {
    const c = this.c;
    // The first timeout of this data outside a fast recovery begins an episode that may be undone
    // (the timers counted the retry already); after one inside a recovery, that episode goes on.
    if (c.retries === 1 && !this.inRecovery) this.beginUndo();
    (this.spur ??= new SpuriousDetectors()).frto.onTimeout(c.sndUna, c.sndMax, this.inLoss);
    this.frtoNew = 0;
    this.inRecovery = false;
    this.forceRxt = false;
    this.recover = c.sndMax;
    const log = this.log;
    if (log.count > 0 && (log.flags(log.lo) & R_SACKED) !== 0) {
      for (let k = log.lo; k < log.hi; k++) log.setFlags(k, log.flags(k) & R_EVER_RETRANS);
      this.sackedBytes = this.sackedSegs = this.lostBytes = 0;
      this.sb.clear();
    }
    for (let k = log.lo; k < log.hi; k++) this.markLost(k, false);
    this.rxtHint = log.lo;
    this.rack?.clear(); // every segment is lost now: retransmissions start a new FIFO
    this.inLoss = true;
    this.tlpOut = false;
  }

  onWindowOpen(): void {
    // A probe octet the peer did not take is simply sent again as normal data.
    for (let k = this.log.lo; k < this.log.hi; k++) this.markLost(k, false);
    this.rack?.clear();
  }

  // ---------------------------------------------------------------- undo (spurious.ts)

  /** A recovery or RTO episode begins (the controller took its snapshot in onLoss/onRto). */
  private beginUndo(): void {
    const sp = (this.spur ??= new SpuriousDetectors());
    sp.dsack.begin(this.c.sndUna);
    sp.eifel.reset();
    this.undoOpen = true;
  }

  /**
   * RFC 2883 D-SACK [s, e). RFC 3708 with Linux's accounting: a duplicate of data already
   * cumulatively acknowledged counts against the episode's retransmissions ("dumb counting"), one
   * of data still outstanding only if that segment was retransmitted.
   */
  private onDsack(s: number, e: number): void {
    const c = this.c;
    c.stack.counters.dsacksIn++;
    // RFC 3708 §5, as Linux's tcp_dsack_seen: a D-SACK block longer than the largest window the
    // peer ever offered cannot be a duplicate of ours; a forged one is ignored altogether (it
    // neither widens the reordering window nor counts towards an undo).
    const len = (e - s) | 0;
    if (len <= 0 || len > Math.max(c.maxSndWnd, c.sndMss)) return;
    // RFC 8985 §6.2 step 4: a D-SACK widens the reordering window (reo_wnd_mult + 1, once per
    // round trip), it does not by itself mean reordering: under random loss both ways most are
    // the answers to tail loss probes whose ACK was lost. (This set reorderSeen once, and from
    // then on every loss waited a reordering window; Linux, too, only raises reo_wnd_steps.)
    if (seqGeq(c.sndUna, this.reoWndRound)) {
      if (this.reoWndMult < 255) this.reoWndMult++;
      this.reoWndRound = c.sndMax;
      this.reoWndPersist = 16;
    }
    if (!this.undoOpen) return;
    if (seqGt(e, c.sndUna)) {
      const log = this.log;
      const k = log.firstEndingAfter(s);
      if (k >= log.hi || (log.flags(k) & R_EVER_RETRANS) === 0) return;
    }
    const segs = Math.ceil(len / c.sndMss);
    if (this.spur!.dsack.onDsack(s, e, segs > 0 ? segs : 1)) {
      c.stack.counters.undoDsack++;
      this.undoSpurious(this.inLoss, 0);
    }
  }

  /** F-RTO (RFC 5682) after an ACK while recovering from a timeout. */
  private frtoAck(ack: number, advanced: boolean, dupOrSack: boolean, acked: number): void {
    const c = this.c;
    const canSendNew = ((dataEnd(c) - c.sndMax) | 0) > 0 && ((c.sndUna + c.sndWnd - c.sndMax) | 0) > 0;
    const v = this.spur!.frto.onAck(ack, advanced, this.origDelivered, dupOrSack, canSendNew);
    if (v === FRTO_SPURIOUS) {
      c.stack.counters.undoFrto++;
      this.undoSpurious(true, acked);
    } else if (v === FRTO_SEND_NEW) {
      this.frtoNew = 2;
      c.stack.markDirty(c);
    }
  }

  /**
   * The current episode was spurious: the congestion state from before it comes back, and what
   * was only presumed lost is not retransmitted (RACK still finds real losses). After a timeout
   * (RFC 4015) cwnd restarts at FlightSize + min(acked, IW) with ssthresh at the old window, so
   * the way back is slow start rather than one burst.
   */
  private undoSpurious(timeout: boolean, acked: number): void {
    const c = this.c;
    const sp = this.spur!;
    this.undoOpen = false;
    sp.dsack.end();
    sp.eifel.reset();
    sp.frto.reset();
    this.frtoNew = 0;
    c.cc.undo(c);
    if (timeout) {
      const flight = (c.sndMax - c.sndUna) | 0;
      const iw = c.iw();
      const cap = flight + (acked < iw ? acked : iw);
      if (c.cwnd > cap) {
        if (c.ssthresh < c.cwnd) c.ssthresh = c.cwnd;
        c.cwnd = cap;
      }
      c.backoff = 0;
    }
    this.inRecovery = false;
    this.inLoss = false;
    this.forceRxt = false;
    if (this.lostBytes > 0) {
      const log = this.log;
      for (let k = log.lo; k < log.hi; k++) {
        const f = log.flags(k);
        if ((f & R_LOST) !== 0) log.setFlags(k, f & ~R_LOST);
      }
      this.lostBytes = 0;
      this.rack?.rewind();
    }
    c.stack.markDirty(c);
  }

  release(): void {
    this.log.release();
    this.sb.clear();
  }

  compact(): void {
    this.log.compact();
  }
}
