/**
 * Storage for the double-valued fields of the stack's connections (timer deadlines, RTT
 * estimates in fractional ms, send times), packed in Float64Array pages: 8 bytes per value.
 *
 * Why: Node 20's V8 keeps a field in double representation as a pointer to a 16-byte HeapNumber
 * box per object (there is no in-object double unboxing), so the 17 such fields of an idle
 * connection cost 17 × 24 bytes (slot + box) in fields of their own; here they cost 17 × 8 in a
 * page plus two fields (page, offset) on the connection. Timer deadlines are Infinity while off
 * and fractions of a millisecond when armed, so they cannot be small integers without changing
 * what the timers do; this keeps their values exactly.
 *
 * Pages never move (growth adds one), so a connection holds its page and offset and reads
 * `page[offset + field]`: as cheap as reading a boxed field. A slot is taken when a connection is
 * made and given back when it is destroyed or becomes a TIME_WAIT entry (`retire`): the
 * connection then copies its values into a small array of its own, so a closed connection that
 * the application still reads (srtt, rto for a log line, a test's assertion) keeps them and can
 * never read or write a slot another connection has since taken.
 */

/** Values per connection (the D_* offsets below). */
export const D_STRIDE = 17;
/** Connections per page: 256 × 17 × 8 = 34 KiB. */
const PAGE_SLOTS = 256;

// TcpConnection
export const D_HEAP_KEY = 0;
export const D_LAST_OOW_ACK_AT = 1;
export const D_LAST_SEND_AT = 2;
export const D_SRTT = 3;
export const D_RTTVAR = 4;
export const D_MIN_RTT = 5;
export const D_RTO_AT = 6;
export const D_PERSIST_AT = 7;
export const D_DELACK_AT = 8;
export const D_KA_AT = 9;
export const D_LINGER_AT = 10;
export const D_REO_AT = 11;
export const D_PTO_AT = 12;
// SackRecovery (RACK)
export const D_RACK_XMIT = 13;
export const D_RACK_ORDER = 14;
export const D_RACK_RTT = 15;
export const D_MIN_RTT_FINE = 16;

export class DoubleSlab {
  private readonly pages: Float64Array[] = [];
  /** Free slots (a stack), then the next never used slot. */
  private free: number[] = [];
  private fresh = 0;
  /** Slots in use (for tests and `show memory`-like checks). */
  inUse = 0;

  /** Takes a slot; the caller gets its page with page() and its offset with offset(). */
  alloc(): number {
    this.inUse++;
    if (this.free.length > 0) return this.free.pop()!;
    const s = this.fresh++;
    if (s % PAGE_SLOTS === 0) this.pages.push(new Float64Array(PAGE_SLOTS * D_STRIDE));
    return s;
  }

  page(slot: number): Float64Array {
    return this.pages[(slot / PAGE_SLOTS) | 0];
  }

  offset(slot: number): number {
    return (slot % PAGE_SLOTS) * D_STRIDE;
  }

  release(slot: number): void {
    this.inUse--;
    this.free.push(slot);
  }

  /** Bytes of the pages (allocated, used or not). */
  get bytes(): number {
    return this.pages.length * PAGE_SLOTS * D_STRIDE * 8;
  }
}
