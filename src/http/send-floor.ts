/**
 * A minimum send rate (issue 9: "a reader that takes one byte every 59 s holds all of it
 * forever"). The send timeout only catches a peer that takes nothing at all; this floor catches
 * one that takes too little: while bytes are queued, the peer must acknowledge at least
 * `minBytes` per `windowMs`.
 *
 * Kept as one deadline, O(1) per check: when bytes become queued the deadline is now + window;
 * every acknowledged byte moves it by window / minBytes (so a reader at exactly the floor rate
 * keeps pace with the clock), never beyond now + window (a burst buys no more than one window).
 * A peer whose progress falls below the floor is past the deadline at most one window after it
 * slowed down, whatever it did before.
 */
export class SendFloor {
  /** When the peer will have fallen below the floor; Infinity while nothing is queued. */
  deadline = Infinity;
  private acked = 0;

  /**
   * One check at `now`: `queued` bytes wait, `acked` bytes were taken in total so far.
   * Returns true when the peer is below the floor (the caller drops it).
   */
  check(now: number, queued: number, acked: number, windowMs: number, minBytes: number): boolean {
    const progress = acked - this.acked;
    this.acked = acked;
    if (queued <= 0 || minBytes <= 0) {
      this.deadline = Infinity;
      return false;
    }
    const cap = now + windowMs;
    if (this.deadline === Infinity) this.deadline = cap;
    else if (progress > 0) {
      const d = this.deadline + (progress * windowMs) / minBytes;
      this.deadline = d < cap ? d : cap;
    }
    return now > this.deadline;
  }
}
