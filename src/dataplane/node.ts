/**
 * A graph node: a named stage that processes a vector of frames at a time, with VPP-style
 * runtime figures (calls, vectors, time) and named error counters.
 */

export interface NodeRuntime {
  calls: number;
  vectors: number;
  /** Total time spent in the node, nanoseconds. */
  nanos: number;
}

export class GraphNode {
  readonly runtime: NodeRuntime = { calls: 0, vectors: 0, nanos: 0 };
  /** Counter per error reason, indexed as in `errorNames`. */
  readonly errors: Float64Array;
  /** Frame indices waiting to be processed by this node. */
  readonly queue: Uint32Array;
  queued = 0;

  constructor(
    readonly name: string,
    readonly errorNames: readonly string[],
    capacity: number,
  ) {
    this.errors = new Float64Array(errorNames.length);
    this.queue = new Uint32Array(capacity);
  }

  enqueue(frame: number): void {
    this.queue[this.queued++] = frame;
  }

  count(error: number, n = 1): void {
    this.errors[error] += n;
  }

  /** Records one dispatch of `vectors` frames that took `nanos`. */
  record(vectors: number, nanos: number): void {
    this.runtime.calls++;
    this.runtime.vectors += vectors;
    this.runtime.nanos += nanos;
  }

  clearRuntime(): void {
    this.runtime.calls = 0;
    this.runtime.vectors = 0;
    this.runtime.nanos = 0;
  }

  clearErrors(): void {
    this.errors.fill(0);
  }
}
