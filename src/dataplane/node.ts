/**
 * A graph node: a named stage that processes a vector of frames at a time, with VPP-style
 * runtime figures (calls, vectors, time), named error (disposition) counters and named next
 * nodes (arcs).
 *
 * A node's run function sees only a NodeContext (context.ts), never the Dataplane: adding a node
 * means writing one module that calls defineNode() and wiring it in graph.ts.
 */
import type { NodeContext } from './context.js';

export type Severity = 'error' | 'info';

export interface ErrorSpec {
  readonly name: string;
  readonly severity: Severity;
}

export const err = (name: string): ErrorSpec => ({ name, severity: 'error' });
export const info = (name: string): ErrorSpec => ({ name, severity: 'info' });

/**
 * What a node's counters count: `received` nodes account for received frames (every received
 * frame ends in exactly one counter of one of them), `sent` nodes for packets we originate
 * (the IPv4 output path and interface-output).
 */
export type Accounts = 'received' | 'sent';

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
  /**
   * The part of `errors` and of the runtime's calls/vectors due to private frames: answers the
   * TCP stack sends only because a segment failed acceptance or hit no connection (see
   * tcp/private-reasons.ts). The CLI shows the totals; /metrics exports total − private.
   */
  readonly privateErrors: Float64Array;
  readonly privateRuntime = { calls: 0, vectors: 0 };
  /** Frame indices waiting to be processed by this node. */
  readonly queue: Uint32Array;
  queued = 0;
  /** The nodes this one hands frames to, by arc index (resolved by Graph from `nextNames`). */
  readonly next: GraphNode[] = [];
  /** Processes `queue[0 .. queued)`; null for nodes that are called per packet (output path). */
  run: ((ctx: NodeContext) => void) | null = null;

  constructor(
    readonly name: string,
    readonly errorNames: readonly string[],
    capacity: number,
    readonly severities: readonly Severity[] = errorNames.map(() => 'error'),
    readonly nextNames: readonly string[] = [],
    readonly accounts: Accounts = 'received',
  ) {
    this.errors = new Float64Array(errorNames.length);
    this.privateErrors = new Float64Array(errorNames.length);
    this.queue = new Uint32Array(capacity);
  }

  enqueue(frame: number): void {
    this.queue[this.queued++] = frame;
  }

  /** Hands frame `frame` on along arc `arc` (an index of `nextNames`). */
  toNext(arc: number, frame: number): void {
    const n = this.next[arc];
    n.queue[n.queued++] = frame;
  }

  count(error: number, n = 1): void {
    this.errors[error] += n;
  }

  /** Records one dispatch of `vectors` frames that took `nanos` (measured every time, or already scaled). */
  record(vectors: number, nanos: number): void {
    this.runtime.calls++;
    this.runtime.vectors += vectors;
    this.runtime.nanos += nanos;
  }

  /** Dispatches since this node was last timed (see runtime-sampler.ts). */
  private untimed = 0;

  /** Records a dispatch in an untimed run: counted, its time estimated at the node's next timed one. */
  recordUntimed(vectors: number): void {
    this.runtime.calls++;
    this.runtime.vectors += vectors;
    this.untimed++;
  }

  /** Records a timed dispatch that took `nanos`; it stands for itself and the untimed ones before it. */
  recordTimed(vectors: number, nanos: number): void {
    this.runtime.calls++;
    this.runtime.vectors += vectors;
    this.runtime.nanos += nanos * (this.untimed + 1);
    this.untimed = 0;
  }

  /** Of the dispatch just recorded, `vectors` were private frames; `whole`: all of it (the call too). */
  notePrivate(vectors: number, whole: boolean): void {
    this.privateRuntime.vectors += vectors;
    if (whole) this.privateRuntime.calls++;
  }

  clearRuntime(): void {
    this.privateRuntime.calls = 0;
    this.privateRuntime.vectors = 0;
    this.untimed = 0;
    this.runtime.calls = 0;
    this.runtime.vectors = 0;
    this.runtime.nanos = 0;
  }

  clearErrors(): void {
    this.errors.fill(0);
    this.privateErrors.fill(0);
  }
}

/** A node with typed error indices (`e.badChecksum`) and arc indices (`a['ip4-input']`). */
export type TypedNode<E extends Record<string, ErrorSpec>, A extends readonly string[]> = GraphNode & {
  readonly e: { readonly [K in keyof E]: number };
  readonly a: { readonly [K in A[number]]: number };
};

export function defineNode<const E extends Record<string, ErrorSpec>, const A extends readonly string[]>(
  name: string,
  errors: E,
  arcs: A,
  capacity: number,
  accounts: Accounts = 'received',
): TypedNode<E, A> {
  const keys = Object.keys(errors) as (keyof E & string)[];
  const node = new GraphNode(
    name,
    keys.map((k) => errors[k].name),
    capacity,
    keys.map((k) => errors[k].severity),
    arcs,
    accounts,
  ) as GraphNode & { e: Record<string, number>; a: Record<string, number> };
  node.e = Object.fromEntries(keys.map((k, i) => [k, i]));
  node.a = Object.fromEntries(arcs.map((k, i) => [k, i]));
  return node as unknown as TypedNode<E, A>;
}
