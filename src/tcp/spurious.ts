/**
 * Detecting retransmissions that were not needed, so that the congestion response to them can be
 * undone. Small state machines, one job each, fed by the connection with what it already knows:
 *
 *   isDsack()          RFC 2883 §4: is the first SACK block of an ACK a D-SACK (a duplicate report)?
 *   DsackUndo          RFC 3708: every retransmission of a recovery episode was reported received
 *                      twice (D-SACK), so none was needed.
 *   EifelDetector      RFC 3522: the first ACK after a retransmission echoes a timestamp older than
 *                      that retransmission, so it was sent for the original transmission.
 *   Frto               RFC 5682 (the SACK-enhanced variant, §4, as Linux applies it): after an RTO,
 *                      data that was never retransmitted is acknowledged, so not everything was lost.
 *
 * The response (RFC 4015 for timeouts, the same restore for fast retransmits) is the connection's
 * and the congestion controller's (`CongestionControl.undo`). Sequence numbers are uint32; no
 * allocation.
 */
import { seqGeq, seqGt, seqLeq, seqLt } from './seq.js';

/**
 * RFC 2883 §4: the first SACK block reports a duplicate segment when it lies at or below the
 * cumulative ACK, or inside the second block. `sack` holds [start0, end0, start1, end1, …].
 */
export function isDsack(ack: number, sack: ArrayLike<number>, count: number): boolean {
  if (count < 1) return false;
  const s = sack[0];
  const e = sack[1];
  if (!seqLt(s, e)) return false;
  if (seqLeq(e, ack)) return true;
  if (count < 2) return false;
  return seqGeq(s, sack[2]) && seqLeq(e, sack[3]);
}

/**
 * RFC 3708 (with Linux's accounting): counts the segments retransmitted since a recovery episode
 * began at `marker` (SND.UNA then) and takes one off for each one reported by a D-SACK above the
 * marker. When every retransmission came back as a duplicate, the episode was spurious.
 */
export class DsackUndo {
  /** An episode is being watched. */
  active = false;
  /** SND.UNA when the episode began: D-SACKs at or below it are about older data. */
  marker = 0;
  /** Retransmitted segments of the episode not yet reported as duplicates. */
  retrans = 0;
  /** Segments retransmitted in the episode (0: nothing to judge). */
  private sent = 0;

  begin(sndUna: number): void {
    this.active = true;
    this.marker = sndUna;
    this.retrans = 0;
    this.sent = 0;
  }

  /** A segment of the episode was retransmitted. */
  onRetransmit(): void {
    if (!this.active) return;
    this.retrans++;
    this.sent++;
  }

  /**
   * A D-SACK reported [s, e) received twice (`segs` segments). Returns true when this makes the
   * whole episode spurious (every retransmission accounted for).
   */
  onDsack(s: number, e: number, segs: number): boolean {
    if (!this.active || this.sent === 0 || !seqGt(e, this.marker)) return false;
    // Only the part above the marker is about this episode's retransmissions.
    const len = (e - s) | 0;
    if (seqLt(s, this.marker) && len > 0) segs = Math.max(1, Math.ceil((segs * ((e - this.marker) | 0)) / len));
    // Never more duplicates than retransmissions not yet accounted for (RFC 3708 §5; Linux:
    // dsack_dups > total_retrans -> ignored): such a block is not believed.
    if (segs > this.retrans) return false;
    this.retrans -= segs;
    if (this.retrans > 0) return false;
    this.active = false;
    return true;
  }

  end(): void {
    this.active = false;
  }
}

/**
 * RFC 3522: remember the timestamp value of the first retransmission of an episode; the first ACK
 * that acknowledges new data afterwards decides. An echoed timestamp older than the
 * retransmission's means the ACK was for the original: the retransmission was spurious. With a
 * 1 ms timestamp clock a retransmission sent within the original's millisecond can never be
 * judged spurious (equal values): the test is conservative by construction.
 */
export class EifelDetector {
  private armed = false;
  /** The episode's first retransmission was judged: later ones are not (RFC 3522 §3.2). */
  private judged = false;
  private retransmitTs = 0;

  /** A retransmission of the episode went out with TSval `tsVal` (only the first one counts). */
  onRetransmit(tsVal: number): void {
    if (this.armed || this.judged) return;
    this.armed = true;
    this.retransmitTs = tsVal;
  }

  get waiting(): boolean {
    return this.armed;
  }

  /** The first ACK of new data after the retransmission: true = spurious. Disarms either way. */
  onAck(tsEcr: number): boolean {
    if (!this.armed) return false;
    this.armed = false;
    this.judged = true;
    return tsEcr !== 0 && seqLt(tsEcr, this.retransmitTs);
  }

  /** A new episode. */
  reset(): void {
    this.armed = false;
    this.judged = false;
  }
}

/** What F-RTO asks of the connection after an ACK. */
export const FRTO_NONE = 0;
/** The timeout was spurious: undo it (RFC 4015 response). */
export const FRTO_SPURIOUS = 1;
/** RFC 5682 step 2b: send up to two segments of new data instead of more retransmissions. */
export const FRTO_SEND_NEW = 2;
/** The loss was real: carry on with the conventional RTO recovery. */
export const FRTO_REAL = 3;

/**
 * RFC 5682 F-RTO, SACK-enhanced (§4), deciding as Linux does: after an RTO the sender retransmits
 * the first unacknowledged segment; if acknowledgments then cover (cumulatively or by SACK) data
 * that was never retransmitted, not everything in flight was lost and the timeout was spurious. If the first new ACK moves SND.UNA but not up to the recovery point,
 * two new segments go out (step 2b) so that the next ACK can tell; a duplicate ACK or a SACK for
 * retransmitted data only means the loss was real (step 3a).
 */
export class Frto {
  active = false;
  /** SND.MAX when the timeout fired ("RecoveryPoint"). */
  recoveryPoint = 0;
  /** Step 3: new data went out after the first new ACK. */
  private probing = false;

  /**
   * An RTO fired. F-RTO is not used for a timeout during an RTO recovery that has not reached its
   * recovery point (RFC 5682 step 1): the retransmissions themselves were lost.
   */
  onTimeout(sndUna: number, sndMax: number, inLossRecovery: boolean): void {
    if (this.active || (inLossRecovery && seqGeq(this.recoveryPoint, sndUna))) {
      this.active = false;
      return;
    }
    this.active = true;
    this.probing = false;
    this.recoveryPoint = sndMax;
  }

  /**
   * An ACK during the RTO recovery. `origAcked`: it newly acknowledged or SACKed data that was
   * never retransmitted (sent before the timeout, or new data of step 2b). `advanced`: SND.UNA moved (to `ack`). `dupOrSack`: a
   * duplicate ACK or new SACK information. `canSendNew`: new data and window to send it.
   */
  onAck(ack: number, advanced: boolean, origAcked: boolean, dupOrSack: boolean, canSendNew: boolean): number {
    if (!this.active) return FRTO_NONE;
    if (origAcked) {
      this.active = false;
      return FRTO_SPURIOUS; // step 3b (and 2, when the first ACK already says so)
    }
    if (this.probing) {
      if (dupOrSack) {
        this.active = false;
        return FRTO_REAL; // step 3a
      }
      return FRTO_NONE;
    }
    if (!advanced) return FRTO_NONE; // step 2: wait for the ACK of the retransmission
    if (seqGeq(ack, this.recoveryPoint) || !canSendNew) {
      this.active = false;
      return FRTO_REAL; // step 2a, or 2b without new data to send
    }
    this.probing = true;
    return FRTO_SEND_NEW; // step 2b
  }

  reset(): void {
    this.active = false;
    this.probing = false;
  }
}

/** The three detectors of one connection, made at its first recovery. */
export class SpuriousDetectors {
  readonly dsack = new DsackUndo();
  readonly eifel = new EifelDetector();
  readonly frto = new Frto();
}
