/**
 * Per-source-address accounting: connections and buffered bytes per remote IPv4 address, with
 * limits. One object with a narrow interface (open/close a connection, charge/release bytes,
 * ask whether a new connection is admitted) so that it can later be shared by worker threads
 * (issue 12): the counters live in typed arrays indexed by a slot number that never moves while
 * the source has connections, so they can become a SharedArrayBuffer updated with Atomics, and
 * only open/close touch the address → slot index.
 *
 * Per segment a connection pays one array add (its slot is kept on the connection); the address
 * lookup happens once per new connection.
 */

/** Why a new connection from a source is refused (0 = admitted). */
export const SOURCE_OK = 0;
export const SOURCE_CONN_LIMIT = 1;
export const SOURCE_MEMORY_LIMIT = 2;

export interface SourceLimitOptions {
  /** Most connections (not counting TIME_WAIT) one source address may have. */
  maxConnections: number;
  /** Most buffered bytes (out-of-order + held receive data) one source address may pin. */
  maxBytes: number;
}

/** Source slots are allocated on demand, in steps of this many. */
const INITIAL_SLOTS = 256;

export class SourceLimits {
  maxConnections: number;
  maxBytes: number;
  /** A source is "tight" above this many bytes: its windows stop growing, its out-of-order data goes first. */
  pressureBytes: number;
  /** New connections from a source are refused from here (15/16 of maxBytes). */
  refuseBytes: number;
  /** Set when a source crossed pressureBytes since the stack last reclaimed out-of-order data. */
  pressureSeen = false;

  private readonly index = new Map<number, number>();
  private ips = new Uint32Array(INITIAL_SLOTS);
  /** Connections per slot. */
  conns = new Int32Array(INITIAL_SLOTS);
  /** Buffered bytes per slot. */
  bytes = new Float64Array(INITIAL_SLOTS);
  private freeSlots: number[] = [];
  private nextSlot = 0;

  constructor(opts: SourceLimitOptions) {
    this.maxConnections = opts.maxConnections;
    this.maxBytes = opts.maxBytes;
    this.pressureBytes = Math.floor((opts.maxBytes * 3) / 4);
    this.refuseBytes = Math.floor((opts.maxBytes * 15) / 16);
  }

  /** Sources with at least one connection. */
  get sources(): number {
    return this.index.size;
  }

  /** Whether a new connection from `ip` is admitted: SOURCE_OK or the reason it is not. */
  admit(ip: number): number {
    const slot = this.index.get(ip >>> 0);
    if (slot === undefined) return SOURCE_OK;
    if (this.conns[slot] >= this.maxConnections) return SOURCE_CONN_LIMIT;
    if (this.bytes[slot] >= this.refuseBytes) return SOURCE_MEMORY_LIMIT;
    return SOURCE_OK;
  }

  /** A connection from `ip` starts: returns its slot (kept by the connection until close). */
  open(ip: number): number {
    ip >>>= 0;
    let slot = this.index.get(ip);
    if (slot === undefined) {
      slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.grab();
      this.index.set(ip, slot);
      this.ips[slot] = ip;
      this.conns[slot] = 0;
      this.bytes[slot] = 0;
    }
    this.conns[slot]++;
    return slot;
  }

  /** The connection holding `slot` ended (its bytes were released before). */
  close(slot: number): void {
    if (--this.conns[slot] > 0) return;
    this.index.delete(this.ips[slot]);
    this.bytes[slot] = 0;
    this.freeSlots.push(slot);
  }

  charge(slot: number, n: number): void {
    const b = (this.bytes[slot] += n);
    if (b >= this.pressureBytes) this.pressureSeen = true;
  }

  release(slot: number, n: number): void {
    this.bytes[slot] -= n;
  }

  /** May `slot` buffer n more bytes? */
  room(slot: number, n: number): boolean {
    return this.bytes[slot] + n <= this.maxBytes;
  }

  /** Above the source's pressure level. */
  tight(slot: number): boolean {
    return this.bytes[slot] >= this.pressureBytes;
  }

  /** Connections and bytes of one address (for tests and `show tcp memory`). */
  get(ip: number): { connections: number; bytes: number } | undefined {
    const slot = this.index.get(ip >>> 0);
    return slot === undefined ? undefined : { connections: this.conns[slot], bytes: this.bytes[slot] };
  }

  /** The `n` sources holding most bytes (then most connections), for `show tcp memory`. */
  top(n: number): { ip: number; connections: number; bytes: number }[] {
    const rows: { ip: number; connections: number; bytes: number }[] = [];
    for (const [ip, slot] of this.index) rows.push({ ip, connections: this.conns[slot], bytes: this.bytes[slot] });
    rows.sort((a, b) => b.bytes - a.bytes || b.connections - a.connections);
    return rows.slice(0, n);
  }

  private grab(): number {
    if (this.nextSlot === this.ips.length) {
      const size = this.ips.length * 2;
      const ips = new Uint32Array(size);
      ips.set(this.ips);
      const conns = new Int32Array(size);
      conns.set(this.conns);
      const bytes = new Float64Array(size);
      bytes.set(this.bytes);
      this.ips = ips;
      this.conns = conns;
      this.bytes = bytes;
    }
    return this.nextSlot++;
  }
}
