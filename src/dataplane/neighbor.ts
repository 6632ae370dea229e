/**
 * The IPv4 neighbour (ARP) cache, with states modelled on Linux NUD (RFC 4861 §7.3.2's
 * states, which Linux uses for ARP too):
 *
 *   INCOMPLETE  resolution under way: broadcast requests every `retransMs`, up to `maxProbes`;
 *               packets wait in a small hold queue.          → REACHABLE on a reply, else FAILED
 *   REACHABLE   confirmed within `reachableMs` (an ARP reply, or forward progress of a TCP
 *               connection through it, as Linux's dst_confirm).   → STALE when that runs out
 *   STALE       usable, not confirmed lately.               → DELAY when a packet uses it
 *   DELAY       used while stale: wait `delayMs` for a confirmation.   → PROBE if none
 *   PROBE       unicast requests every `retransMs`, up to `maxProbes`. → REACHABLE or FAILED
 *   FAILED      nobody answered: packets to it are dropped ("unreachable") and the held ones
 *               too; a new resolution may start after a back-off that doubles per failure.
 *   PERMANENT   `set ip neighbor … static`.
 *
 * An entry that traffic uses is re-probed before it is given up, so it never disappears while
 * traffic flows; a STALE entry nobody used for `ageMs` (`neighbor-age`) is removed.
 * The table does no I/O: it asks its owner (NeighborEvents) to send requests and to send or
 * drop held packets. Time is passed in (ms).
 *
 * IPv6 (RFC 4861 §7.3) runs the same machine in a table of its own (`new NeighborTable(…, 6)`):
 * requests are Neighbor Solicitations (multicast to the solicited-node group, unicast to
 * re-probe), answers Neighbor Advertisements, whose Solicited flag confirms and whose Override
 * flag decides whether a different MAC replaces the one we have (§7.2.5). Its entries are keyed
 * by a 32-bit hash of the address (`ip`) and chained on a collision; the `*6` methods take the
 * address in place (buffer, offset), so a lookup allocates nothing.
 */
import { ip6Equals, ip6Hash } from '../wire/ipv6-address.js';
import type { SwInterface } from './interface.js';

export const enum NudState {
  Incomplete = 0,
  Reachable = 1,
  Stale = 2,
  Delay = 3,
  Probe = 4,
  Failed = 5,
  Permanent = 6,
}

export const NUD_NAMES = ['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE', 'FAILED', 'PERMANENT'] as const;

/** A packet waiting for its next hop's MAC: an L3 packet plus its TX offload fields. */
export interface HeldPacket {
  readonly data: Buffer;
  /** TX offload fields relative to the L3 start (0 = none), see TxVector. */
  readonly csumStartL3: number;
  readonly gsoSize: number;
  readonly type: number;
  readonly traceId: number;
}

export class Neighbor {
  state: NudState = NudState.Incomplete;
  readonly mac = Buffer.alloc(6);
  /** Last confirmation of reachability (ms). */
  confirmed = 0;
  /** Last ARP heard from it, or change of state (ms): the age `show ip neighbors` prints. */
  updated = 0;
  /**
   * Last time a packet used the entry (ms), written per packet. Initialised here (the constructor
   * sets it): a field declared without a value is first defined as undefined and stays tagged in
   * V8, so every time stored in it would be a new heap number.
   */
  used = 0;
  /** Requests sent in the current INCOMPLETE or PROBE episode. */
  probes = 0;
  /** When the next timer action is due (ms): a retransmission, DELAY → PROBE, or the end of a FAILED back-off. */
  due = 0;
  /** Consecutive failed resolutions (for the back-off). */
  failures = 0;
  readonly held: HeldPacket[] = [];
  heldBytes = 0;
  /** IPv6: the next entry with the same hash key. */
  chain: Neighbor | null = null;

  constructor(
    readonly sw: SwInterface,
    /** IPv4: the address (unsigned). IPv6: the hash key of `ip6`. */
    readonly ip: number,
    now: number,
    /** IPv6: the address (16 bytes); null in an IPv4 table. */
    readonly ip6: Buffer | null = null,
  ) {
    this.updated = now;
    this.used = now;
  }

  get isStatic(): boolean {
    return this.state === NudState.Permanent;
  }

  /** Whether packets can be sent to it now (it has a MAC). */
  get usable(): boolean {
    return this.state !== NudState.Incomplete && this.state !== NudState.Failed;
  }
}

/** What the table asks of its owner. */
export interface NeighborEvents {
  /** Send an ARP request for n.ip on n.sw: broadcast, or unicast to n.mac (PROBE). */
  solicit(n: Neighbor, unicast: boolean): void;
  /** n has a MAC now: send its held packets (n.held), in order. The table clears the queue after. */
  release(n: Neighbor): void;
  /** n failed: its held packets are dropped (counted by the owner). */
  failed(n: Neighbor, dropped: number): void;
}

export interface NeighborTimers {
  /** REACHABLE lasts this long after a confirmation (Linux base_reachable_time: 30 s). */
  reachableMs: number;
  /** DELAY lasts this long before probing (Linux delay_first_probe_time: 5 s). */
  delayMs: number;
  /** Between two requests of one resolution (Linux retrans_time: 1 s). */
  retransMs: number;
  /** Requests per resolution before FAILED (Linux mcast_solicit / ucast_solicit: 3). */
  maxProbes: number;
  /** First back-off after FAILED; doubles per consecutive failure up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** Hold queue per neighbour: packets and bytes (Linux: unres_qlen_bytes). */
  holdPackets: number;
  holdBytes: number;
  /** All hold queues together, bytes: spoofed sources cannot make us hold much. */
  holdBytesTotal: number;
  /** Entries resolving (INCOMPLETE) at once: each costs broadcasts and a hold queue (Linux: gc thresholds). */
  maxIncomplete: number;
  /** A FAILED entry is forgotten this long after it failed, used or not (then a new packet starts afresh). */
  failedKeepMs: number;
}

export const DEFAULT_TIMERS: NeighborTimers = {
  reachableMs: 30_000,
  delayMs: 5_000,
  retransMs: 1_000,
  maxProbes: 3,
  backoffMs: 1_000,
  maxBackoffMs: 8_000,
  holdPackets: 8,
  holdBytes: 128 * 1024,
  holdBytesTotal: 1024 * 1024,
  maxIncomplete: 256,
  failedKeepMs: 10_000,
};

/** Result of NeighborTable.hold(). */
export const enum HoldResult {
  /** Queued. */
  Held = 0,
  /** Queued, and the entry's oldest packet was dropped to make room. */
  HeldDroppedOldest = 1,
  /** Not queued: too large, or the budget for all queues is used up. */
  Refused = 2,
  /** Not queued: the neighbour has FAILED. */
  Unreachable = 3,
}

export class NeighborTable {
  /**
   * Per interface (by index), address → entry. The address is keyed as a signed 32-bit value
   * (`ip | 0`), a V8 small integer: looking it up hashes no heap number, once per packet sent.
   */
  private readonly bySw: (Map<number, Neighbor> | undefined)[] = [];
  private count = 0;
  /** The entry last looked up (TCP sends to one peer in bursts). */
  private last: Neighbor | undefined = undefined;
  private heldTotal = 0;
  readonly timers: NeighborTimers;
  events: NeighborEvents | null = null;
  /**
   * Told about what learn() hears that other threads need (worker threads: an ARP packet reaches
   * one thread only). Null: one thread, nobody to tell.
   */
  share: ((sw: SwInterface, ip: number, macBuf: Buffer, macOff: number, reply: boolean, create: boolean) => void) | null = null;

  /** New neighbours not created because the table was full (of entries in use), or too many were resolving. */
  refused = 0;
  /** Entries removed to make room for new ones. */
  evicted = 0;
  /** Entries in INCOMPLETE now (kept by setState, set and remove). */
  private incompleteCount = 0;

  constructor(
    /** STALE entries unused for this long are removed; 0 = never (`neighbor-age`). */
    public ageMs: number,
    timers: Partial<NeighborTimers> = {},
    /** Most entries kept. */
    public maxEntries = 4096,
    /** 4: ARP, keyed by the address; 6: ND, keyed by the address's hash (see the `*6` methods). */
    readonly family: 4 | 6 = 4,
  ) {
    this.timers = { ...DEFAULT_TIMERS, ...timers };
    // A short neighbor-age also shortens how long a confirmation counts.
    if (ageMs > 0 && ageMs < this.timers.reachableMs) this.timers.reachableMs = ageMs;
  }

  get size(): number {
    return this.count;
  }

  lookup(sw: SwInterface, ip: number): Neighbor | undefined {
    const l = this.last;
    if (l !== undefined && l.ip === ip && l.sw === sw) return l;
    const n = this.bySw[sw.index]?.get(ip | 0);
    if (n !== undefined) this.last = n;
    return n;
  }

  /** IPv6: the entry for the address at a[off], or undefined. */
  lookup6(sw: SwInterface, a: Buffer, off: number): Neighbor | undefined {
    const l = this.last;
    if (l !== undefined && l.sw === sw && ip6Equals(l.ip6!, 0, a, off)) return l;
    let n: Neighbor | null | undefined = this.bySw[sw.index]?.get(ip6Hash(a, off));
    while (n !== undefined && n !== null && !ip6Equals(n.ip6!, 0, a, off)) n = n.chain;
    if (n === null || n === undefined) return undefined;
    this.last = n;
    return n;
  }

  /**
   * The entry to send a packet to `ip` on `sw` through, moving it along as a use does (STALE →
   * DELAY; FAILED → a new resolution once the back-off is over); creates an INCOMPLETE entry and
   * starts resolution when there is none. Undefined only when the table is full.
   */
  use(sw: SwInterface, ip: number, now: number): Neighbor | undefined {
    const n = this.lookup(sw, ip);
    if (n === undefined) return this.resolveNew(this.create(sw, ip, now, false, true), now);
    return this.used(n, now);
  }

  /** IPv6 use(): the address at a[off]. */
  use6(sw: SwInterface, a: Buffer, off: number, now: number): Neighbor | undefined {
    const n = this.lookup6(sw, a, off);
    if (n === undefined) return this.resolveNew(this.create(sw, ip6Hash(a, off), now, false, true, a, off), now);
    return this.used(n, now);
  }

  private resolveNew(n: Neighbor | undefined, now: number): Neighbor | undefined {
    if (n !== undefined) this.startResolution(n, now);
    return n;
  }

  private used(n: Neighbor, now: number): Neighbor {
    n.used = now;
    const state = n.state;
    if (state === NudState.Reachable && now - n.confirmed <= this.timers.reachableMs) return n;
    if (state === NudState.Reachable || state === NudState.Stale) {
      // A stale entry being used: give a confirmation delayMs to arrive, then probe.
      this.setState(n, NudState.Delay, now);
      n.due = now + this.timers.delayMs;
    } else if (state === NudState.Failed && now >= n.due) {
      this.startResolution(n, now);
    }
    return n;
  }

  /**
   * Queues a packet for an entry that has no MAC yet (INCOMPLETE), copying it. FAILED entries take
   * nothing; a full queue drops the oldest packet, as Linux does (the newest is likelier to matter).
   */
  hold(n: Neighbor, l3: Buffer, off: number, len: number, type: number, csumStartL3: number, gsoSize: number, traceId: number): HoldResult {
    if (n.state === NudState.Failed) return HoldResult.Unreachable;
    const t = this.timers;
    if (len > t.holdBytes) return HoldResult.Refused;
    // Once half the global budget is in use, each entry keeps one packet only: many (spoofed)
    // unresolved neighbours cannot use it all up and starve a real one.
    const perEntry = this.heldTotal + len > t.holdBytesTotal / 2 ? 1 : t.holdPackets;
    let result = HoldResult.Held;
    while (n.held.length > 0 && (n.held.length >= perEntry || n.heldBytes + len > t.holdBytes || this.heldTotal + len > t.holdBytesTotal)) {
      const old = n.held.shift()!;
      n.heldBytes -= old.data.length;
      this.heldTotal -= old.data.length;
      result = HoldResult.HeldDroppedOldest;
    }
    if (this.heldTotal + len > t.holdBytesTotal) return HoldResult.Refused;
    const data = Buffer.allocUnsafe(len);
    l3.copy(data, 0, off, off + len);
    n.held.push({ data, csumStartL3, gsoSize, type, traceId });
    n.heldBytes += len;
    this.heldTotal += len;
    return result;
  }

  /** Bytes held over all entries. */
  get heldBytes(): number {
    return this.heldTotal;
  }

  /**
   * An ARP packet from `ip` with sender MAC at macBuf[macOff..]. `reply`: an ARP reply unicast to
   * our MAC (it confirms reachability, as Linux's "solicited" update). `create`: make an entry if
   * there is none (a request for our address, RFC 826's merge rule; never a reply: nobody may
   * plant an entry we did not ask for). Returns the entry, if any.
   */
  learn(sw: SwInterface, ip: number, macBuf: Buffer, macOff: number, now: number, reply: boolean, create: boolean): Neighbor | undefined {
    let n = this.lookup(sw, ip);
    // Other threads have their own tables and may be the ones waiting for this answer: tell them
    // what is news (a confirmation, a new entry, a new or first MAC), not every repeat.
    if (this.share !== null && (reply || (n === undefined ? create : !n.usable || !macEqualsAt(n.mac, macBuf, macOff)))) {
      this.share(sw, ip, macBuf, macOff, reply, create);
    }
    if (n === undefined) {
      if (!create) return undefined;
      n = this.create(sw, ip, now);
      if (n === undefined) return undefined;
    }
    return this.update(n, macBuf, macOff, now, reply, true);
  }

  /**
   * IPv6: an NS with a source link-layer option (`solicited` false, `create` true, `override`
   * true: RFC 4861 §7.2.3) or an NA with a target link-layer option (`solicited` = its S flag,
   * `override` = its O flag, never creating: §7.2.5) from the address at a[off].
   */
  learn6(sw: SwInterface, a: Buffer, off: number, macBuf: Buffer, macOff: number, now: number, solicited: boolean, create: boolean, override: boolean): Neighbor | undefined {
    let n = this.lookup6(sw, a, off);
    if (n === undefined) {
      if (!create) return undefined;
      n = this.create(sw, ip6Hash(a, off), now, false, false, a, off);
      if (n === undefined) return undefined;
    }
    return this.update(n, macBuf, macOff, now, solicited, override);
  }

  private update(n: Neighbor, macBuf: Buffer, macOff: number, now: number, reply: boolean, override: boolean): Neighbor {
    if (n.state === NudState.Permanent) return n;
    const changed = !macEqualsAt(n.mac, macBuf, macOff);
    const wasUsable = n.usable;
    if (changed && wasUsable && !override) {
      // §7.2.5: a different MAC without Override does not replace ours; a REACHABLE entry becomes STALE.
      if (n.state === NudState.Reachable) this.setState(n, NudState.Stale, now);
      return n;
    }
    if (changed || !wasUsable) macBuf.copy(n.mac, 0, macOff, macOff + 6);
    // Heard from (VPP's age restarts with every ARP packet of the neighbour).
    n.updated = now;
    if (reply) {
      this.confirmEntry(n, now);
    } else if (changed || !wasUsable) {
      // A new MAC (or one at last) without a confirmation: usable but to be verified (Linux: STALE).
      this.setState(n, NudState.Stale, now);
    }
    if (!wasUsable) this.releaseHeld(n);
    return n;
  }

  /** Forward progress through `ip` (a TCP ACK that advanced snd.una): it is reachable. */
  confirm(sw: SwInterface, ip: number, now: number): void {
    const n = this.lookup(sw, ip);
    if (n === undefined || !n.usable || n.state === NudState.Permanent) return;
    n.confirmed = now;
    if (n.state !== NudState.Reachable) this.setState(n, NudState.Reachable, now);
  }

  /** IPv6 confirm(). */
  confirm6(sw: SwInterface, a: Buffer, off: number, now: number): void {
    const n = this.lookup6(sw, a, off);
    if (n === undefined || !n.usable || n.state === NudState.Permanent) return;
    n.confirmed = now;
    if (n.state !== NudState.Reachable) this.setState(n, NudState.Reachable, now);
  }

  /**
   * IPv6: a Solicited NA without a target link-layer option (a unicast probe's answer may omit
   * it, RFC 4861 §4.4). §7.2.5: an INCOMPLETE entry ignores it; otherwise the link-layer address
   * counts as the one we hold, so it is confirmed (REACHABLE).
   */
  confirmSolicited6(sw: SwInterface, a: Buffer, off: number, now: number): void {
    const n = this.lookup6(sw, a, off);
    if (n === undefined || !n.usable || n.state === NudState.Permanent) return;
    n.updated = now;
    this.confirmEntry(n, now);
  }

  /** `set ip neighbor … [static]`: a configured entry (static ones never change or age). */
  set(sw: SwInterface, ip: number, mac: Buffer, isStatic: boolean, now: number): Neighbor | undefined {
    const n = this.lookup(sw, ip) ?? this.create(sw, ip, now, true);
    return n === undefined ? undefined : this.configure(n, mac, isStatic, now);
  }

  /** IPv6 set(). */
  set6(sw: SwInterface, a: Buffer, mac: Buffer, isStatic: boolean, now: number): Neighbor | undefined {
    const n = this.lookup6(sw, a, 0) ?? this.create(sw, ip6Hash(a, 0), now, true, false, a, 0);
    return n === undefined ? undefined : this.configure(n, mac, isStatic, now);
  }

  /** IPv6 delete(). */
  delete6(sw: SwInterface, a: Buffer): boolean {
    const n = this.lookup6(sw, a, 0);
    if (n === undefined) return false;
    this.remove(this.bySw[sw.index]!, n);
    return true;
  }

  private configure(n: Neighbor, mac: Buffer, isStatic: boolean, now: number): Neighbor {
    const wasUsable = n.usable;
    mac.copy(n.mac);
    n.updated = now;
    n.confirmed = now;
    n.failures = 0;
    this.countState(n, isStatic ? NudState.Permanent : NudState.Reachable);
    n.state = isStatic ? NudState.Permanent : NudState.Reachable;
    if (!wasUsable) this.releaseHeld(n);
    return n;
  }

  /** `set ip neighbor del`; returns whether there was one. */
  delete(sw: SwInterface, ip: number): boolean {
    const m = this.bySw[sw.index];
    const n = this.lookup(sw, ip);
    if (m === undefined || n === undefined) return false;
    this.remove(m, n);
    return true;
  }

  /** Runs the state timers: retransmissions, DELAY → PROBE, FAILED, ageing. */
  tick(now: number): void {
    const t = this.timers;
    for (const m of this.bySw) {
      if (m === undefined) continue;
      for (const head of m.values()) for (let n: Neighbor | null = head, next: Neighbor | null; n !== null; n = next) {
        next = n.chain;
        switch (n.state) {
          case NudState.Incomplete:
          case NudState.Probe:
            if (now < n.due) break;
            if (n.probes >= t.maxProbes) {
              this.fail(n, now);
              break;
            }
            this.solicit(n, n.state === NudState.Probe, now);
            break;
          case NudState.Reachable:
            if (now - n.confirmed > t.reachableMs) this.setState(n, NudState.Stale, now);
            break;
          case NudState.Delay:
            if (now - n.confirmed <= t.reachableMs) this.setState(n, NudState.Reachable, now);
            else if (now >= n.due) {
              this.setState(n, NudState.Probe, now);
              n.probes = 0;
              this.solicit(n, true, now);
            }
            break;
          case NudState.Stale:
            if (this.ageMs > 0 && now - n.used > this.ageMs && now - n.updated > this.ageMs) this.remove(m, n);
            break;
          case NudState.Failed:
            // Forgotten failedKeepMs after it failed, however often packets try it (so spoofed
            // destinations cannot keep the table full of them); a new packet then starts afresh.
            if (now - n.updated > t.failedKeepMs) this.remove(m, n);
            break;
          default:
            break;
        }
      }
    }
  }

  /** Forgets every dynamic entry on an interface (it went down or lost its addresses). */
  flushInterface(sw: SwInterface): void {
    const m = this.bySw[sw.index];
    if (m === undefined) return;
    for (const n of this.entriesOf(m)) if (n.sw === sw && n.state !== NudState.Permanent) this.remove(m, n);
  }

  all(): Neighbor[] {
    const out: Neighbor[] = [];
    for (const m of this.bySw) if (m !== undefined) out.push(...this.entriesOf(m));
    return out.sort((a, b) => a.sw.index - b.sw.index || (a.ip6 !== null && b.ip6 !== null ? Buffer.compare(a.ip6, b.ip6) : a.ip - b.ip));
  }

  /** The entries of one interface's map, chains included (not for the per-packet path: it allocates). */
  private entriesOf(m: Map<number, Neighbor>): Neighbor[] {
    const out: Neighbor[] = [];
    for (const head of m.values()) for (let n: Neighbor | null = head; n !== null; n = n.chain) out.push(n);
    return out;
  }

  private create(sw: SwInterface, ip: number, now: number, configured = false, resolving = false, a6: Buffer | null = null, a6Off = 0): Neighbor | undefined {
    if (resolving && this.incompleteCount >= this.timers.maxIncomplete && !this.evict(NudState.Incomplete)) {
      this.refused++;
      return undefined;
    }
    if (this.count >= this.maxEntries && !this.evictAny() && !configured) {
      // Every entry is in use (reachable, or static): a new neighbour waits until one ages.
      this.refused++;
      return undefined;
    }
    const n = a6 === null ? new Neighbor(sw, ip >>> 0, now) : new Neighbor(sw, ip | 0, now, Buffer.from(a6.subarray(a6Off, a6Off + 16)));
    this.incompleteCount++; // a new entry starts INCOMPLETE
    let m = this.bySw[sw.index];
    if (m === undefined) {
      m = new Map();
      this.bySw[sw.index] = m;
    }
    // IPv6: a hash collision chains the new entry in front of the others.
    if (a6 !== null) n.chain = m.get(ip | 0) ?? null;
    m.set(ip | 0, n);
    this.count++;
    return n;
  }

  /**
   * Makes room in a full table, as Linux's forced garbage collection does: a FAILED entry first,
   * then the oldest INCOMPLETE one, then the least recently used STALE one. Reachable, probing
   * and static entries are never evicted. Runs only when the table is full.
   */
  private evictAny(): boolean {
    return this.evict(NudState.Failed) || this.evict(NudState.Incomplete) || this.evict(NudState.Stale);
  }

  private evict(state: NudState): boolean {
    let victim: Neighbor | undefined;
    let map: Map<number, Neighbor> | undefined;
    for (const m of this.bySw) {
      if (m === undefined) continue;
      for (const head of m.values()) for (let n: Neighbor | null = head; n !== null; n = n.chain) {
        if (n.state !== state) continue;
        if (victim === undefined || n.used < victim.used) {
          victim = n;
          map = m;
        }
      }
    }
    if (victim === undefined) return false;
    this.evicted++;
    this.remove(map!, victim);
    return true;
  }

  private startResolution(n: Neighbor, now: number): void {
    this.setState(n, NudState.Incomplete, now);
    n.probes = 0;
    this.solicit(n, false, now);
  }

  private solicit(n: Neighbor, unicast: boolean, now: number): void {
    n.probes++;
    n.due = now + this.timers.retransMs;
    this.events?.solicit(n, unicast);
  }

  private confirmEntry(n: Neighbor, now: number): void {
    n.confirmed = now;
    n.failures = 0;
    n.probes = 0;
    this.setState(n, NudState.Reachable, now);
  }

  private fail(n: Neighbor, now: number): void {
    n.failures++;
    this.setState(n, NudState.Failed, now);
    const t = this.timers;
    n.due = now + Math.min(t.maxBackoffMs, t.backoffMs * 2 ** Math.min(16, n.failures - 1));
    const dropped = n.held.length;
    this.dropHeld(n);
    this.events?.failed(n, dropped);
  }

  private setState(n: Neighbor, state: NudState, now: number): void {
    if (n.state === state) return;
    this.countState(n, state);
    n.state = state;
    n.updated = now;
  }

  private countState(n: Neighbor, next: NudState): void {
    if (n.state === NudState.Incomplete) this.incompleteCount--;
    if (next === NudState.Incomplete) this.incompleteCount++;
  }

  private releaseHeld(n: Neighbor): void {
    if (n.held.length === 0) return;
    this.events?.release(n);
    this.dropHeld(n);
  }

  private dropHeld(n: Neighbor): void {
    this.heldTotal -= n.heldBytes;
    n.held.length = 0;
    n.heldBytes = 0;
  }

  private remove(m: Map<number, Neighbor>, n: Neighbor): void {
    const key = n.ip | 0;
    const head = m.get(key);
    if (head === n) {
      if (n.chain !== null) m.set(key, n.chain);
      else m.delete(key);
    } else {
      for (let p = head ?? null; p !== null; p = p.chain) {
        if (p.chain === n) {
          p.chain = n.chain;
          break;
        }
      }
    }
    n.chain = null;
    this.count--;
    if (n.state === NudState.Incomplete) this.incompleteCount--;
    if (n.held.length > 0) this.events?.failed(n, n.held.length);
    this.dropHeld(n);
    if (this.last === n) this.last = undefined;
  }
}

function macEqualsAt(a: Buffer, b: Buffer, off: number): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[off + i]) return false;
  return true;
}
