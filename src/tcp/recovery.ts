/**
 * Loss recovery: which segment goes out next, how losses are detected and repaired, and what
 * the sender does about them. Two implementations, chosen once per connection by whether the
 * peer agreed to SACK:
 * - SackRecovery (recovery-sack.ts): RFC 6675 with RACK-TLP (RFC 8985), PRR (RFC 6937) and the
 *   rescue retransmission; every outstanding segment is a record in a SentLog.
 * - NewRenoRecovery (recovery-newreno.ts): RFC 5681/6582 fast retransmit and recovery, RFC 3042
 *   limited transmit, RFC 5827 early retransmit; go-back-N from SND.UNA after an RTO.
 *
 * The connection does what both share: acceptability of the ACK, SND.UNA, the send queue, RTT
 * samples, the retransmission timer and its backoff, the peer's window and persist. Changes of
 * cwnd and ssthresh outside recovery go through the connection's CongestionControl
 * (congestion.ts). An acceptable ACK is handed over in this order: onAckArrived (its SACK blocks
 * and cumulative ACK against what was sent, before SND.UNA moves), then onUnaAdvanced (SND.UNA
 * moved) or onDuplicateAck (it did not), then armProbe once the connection rearmed the RTO.
 */
import type { TcpParsedOptions } from '../wire/tcp.js';
import type { TcpConnection } from './connection.js';
import type { DeliveryRate } from './delivery-rate.js';
import type { Segment } from './types.js';

export interface LossRecovery {
  /** In fast recovery: SND.UNA has not yet reached the recovery point. */
  readonly inRecovery: boolean;
  /** No recovery, loss or duplicate ACKs under way: new data may go out as super-segments. */
  steady(): boolean;
  /** Sends what cwnd and the peer's window allow: retransmissions first, then new data and FIN. */
  send(now: number): void;
  /**
   * An acceptable ACK, before the connection moves SND.UNA: its SACK blocks and its cumulative
   * ACK against the segments sent. True if the SACK blocks reported anything new.
   */
  onAckArrived(opt: TcpParsedOptions, ack: number, now: number): boolean;
  /**
   * SND.UNA advanced to `ack` (already moved, RTT sampled) by `acked` sequence numbers;
   * `flightBefore` were outstanding before. Ends recovery, grows cwnd (through the
   * CongestionControl), detects loss.
   */
  onUnaAdvanced(ack: number, acked: number, flightBefore: number, now: number): void;
  /** An acceptable ACK that did not advance SND.UNA (`sameWindow`: it left SND.WND unchanged). */
  onDuplicateAck(g: Segment, newSack: boolean, sameWindow: boolean, now: number): void;
  /** After the retransmission timer was (re)armed for outstanding data: arm the probe timer. */
  armProbe(now: number): void;
  /** The retransmission timer expired (the connection did the backoff and the cwnd cut). */
  onRto(now: number): void;
  /** The connection's reoAt or ptoAt deadline passed (RACK reordering timer, tail loss probe). */
  onTimer(now: number): void;
  /** Sequence space [start, end) went out for the first time outside send() (a window probe). */
  sentOutside(start: number, end: number, now: number): void;
  /** The peer's window reopened after persist: what was probed beyond it is sent again. */
  onWindowOpen(): void;
  /** The connection left for TIME_WAIT: let go of per-segment state. */
  release(): void;
  /** Nothing is outstanding and the application is idle: let go of storage that can be made again. */
  compact(): void;
  /** Delivery-rate estimation and the pacer's state, for a model-based controller (bbr); null otherwise. */
  readonly rate: DeliveryRate | null;
}
