/**
 * A set of objects kept in a dense array (each member knows its slot; removal moves the last
 * member into the hole), for collections with one add and one delete per connection: the HTTP
 * server's open connections, the TLS listener's.
 *
 * Why not a Set: V8's Set and Map leave a hole per delete and rebuild their table once the holes
 * fill it, i.e. every few dozen connections when few are open at a time. The table they leave
 * behind still points at the members it held; once it sits in the old generation (the Set is
 * long-lived), the scavenger treats those pointers as roots until the next full GC, so every
 * connection's objects were kept through two scavenges and promoted, then marked and swept
 * (bench/conn-micro.js --gc: ~1.3 KB promoted per connection, most of the new-connection GC
 * cost). Here a removed member's slot is cleared at once and the array only ever grows.
 */
export interface DenseMember {
  /** The member's index in its DenseSet, -1 when in none (one set per object at a time). */
  denseSlot: number;
}

export class DenseSet<T extends DenseMember> {
  private readonly items: (T | undefined)[] = [];
  private n = 0;

  get size(): number {
    return this.n;
  }

  has(x: T): boolean {
    return x.denseSlot >= 0 && this.items[x.denseSlot] === x;
  }

  add(x: T): void {
    if (this.has(x)) return;
    x.denseSlot = this.n;
    this.items[this.n++] = x;
  }

  delete(x: T): boolean {
    const i = x.denseSlot;
    if (i < 0 || this.items[i] !== x) return false;
    const last = --this.n;
    if (i !== last) {
      const y = this.items[last]!;
      this.items[i] = y;
      y.denseSlot = i;
    }
    this.items[last] = undefined;
    x.denseSlot = -1;
    return true;
  }

  clear(): void {
    for (let i = 0; i < this.n; i++) {
      this.items[i]!.denseSlot = -1;
      this.items[i] = undefined;
    }
    this.n = 0;
  }

  /** A copy of the members: callers may add or delete while they walk it. */
  toArray(): T[] {
    return this.items.slice(0, this.n) as T[];
  }

  /** The members as of the call, less those deleted meanwhile (members added meanwhile are not visited). */
  *[Symbol.iterator](): IterableIterator<T> {
    for (const x of this.toArray()) if (this.has(x)) yield x;
  }
}
