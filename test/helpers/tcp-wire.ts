/**
 * Two TcpStacks joined in memory: each QueueSink copies the segments its stack writes into one
 * shared queue, addressed to the peer stack; the test moves them (and can drop, delay or reorder).
 */
import type { TcpStack } from '../../src/tcp/stack.js';
import type { SegmentSink } from '../../src/tcp/types.js';

/** One segment in flight: to which stack, from and to which address, its bytes. */
export interface Wire {
  to: TcpStack;
  src: number;
  dst: number;
  bytes: Buffer;
}

export class QueueSink implements SegmentSink {
  readonly buf = Buffer.alloc(2048);
  readonly off = 0;
  readonly room = 1600;
  peer: TcpStack | null = null;
  private src = 0;
  private dst = 0;
  constructor(private readonly queue: Wire[]) {}
  begin(localIp: number, remoteIp: number): boolean {
    this.src = localIp;
    this.dst = remoteIp;
    return true;
  }
  end(tcpLen: number): void {
    this.queue.push({ to: this.peer!, src: this.src, dst: this.dst, bytes: Buffer.from(this.buf.subarray(0, tcpLen)) });
  }
}

/** Delivers up to 5000 queued segments to their stacks, then runs the stacks' timers and flushes them. */
export function moveSegments(queue: Wire[], now: number, stacks: TcpStack[]): void {
  let n = 0;
  while (queue.length > 0 && n++ < 5000) {
    const w = queue.shift()!;
    w.to.input(w.src, w.dst, w.bytes, 0, w.bytes.length, now);
  }
  for (const s of stacks) s.tick(now);
  for (const s of stacks) s.flush(now);
}
