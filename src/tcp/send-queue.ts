/**
 * The send queue: application chunks kept by reference (never copied) until segmentation
 * copies bytes into a TX slot. Position 0 is SND.UNA. A cursor remembers where the last
 * copy ended so that sending consecutive segments does not rescan the chunk list.
 */
import { copyBytes } from '../wire/bytes.js';
import { clearArray } from '../util/array.js';
export class SendQueue {
  private chunks: (Buffer | undefined)[] = [];
  private head = 0;
  private headOff = 0;
  /** Bytes queued (unacknowledged + unsent). */
  bytes = 0;
  // Cursor: byte position `cPos` is at chunks[cIdx][cOff]; cPos < 0 = invalid.
  private cPos = -1;
  private cIdx = 0;
  private cOff = 0;

  push(b: Buffer): void {
    this.chunks.push(b);
    this.bytes += b.length;
  }

  /** Drops n acknowledged bytes from the front. */
  drop(n: number): void {
    if (n <= 0) return;
    if (n > this.bytes) n = this.bytes;
    this.bytes -= n;
    const chunks = this.chunks;
    let left = n;
    while (left > 0) {
      const c = chunks[this.head]!;
      const avail = c.length - this.headOff;
      if (left >= avail) {
        left -= avail;
        chunks[this.head] = undefined;
        this.head++;
        this.headOff = 0;
      } else {
        this.headOff += left;
        left = 0;
      }
    }
    if (this.cPos >= 0) {
      this.cPos -= n;
      if (this.cPos < 0 || this.cIdx < this.head) this.cPos = -1;
    }
    if (this.head === chunks.length) {
      clearArray(chunks);
      this.head = 0;
      this.cPos = -1;
    } else if (this.head > 64 && this.head * 2 > chunks.length) {
      chunks.splice(0, this.head);
      this.cIdx -= this.head;
      this.head = 0;
    }
  }

  /** Set by locate(): the chunk holding the range, and where in it the range starts. */
  spanChunk: Buffer | null = null;
  spanOff = 0;
  private seekIdx = 0;
  private seekOff = 0;

  /** Finds byte position pos (seekIdx/seekOff), from the cursor when it lies at or before pos, else from the head. */
  private seek(pos: number): void {
    const chunks = this.chunks;
    const fromCursor = this.cPos >= 0 && pos >= this.cPos;
    let idx = fromCursor ? this.cIdx : this.head;
    let coff = fromCursor ? this.cOff : this.headOff;
    let skip = fromCursor ? pos - this.cPos : pos;
    while (skip > 0) {
      const avail = chunks[idx]!.length - coff;
      if (skip < avail) {
        coff += skip;
        skip = 0;
      } else {
        skip -= avail;
        idx++;
        coff = 0;
      }
    }
    this.seekIdx = idx;
    this.seekOff = coff;
  }

  /**
   * Whether queue bytes [pos, pos+len) lie in one chunk; if so spanChunk/spanOff say where (for a
   * sender that hands the bytes on by reference instead of copying them) and the cursor moves past
   * them as copy() would move it.
   */
  locate(pos: number, len: number): boolean {
    this.seek(pos);
    let idx = this.seekIdx;
    let coff = this.seekOff;
    const c = this.chunks[idx]!;
    if (c.length - coff < len) return false;
    this.spanChunk = c;
    this.spanOff = coff;
    coff += len;
    if (coff === c.length) {
      idx++;
      coff = 0;
    }
    this.cPos = pos + len;
    this.cIdx = idx;
    this.cOff = coff;
    return true;
  }

  /** Copies queue bytes [pos, pos+len) to dst at dstOff. */
  copy(pos: number, len: number, dst: Buffer, dstOff: number): void {
    const chunks = this.chunks;
    this.seek(pos);
    let idx = this.seekIdx;
    let coff = this.seekOff;
    let left = len;
    while (left > 0) {
      const c = chunks[idx]!;
      const avail = c.length - coff;
      const n = left < avail ? left : avail;
      copyBytes(dst, dstOff, c, coff, n);
      dstOff += n;
      left -= n;
      if (n === avail) {
        idx++;
        coff = 0;
      } else coff += n;
    }
    this.cPos = pos + len;
    this.cIdx = idx;
    this.cOff = coff;
  }

  /**
   * Empty and idle (TcpConnection.compact): give the list's backing store back (152 bytes that
   * clearArray keeps for the next response). The next push allocates it again, once per idle
   * period, not per response.
   */
  compact(): void {
    if (this.bytes === 0 && this.head === 0 && this.chunks.length === 0) this.chunks.length = 0;
  }

  clear(): void {
    this.chunks.length = 0;
    this.head = 0;
    this.headOff = 0;
    this.bytes = 0;
    this.cPos = -1;
  }
}
