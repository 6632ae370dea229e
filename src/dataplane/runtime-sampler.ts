/**
 * Which runs `show runtime` times. Reading the clock costs tens of nanoseconds, and timing every
 * node of every vector read it about ten times per vector: at the one-frame vectors of a
 * new-connection load that was a measurable share of the whole request. So a run (an RX vector,
 * a timer run, a kick, a TX resume) is timed when it comes a quiet millisecond after the previous
 * run, whatever its kind (at low rates that is every run, and costs nothing there), and otherwise
 * one run in TIME_EVERY. Each node weighs its own timed dispatch by the dispatches it had since it
 * was last timed (GraphNode.recordTimed), so a node's total stays an estimate of its own cost
 * whichever runs it happens to be called in, while calls and vectors stay exact.
 */
export const TIME_EVERY = 16;
/** A run this long after the previous one is always timed, ms. */
export const QUIET_MS = 1;

export class RuntimeSampler {
  /** Whether the current run is timed (false outside runs). */
  timed = false;
  private sinceTimed = 0;
  private lastRunAt = -Infinity;

  /** Decides for the run starting at `now` (ms, the dataplane's clock). */
  begin(now: number): boolean {
    const quiet = now - this.lastRunAt >= QUIET_MS;
    this.lastRunAt = now;
    if (quiet || ++this.sinceTimed >= TIME_EVERY) {
      this.sinceTimed = 0;
      this.timed = true;
    } else {
      this.timed = false;
    }
    return this.timed;
  }

  /** The run is over: nothing outside a run is timed. */
  end(): void {
    this.timed = false;
  }
}
