/**
 * Out-of-order receive data (RFC 9293 §3.10.7.4 "seventh", RFC 5681 §4.2): segments that arrive
 * beyond RCV.NXT are copied and kept sorted and non-overlapping until the hole before them is
 * filled. Also produces the SACK blocks we advertise (RFC 2018 §4: the block holding the most
 * recently received segment first).
 */
import { seqAdd, seqGeq, seqGt, seqLeq, seqLt } from './seq.js';
import { copyBytes } from '../wire/bytes.js';
import { clearArray } from '../util/array.js';

interface Piece {
  seq: number;
  end: number;
  data: Buffer;
}

/**
 * Most pieces held per connection. A window of MSS-sized segments needs far fewer (256 KiB /
 * 1460 ≈ 180); the limit keeps a peer that sends tiny segments into every other hole from making
 * insertion and SACK generation quadratic.
 */
export const MAX_PIECES = 1024;

export class Reassembly {
  private pieces: Piece[] = [];
  /** Bytes held. */
  bytes = 0;
  /** The most recently received out-of-order range, for the first SACK block. */
  private lastSeq = 0;
  private lastEnd = 0;
  /**
   * The duplicate found by the last insert() or overlapBelow() (RFC 2883): the first run of bytes
   * already held, extended while the runs are contiguous; dupStart = dupEnd when there was none.
   */
  dupStart = 0;
  dupEnd = 0;

  get count(): number {
    return this.pieces.length;
  }

  /**
   * Stores a copy of buf[off .. off+len) at sequence `seq`, keeping what is already held.
   * Returns false (storing nothing) when MAX_PIECES are held: the peer will retransmit.
   */
  insert(seq: number, buf: Buffer, off: number, len: number): boolean {
    const ps = this.pieces;
    this.dupStart = this.dupEnd = 0;
    if (ps.length >= MAX_PIECES) return false;
    let s = seq | 0;
    const e = seqAdd(seq, len);
    this.lastSeq = s;
    this.lastEnd = e;
    // First piece that ends after s.
    let i = 0;
    while (i < ps.length && seqLeq(ps[i].end, s)) i++;
    while (seqLt(s, e)) {
      const p = ps[i];
      if (p === undefined || seqGeq(p.seq, e)) {
        this.add(i, s, e, buf, off + ((s - seq) | 0));
        break;
      }
      if (seqLt(s, p.seq)) {
        this.add(i, s, p.seq, buf, off + ((s - seq) | 0));
        i++;
      }
      // Skip what p already holds (a duplicate).
      if (seqGt(p.end, s)) {
        this.noteDup(seqGt(p.seq, s) ? p.seq : s, seqLt(p.end, e) ? p.end : e);
        s = p.end;
      }
      i++;
    }
    return true;
  }

  /**
   * Finds the held bytes below `end` (data an in-order segment ending there brought again) and
   * records them as the duplicate (dupStart/dupEnd); returns whether there were any.
   */
  overlapBelow(end: number): boolean {
    const ps = this.pieces;
    this.dupStart = this.dupEnd = 0;
    for (let i = 0; i < ps.length && seqLt(ps[i].seq, end); i++) this.noteDup(ps[i].seq, seqLt(ps[i].end, end) ? ps[i].end : end);
    return this.dupStart !== this.dupEnd;
  }

  /** The first duplicate run is kept; a later one only extends it when contiguous (Linux's tcp_dsack_extend). */
  private noteDup(s: number, e: number): void {
    if (this.dupStart === this.dupEnd) {
      this.dupStart = s;
      this.dupEnd = e;
    } else if (s === this.dupEnd) this.dupEnd = e;
  }

  private add(i: number, s: number, e: number, buf: Buffer, off: number): void {
    const n = (e - s) | 0;
    const data = Buffer.allocUnsafe(n);
    copyBytes(data, 0, buf, off, n);
    this.pieces.splice(i, 0, { seq: s, end: e, data });
    this.bytes += n;
  }

  /**
   * Removes and returns the first piece if it starts at or before `rcvNxt` (trimmed to start at
   * rcvNxt), or undefined. Pieces entirely below rcvNxt are discarded.
   */
  takeAt(rcvNxt: number): Buffer | undefined {
    const ps = this.pieces;
    while (ps.length > 0) {
      const p = ps[0];
      if (seqGt(p.seq, rcvNxt)) return undefined;
      ps.shift();
      this.bytes -= p.data.length;
      if (seqLeq(p.end, rcvNxt)) continue;
      const skip = (rcvNxt - p.seq) | 0;
      return skip > 0 ? p.data.subarray(skip) : p.data;
    }
    return undefined;
  }

  /**
   * Writes up to `max` SACK blocks (merged ranges) into out as [start, end) pairs and returns
   * how many: the range with the latest segment first, then the others from highest down.
   */
  sackBlocks(out: Int32Array, max: number): number {
    const ps = this.pieces;
    if (ps.length === 0 || max <= 0) return 0;
    // Merge adjacent pieces into ranges, highest first, into a scratch list.
    const ranges = scratch;
    clearArray(ranges);
    let rs = ps[0].seq;
    let re = ps[0].end;
    for (let i = 1; i < ps.length; i++) {
      if (ps[i].seq === re) re = ps[i].end;
      else {
        ranges.push(rs, re);
        rs = ps[i].seq;
        re = ps[i].end;
      }
    }
    ranges.push(rs, re);
    let n = 0;
    let first = -1;
    for (let i = 0; i < ranges.length; i += 2) {
      if (seqLeq(ranges[i], this.lastSeq) && seqGeq(ranges[i + 1], this.lastEnd)) {
        first = i;
        out[0] = ranges[i];
        out[1] = ranges[i + 1];
        n = 1;
        break;
      }
    }
    for (let i = ranges.length - 2; i >= 0 && n < max; i -= 2) {
      if (i === first) continue;
      out[2 * n] = ranges[i];
      out[2 * n + 1] = ranges[i + 1];
      n++;
    }
    return n;
  }

  clear(): void {
    this.pieces.length = 0;
    this.bytes = 0;
  }
}

const scratch: number[] = [];

/**
 * The SACK blocks of an ACK (RFC 2018): the ranges `rs` holds, and an out-of-order FIN's
 * sequence number, which a block covers like data (the FIN occupies it; Linux reports it so, and
 * a sender that SACKs sequence space sees its FIN arrived). A FIN right after a held range
 * extends that range; one on its own gets a block, first when it is the latest arrival
 * (`finLatest`), else after the first. Returns the number of blocks written to out.
 */
export function sackBlocksWithFin(
  rs: Reassembly | null,
  fin: boolean,
  finSeq: number,
  finLatest: boolean,
  out: Int32Array,
  max: number,
): number {
  let n = rs !== null && rs.count > 0 ? rs.sackBlocks(out, max) : 0;
  if (!fin || max <= 0) return n;
  for (let i = 0; i < n; i++) {
    if (out[2 * i + 1] === finSeq) {
      out[2 * i + 1] = finSeq + 1;
      return n;
    }
  }
  const at = finLatest || n === 0 ? 0 : 1;
  if (n === max) n--; // the last block gives way
  for (let i = n; i > at; i--) {
    out[2 * i] = out[2 * i - 2];
    out[2 * i + 1] = out[2 * i - 1];
  }
  out[2 * at] = finSeq;
  out[2 * at + 1] = finSeq + 1;
  return n + 1;
}
