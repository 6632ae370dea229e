/**
 * Which vectors `show runtime` times. Reading the clock costs tens of nanoseconds, and timing
 * every node of every vector read it about ten times per vector: at the one-frame vectors of a
 * new-connection load that was a measurable share of the whole request. So one vector in
 * TIME_EVERY is timed, and also the first vector after a quiet millisecond (at low rates every
 * vector is timed, which costs nothing there). A timed vector's time is multiplied by the number
 * of vectors it stands for (itself and the untimed ones before it), so a node's total time stays
 * an unbiased estimate while its call and vector counts stay exact.
 */
export const TIME_EVERY = 16;
/** A vector this long after the last timed one is always timed, ms. */
const QUIET_MS = 1;

export class RuntimeSampler {
  /** 0 while the current run (vector, timer run or kick) is not timed; else the factor its times are scaled by. */
  scale = 0;
  private untimed = 0;
  private lastTimedAt = -Infinity;

  /** Decides for the run starting at `now` (ms) and returns its scale. */
  begin(now: number): number {
    const n = ++this.untimed;
    if (n >= TIME_EVERY || now - this.lastTimedAt >= QUIET_MS) {
      this.untimed = 0;
      this.lastTimedAt = now;
      this.scale = n;
    } else {
      this.scale = 0;
    }
    return this.scale;
  }

  /** The run is over: nothing outside a run is timed. */
  end(): void {
    this.scale = 0;
  }
}
