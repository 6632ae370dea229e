/**
 * RACK's loss-detection walk (RFC 8985 §6.2 step 5) without a walk over every outstanding segment
 * on every ACK (issue 12): a segment is deemed lost once a segment sent after it was delivered and
 * RACK.rtt + reo_wnd has passed since it was sent. Outstanding segments fall in two groups, each
 * already ordered by send time:
 *
 *   - sent once: in sequence order (the SentLog's order), so their send times and transmission
 *     numbers never decrease along the log. A hint marks the first of them that is neither SACKed
 *     nor lost; the walk starts there and stops at the first one sent after the RACK segment or
 *     still inside its window, and the hint stays there. Each record is passed a bounded number of
 *     times over its life, so the cost is amortised O(1) per segment and per ACK.
 *   - retransmitted: a FIFO of (start, transmission number) in send order, looked up in the log by
 *     binary search; entries for segments since acknowledged, SACKed or sent again are dropped when
 *     they reach the head.
 *
 * Each segment is deemed lost as soon as its own window has passed; `dueAt` is when the next one
 * would be (the reordering timer). Times are compared as absolute values (send time + window ≤
 * now), never as a remainder added back to now: the timer then fires exactly when the test passes,
 * whatever the floating-point rounding.
 */
import { R_EVER_RETRANS, R_LOST, R_SACKED, type SentLog } from './sent-log.js';

const NONE_I32 = new Int32Array(0);
const NONE_F64 = new Float64Array(0);

export class RackScan {
  /** No record below this number is a candidate that was sent only once. */
  private hint = 0;
  // FIFO of retransmissions, oldest first: the record's start and its transmission number.
  private qs = NONE_I32;
  private qo = NONE_F64;
  private qm = -1;
  private qh = 0;
  private qt = 0;
  /** 0: walking the segments sent once; 1: the retransmissions; 2: done. */
  private phase = 2;
  /** After a scan: when the next candidate's window passes (ms, Infinity: none waiting). */
  dueAt = Infinity;

  /** A record was (re)transmitted again as transmission number `order`. */
  onRetransmit(start: number, order: number): void {
    if (this.qt - this.qh > this.qm) this.grow();
    const i = this.qt & this.qm;
    this.qs[i] = start;
    this.qo[i] = order;
    this.qt++;
  }

  /** Records lost their SACKed/lost marks (undo, reneging): every one may be a candidate again. */
  rewind(): void {
    this.hint = 0;
  }

  /** Everything outstanding is deemed lost or acknowledged (RTO, empty log): forget the FIFO. */
  clear(): void {
    this.hint = 0;
    this.qh = this.qt = 0;
  }

  begin(): void {
    this.phase = 0;
    this.dueAt = Infinity;
  }

  /**
   * The next record to deem lost, or -1 when the scan is over (`dueAt` is then set). The caller
   * marks it lost (R_LOST) before asking again. `ro`: the RACK segment's transmission number;
   * `span`: RACK.rtt + reo_wnd, so a record sent at t is lost when t + span ≤ now.
   */
  next(log: SentLog, ro: number, span: number, now: number): number {
    if (this.phase === 0) {
      let k = this.hint < log.lo ? log.lo : this.hint;
      for (; k < log.hi; k++) {
        if ((log.flags(k) & (R_SACKED | R_LOST | R_EVER_RETRANS)) !== 0) continue;
        if (log.order(k) > ro) break; // sent after the RACK segment, as is everything after it
        const due = log.time(k) + span;
        if (due <= now) {
          this.hint = k;
          return k;
        }
        if (due < this.dueAt) this.dueAt = due;
        break;
      }
      this.hint = k;
      this.phase = 1;
    }
    if (this.phase === 1) {
      const m = this.qm;
      while (this.qh < this.qt) {
        const s = this.qs[this.qh & m];
        const o = this.qo[this.qh & m];
        const k = log.firstEndingAfter(s);
        if (k >= log.hi || log.start(k) !== s || log.order(k) !== o || (log.flags(k) & (R_SACKED | R_LOST)) !== 0) {
          this.qh++; // acknowledged, SACKed, deemed lost or sent again since
          continue;
        }
        if (o > ro) break;
        const due = log.time(k) + span;
        if (due <= now) {
          this.qh++;
          return k;
        }
        if (due < this.dueAt) this.dueAt = due;
        break;
      }
      this.phase = 2;
    }
    return -1;
  }

  private grow(): void {
    const n = this.qm < 0 ? 8 : (this.qm + 1) * 2;
    const s = new Int32Array(n);
    const o = new Float64Array(n);
    for (let j = this.qh; j < this.qt; j++) {
      s[j & (n - 1)] = this.qs[j & this.qm];
      o[j & (n - 1)] = this.qo[j & this.qm];
    }
    this.qs = s;
    this.qo = o;
    this.qm = n - 1;
  }
}
