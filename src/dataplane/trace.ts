/**
 * Per-packet tracing as VPP does it: `trace add <input-node> <count>` arms a budget; the input
 * node gives the next frames a trace record; every node a traced frame passes appends what it
 * decided; `show trace` prints the records in VPP's layout; `clear trace` stops and frees.
 *
 * Cost when nothing is armed: the input node reads one boolean (`armed`) per vector, and the
 * other nodes one boolean (`tracedThisVector`). Nothing is allocated unless a frame is traced.
 *
 * Bounds, so that a careless `trace add af-packet-input 100000` cannot exhaust memory:
 * at most MAX_TRACE_RECORDS records are held (a budget beyond the room left is cut to it; once
 * the buffer is full, tracing stops until `clear trace`), and a record keeps at most
 * MAX_TRACE_LINES lines (what a node appends beyond them is counted and shown as one line).
 */
import { DataplaneError } from './errors.js';

/** Records held at most (VPP has no limit; 1000 packets of ~40 lines is a few MB at worst). */
export const MAX_TRACE_RECORDS = 1000;
/** Lines kept at most per record, node headers included. */
export const MAX_TRACE_LINES = 40;
/** Characters kept at most per line. */
export const MAX_TRACE_LINE_LENGTH = 256;
/** `show trace` without `max`. */
export const DEFAULT_SHOW_MAX = 50;

/** Input nodes that accept `trace add` (VPP: VLIB_NODE_FLAG_TRACE_SUPPORTED). */
export const TRACE_INPUT_NODES: readonly string[] = ['af-packet-input'];

interface TraceRecord {
  /** The output lines so far (node headers and indented node lines). */
  readonly lines: string[];
  /** The node of the last section, to know when a new header is due. */
  lastNode: string;
  /** Lines not kept because the record was full. */
  dropped: number;
}

/** `HH:MM:SS:uuuuuu` (VPP's format_time_interval "h:m:s:u"; days are not printed). */
export function formatTraceTime(ms: number): string {
  const totalMicros = Math.max(0, Math.floor(ms * 1000));
  const micros = totalMicros % 1_000_000;
  const totalSeconds = Math.floor(totalMicros / 1_000_000);
  const s = totalSeconds % 60;
  const m = Math.floor(totalSeconds / 60) % 60;
  const h = Math.floor(totalSeconds / 3600) % 24;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(h)}:${two(m)}:${two(s)}:${String(micros).padStart(6, '0')}`;
}

export class PacketTracer {
  /** True while a `trace add` budget remains (and for the one vector after it ran out, so that
   *  startVector can reset tracedThisVector). The RX hot path reads only this boolean. */
  armed = false;
  /** Per frame index of the RX vector being processed: trace record id, or -1 (not traced). */
  readonly frameTrace: Int32Array;
  /** True if startVector gave at least one id in the current vector. */
  tracedThisVector = false;
  /** Frames still to be traced (the sum of the `trace add` counts, less what was traced). */
  private budget = 0;
  private readonly records: TraceRecord[] = [];
  /** Id of records[0]. Ids are never reused, so an id held across `clear trace` (a frame in a
   *  neighbour queue) finds no record instead of someone else's. */
  private firstId = 0;
  private readonly origin: number;

  constructor(
    readonly vectorCapacity: number,
    private readonly now: () => number,
  ) {
    this.frameTrace = new Int32Array(vectorCapacity).fill(-1);
    this.origin = now();
  }

  /** Frames that the current budget will still trace. */
  get remaining(): number {
    return this.budget;
  }

  /** Records held. */
  get held(): number {
    return this.records.length;
  }

  /** How many more records fit in the buffer, budget included. */
  get room(): number {
    return Math.max(0, MAX_TRACE_RECORDS - this.records.length - this.budget);
  }

  /**
   * `trace add <node> <count>`: only input nodes support it; the count is added to the
   * remaining budget (cut to the room left in the buffer, see `room`); count 0 resets it.
   */
  add(node: string, count: number): void {
    if (!TRACE_INPUT_NODES.includes(node)) {
      throw new DataplaneError(
        'ENOTSUP',
        `node '${node}' doesn't support per-node tracing. There may be another way to initiate trace on this node. (nodes that do: ${TRACE_INPUT_NODES.join(', ')})`,
      );
    }
    if (!Number.isInteger(count) || count < 0) throw new DataplaneError('EINVAL', `count ${count} is not valid (expected an integer >= 0)`);
    if (count === 0) {
      this.budget = 0;
      return; // `armed` stays as it is until the next vector resets tracedThisVector.
    }
    this.budget += Math.min(count, this.room);
    if (this.budget > 0) this.armed = true;
  }

  /**
   * Called by the input node for each RX vector of n frames while `armed`: the first frames get
   * record ids while the budget lasts, the others -1.
   */
  startVector(n: number): void {
    const k = Math.min(n, this.budget, MAX_TRACE_RECORDS - this.records.length, this.vectorCapacity);
    if (k <= 0) {
      this.tracedThisVector = false;
      this.armed = false;
      this.budget = 0;
      return;
    }
    const ft = this.frameTrace;
    const next = this.firstId + this.records.length;
    for (let i = 0; i < k; i++) {
      ft[i] = next + i;
      this.records.push({ lines: [], lastNode: '', dropped: 0 });
    }
    ft.fill(-1, k, Math.min(n, this.vectorCapacity));
    this.budget -= k;
    this.tracedThisVector = true;
  }

  /** True if `id` names a record still held. */
  has(id: number): boolean {
    return id >= this.firstId && id < this.firstId + this.records.length;
  }

  /**
   * Appends, to record `id`, a node section: a header `HH:MM:SS:uuuuuu: <node>` (time since the
   * tracer was created) when the node differs from the record's last section, then each of
   * `lines` indented by two spaces (a line may contain '\n' and further indented text).
   * An id that is -1 or no longer held is ignored.
   */
  record(id: number, node: string, ...lines: string[]): void {
    if (!this.has(id)) return;
    const r = this.records[id - this.firstId];
    if (r.lastNode !== node) {
      this.push(r, `${formatTraceTime(this.now() - this.origin)}: ${node}`);
      r.lastNode = node;
    }
    for (const line of lines) for (const part of line.split('\n')) this.push(r, `  ${part}`);
  }

  /**
   * A drop, as VPP traces it: an `error-drop` section naming the interface the frame came in
   * on, then a `drop` section `<node>: <reason>`.
   */
  recordDrop(id: number, rxInterface: string, node: string, reason: string): void {
    this.record(id, 'error-drop', `rx:${rxInterface}`);
    this.record(id, 'drop', `${node}: ${reason}`);
  }

  private push(r: TraceRecord, line: string): void {
    if (r.lines.length >= MAX_TRACE_LINES) {
      r.dropped++;
      return;
    }
    r.lines.push(line.length > MAX_TRACE_LINE_LENGTH ? `${line.slice(0, MAX_TRACE_LINE_LENGTH - 3)}...` : line);
  }

  /** The thread this tracer's dataplane runs on, for show trace's header (a worker sets it). */
  thread = { index: 0, name: 'vpp_main' };

  /** `show trace [max N]`: VPP's layout, thread header included. */
  show(max = DEFAULT_SHOW_MAX): string {
    if (this.records.length === 0) return 'No packets in trace buffer';
    let out = `------------------- Start of thread ${this.thread.index} ${this.thread.name} -------------------\n`;
    const shown = Math.min(max, this.records.length);
    for (let i = 0; i < shown; i++) {
      const r = this.records[i];
      let body = r.lines.join('\n');
      if (r.dropped > 0) body += `\n  ... ${r.dropped} more trace lines not kept (at most ${MAX_TRACE_LINES} per packet)`;
      out += `Packet ${i + 1}\n\n${body}\n\n`;
    }
    if (this.records.length > max) out += `Limiting display to ${max} packets. To display more specify max.\n`;
    // The CLI adds the final newline.
    return out.endsWith('\n') ? out.slice(0, -1) : out;
  }

  /** `clear trace`: stops tracing (outstanding budgets are cancelled) and frees the records. */
  clear(): void {
    this.firstId += this.records.length;
    this.records.length = 0;
    this.budget = 0;
    this.armed = false;
    this.tracedThisVector = false;
    this.frameTrace.fill(-1);
  }
}
