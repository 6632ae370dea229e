/**
 * An indexed binary min-heap of timer owners (connections). Each item stores its own heap
 * position and key, so updates and removals are O(log n) without a lookup and without
 * allocating an entry per timer.
 */
export interface HeapItem {
  heapIdx: number;
  heapKey: number;
}

export class TimerHeap<T extends HeapItem> {
  private a: T[] = [];

  get size(): number {
    return this.a.length;
  }

  topKey(): number {
    return this.a.length > 0 ? this.a[0].heapKey : Infinity;
  }

  top(): T | undefined {
    return this.a[0];
  }

  /** Inserts `it` with `key`, or moves it if it is already in the heap. */
  set(it: T, key: number): void {
    if (it.heapIdx >= 0) {
      const old = it.heapKey;
      it.heapKey = key;
      if (key < old) this.up(it.heapIdx);
      else if (key > old) this.down(it.heapIdx);
      return;
    }
    it.heapKey = key;
    it.heapIdx = this.a.length;
    this.a.push(it);
    this.up(it.heapIdx);
  }

  /**
   * Inserts `it` (not in the heap), or moves it after its key went down; the caller has stored
   * the new key in `it.heapKey`. No key argument: a double passed to a call V8 does not inline is
   * boxed, and this runs for every segment sent (the RTO and probe timers are re-armed).
   */
  keyLowered(it: T): void {
    if (it.heapIdx < 0) {
      it.heapIdx = this.a.length;
      this.a.push(it);
    }
    this.up(it.heapIdx);
  }

  pop(): T | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const t = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      last.heapIdx = 0;
      this.down(0);
    }
    t.heapIdx = -1;
    return t;
  }

  remove(it: T): void {
    const i = it.heapIdx;
    if (i < 0) return;
    const a = this.a;
    const last = a.pop()!;
    it.heapIdx = -1;
    if (i < a.length) {
      a[i] = last;
      last.heapIdx = i;
      this.up(i);
      this.down(last.heapIdx);
    }
  }

  private up(i: number): void {
    const a = this.a;
    const it = a[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p].heapKey <= it.heapKey) break;
      a[i] = a[p];
      a[i].heapIdx = i;
      i = p;
    }
    a[i] = it;
    it.heapIdx = i;
  }

  private down(i: number): void {
    const a = this.a;
    const n = a.length;
    const it = a[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && a[c + 1].heapKey < a[c].heapKey) c++;
      if (a[c].heapKey >= it.heapKey) break;
      a[i] = a[c];
      a[i].heapIdx = i;
      i = c;
    }
    a[i] = it;
    it.heapIdx = i;
  }
}
