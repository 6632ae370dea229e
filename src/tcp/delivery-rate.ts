/**
 * Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation), for the model-based
 * congestion control (bbr.ts) on SACK connections: the connection counts the bytes delivered
 * (cumulatively ACKed or SACKed, each byte once) and when; every record of the send log is
 * stamped at each transmission with that count, its time and the time the current send phase
 * began (P.delivered, P.delivered_time, P.first_sent_time, P.is_app_limited); per ACK the most
 * recently sent record it delivered gives one rate sample:
 *
 *   delivery_rate = (C.delivered − P.delivered) / max(send interval, ACK interval)
 *
 * where the send interval is P.sent_time − P.first_sent_time and the ACK interval
 * now − P.delivered_time. Taking the larger one keeps a burst of ACKs (ACK compression, a
 * stretch ACK) from claiming more than the sender put on the path. As Linux (tcp_rate.c), a
 * sample whose interval is shorter than the minimum RTT is discarded.
 *
 * Bytes, not packets (the draft and Linux count packets); times in ms (fractional: the
 * dataplane's clock is performance.now()). One object per bbr connection, no allocation per
 * segment or per ACK: the per-record stamps live in the SentLog's typed arrays.
 *
 * The object is also the rate sample (`rs` in the draft and in Linux) handed to the controller
 * after each ACK, with what the ACK did to the connection: newly delivered and newly lost bytes,
 * the pipe before and after it, the loss-recovery state.
 */
import { R_APP_LIMITED, R_EVER_RETRANS, type SentLog } from './sent-log.js';

/** The loss-recovery state the controller sees (Linux's icsk_ca_state, as far as bbr cares). */
export const CA_OPEN = 0;
export const CA_RECOVERY = 3;
export const CA_LOSS = 4;

export class DeliveryRate {
  // ------------------------------------------------------------ connection state (C.*)
  /** C.delivered: bytes delivered so far (SACKed or cumulatively ACKed, each once). */
  delivered = 0;
  /** C.delivered_time: when `delivered` last grew (ms). */
  deliveredTime = 0;
  /** C.first_sent_time: the send time of the most recently delivered record (start of the send phase). */
  firstSentTime = 0;
  /**
   * C.app_limited: 0, or the value of `delivered` once the bubble the application left is
   * delivered (samples of records sent before it are app-limited).
   */
  appLimited = 0;
  /** The pacer (recovery-sack.ts): the earliest time of the next paced send (ms). */
  paceNext = 0;
  /** The pacer's timer (TcpConnection.paceAt): armed for this deadline (ms), Infinity = not waiting. */
  paceAt = Infinity;

  // ------------------------------------------------------------ the sample of the current ACK (rs.*)
  /** rs.prior_delivered: P.delivered of the most recently sent record this ACK delivered; -1 = none. */
  priorDelivered = -1;
  /** rs.prior_time: its P.delivered_time. */
  priorTime = 0;
  /** Its transmission order (the most recently sent wins). */
  private priorOrder = -1;
  /** Its send interval: P.sent_time − P.first_sent_time. */
  sendElapsed = 0;
  /** rs.is_app_limited. */
  isAppLimited = false;
  /** rs.delivered: bytes delivered over the interval; -1 = no valid sample this ACK. */
  sampleDelivered = -1;
  /** rs.interval (ms): max(send interval, ACK interval); -1 = no valid sample. */
  interval = -1;
  /** The smallest RTT (ms) of the records this ACK delivered that were sent once; -1 = none. */
  rtt = -1;
  /** Bytes this ACK newly delivered (rs.acked_sacked). */
  acked = 0;
  /** Bytes this ACK's processing deemed lost (rs.losses). */
  losses = 0;
  /** The pipe (RFC 6675) before this ACK and after it (the caller fills them in). */
  priorInFlight = 0;
  inFlight = 0;
  /** CA_OPEN, CA_RECOVERY or CA_LOSS after this ACK. */
  caState = CA_OPEN;

  /** Record k is being (re)transmitted at `now`; `flight` bytes were outstanding before it. */
  onSent(log: SentLog, k: number, now: number, flight: number): void {
    if (flight === 0) {
      // Nothing outstanding: the send phase (and the ACK phase) start now.
      this.firstSentTime = now;
      this.deliveredTime = now;
    }
    log.setRate(k, this.delivered, this.deliveredTime, this.firstSentTime);
    const f = log.flags(k);
    log.setFlags(k, this.appLimited !== 0 ? f | R_APP_LIMITED : f & ~R_APP_LIMITED);
  }

  /** A new ACK is being processed. */
  begin(priorInFlight: number): void {
    this.priorDelivered = -1;
    this.priorOrder = -1;
    this.sampleDelivered = -1;
    this.interval = -1;
    this.rtt = -1;
    this.acked = 0;
    this.losses = 0;
    this.priorInFlight = priorInFlight;
  }

  /** Record k (whole, `len` bytes) was newly delivered at `now` (SACKed, or cumulatively ACKed and not SACKed before). */
  onDelivered(log: SentLog, k: number, len: number, now: number): void {
    this.delivered += len;
    this.deliveredTime = now;
    this.acked += len;
    const f = log.flags(k);
    const sent = log.time(k);
    if ((f & R_EVER_RETRANS) === 0) {
      const r = now - sent;
      if (this.rtt < 0 || r < this.rtt) this.rtt = r;
    }
    const o = log.order(k);
    if (o > this.priorOrder) {
      this.priorOrder = o;
      this.priorDelivered = log.delivered(k);
      this.priorTime = log.deliveredTime(k);
      this.isAppLimited = (f & R_APP_LIMITED) !== 0;
      this.sendElapsed = sent - log.firstSentTime(k);
      this.firstSentTime = sent;
    }
  }

  /** Part of a record was cumulatively ACKed (its stamps wait for the rest). */
  onDeliveredPart(len: number, now: number): void {
    this.delivered += len;
    this.deliveredTime = now;
    this.acked += len;
  }

  /** After the ACK: the sample, valid when interval > 0 (minRtt: the connection's, ms). */
  finish(now: number, minRtt: number): void {
    if (this.appLimited !== 0 && this.delivered > this.appLimited) this.appLimited = 0;
    if (this.priorDelivered < 0) return;
    this.sampleDelivered = this.delivered - this.priorDelivered;
    const ackElapsed = now - this.priorTime;
    const iv = this.sendElapsed > ackElapsed ? this.sendElapsed : ackElapsed;
    // Shorter than the path's minimum RTT: an artefact of ACK compression or of a clock too
    // coarse for the burst (Linux discards it too).
    this.interval = iv > 0 && !(iv < minRtt) ? iv : -1;
  }

  /** The application left the pipe unfilled: samples until this bubble is delivered are app-limited. */
  markAppLimited(pipe: number): void {
    const v = this.delivered + pipe;
    this.appLimited = v > 0 ? v : 1;
  }
}
