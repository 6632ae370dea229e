/**
 * The sender's SACK scoreboard (RFC 6675 §3): which ranges above SND.UNA the peer reported as
 * received. Kept as a small sorted array of disjoint [start, end) ranges.
 */
import { seqGt, seqGeq, seqLeq, seqLt, seqMax, seqMin } from './seq.js';

const MAX_RANGES = 32;

export class Scoreboard {
  /** Flat [start0, end0, start1, end1, ...], ascending. */
  readonly r: number[] = [];

  get empty(): boolean {
    return this.r.length === 0;
  }

  /** Adds [s, e); returns true if it covered anything new. */
  add(s: number, e: number): boolean {
    const r = this.r;
    let i = 0;
    while (i < r.length && seqLt(r[i + 1], s)) i += 2;
    if (i < r.length && seqLeq(r[i], s) && seqGeq(r[i + 1], e)) return false;
    // Merge every range that overlaps or touches [s, e).
    let j = i;
    let ns = s;
    let ne = e;
    while (j < r.length && seqLeq(r[j], ne)) {
      ns = seqMin(ns, r[j]);
      ne = seqMax(ne, r[j + 1]);
      j += 2;
    }
    r.splice(i, j - i, ns, ne);
    if (r.length > 2 * MAX_RANGES) r.splice(0, 2); // forget the lowest: it will be retransmitted anyway
    return true;
  }

  /** Forgets everything at or below the cumulative ACK. */
  trim(una: number): void {
    const r = this.r;
    let k = 0;
    while (k < r.length && seqLeq(r[k + 1], una)) k += 2;
    if (k > 0) r.splice(0, k);
    if (r.length > 0 && seqLt(r[0], una)) r[0] = una;
  }

  clear(): void {
    this.r.length = 0;
  }

  sackedBytes(): number {
    const r = this.r;
    let n = 0;
    for (let i = 0; i < r.length; i += 2) n += (r[i + 1] - r[i]) | 0;
    return n;
  }

  /**
   * RFC 6675 IsLost() boundary with DupThresh = 3: every unSACKed byte below the returned
   * sequence number has 3 discontiguous SACKed ranges or more than 2 × mss SACKed bytes above
   * it. Returns `una` when nothing is deemed lost.
   */
  lostBoundary(una: number, mss: number): number {
    const r = this.r;
    let acc = 0;
    let cnt = 0;
    for (let i = r.length - 2; i >= 0; i -= 2) {
      acc += (r[i + 1] - r[i]) | 0;
      cnt++;
      if (cnt >= 3 || acc > 2 * mss) return r[i];
    }
    return una;
  }
}
