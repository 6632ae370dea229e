/**
 * PLACEHOLDER until the tracing work lands: a PacketTracer that never traces. The real one
 * (VPP's `trace add` / `show trace`) replaces this file.
 */
import type { Tracer } from './context.js';

export class PacketTracer implements Tracer {
  armed = false;
  tracedThisVector = false;
  readonly frameTrace: Int32Array;

  constructor(vectorCapacity: number, _now: () => number) {
    this.frameTrace = new Int32Array(vectorCapacity).fill(-1);
  }

  add(_node: string, _count: number): void {}

  startVector(_n: number): void {
    this.tracedThisVector = false;
  }

  record(_id: number, _node: string, ..._lines: string[]): void {}

  show(_max = 50): string {
    return 'No packets in trace buffer';
  }

  clear(): void {}
}
