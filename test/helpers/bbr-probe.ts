/**
 * A scripted peer for probing our bbr sender in process (test/unit/review-bbr*-probes.test.ts):
 * a handshake with a chosen RTT, and a receiver that ACKs each data segment one RTT after it left.
 */
import { TcpHarness } from '../../src/tcp/testing.js';
import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.js';

const A = TCP_ACK;
export const HMSS = 1460;

/** A bbr connection whose handshake took `rtt` ms (SYN-ACK → ACK), optionally with timestamps echoing `tsBack` ms into the past. */
export function open(rtt: number, o: { ts?: boolean; tsBack?: number; window?: number } = {}): TcpHarness {
  const h = new TcpHarness({ congestionControl: 'bbr', rcvBuf: 4 << 20 });
  const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: HMSS, sackOk: true, window: 65535, wscale: 7, ts: o.ts ? [1, 0] : undefined })[0];
  h.iss = sa.seq;
  h.now += rtt;
  const echo = o.ts ? ((sa.tsVal! - (o.tsBack ?? 0)) >>> 0) : 0;
  h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: o.window ?? 65535, ts: o.ts ? [2, echo] : undefined });
  return h;
}

/** A receiver that ACKs every data segment `rtt` ms after it left, each ACK covering all received so far; runs `ms`. */
export function download(h: TcpHarness, ms: number, rtt: number, opts: { split?: number } = {}): { bytes: number; segs: number; maxBurst: number } {
  const c = h.conn!;
  const base = h.seq();
  let acked = 0;
  let segs = 0;
  const pending: { at: number; end: number; start: number }[] = [];
  let maxBurst = 0;
  const take = (out: { seq: number; payload: Buffer }[]) => {
    let burst = 0;
    for (const s of out) {
      if (s.payload.length === 0) continue;
      segs++;
      burst += s.payload.length;
      const off = (s.seq - base) | 0;
      pending.push({ at: h.now + rtt, start: off, end: off + s.payload.length });
    }
    if (burst > maxBurst) maxBurst = burst;
  };
  take(h.flush());
  const end = h.now + ms;
  while (h.now < end) {
    const next = Math.min(pending[0]?.at ?? Infinity, c.paceAt, c.rtoAt, c.ptoAt, h.now + 1);
    if (next > h.now) take(h.advance(Math.max(0.001, next - h.now)));
    while (pending.length > 0 && pending[0].at <= h.now) {
      const p = pending.shift()!;
      if (p.end <= acked) continue;
      if (opts.split !== undefined) {
        // ACK division: the receiver acknowledges the segment in `split` pieces.
        const step = Math.ceil((p.end - p.start) / opts.split);
        for (let x = p.start + step; x < p.end; x += step) take(h.in({ flags: A, seq: h.pseq(), ack: (base + x) | 0, window: 65535 }));
      }
      acked = p.end;
      take(h.in({ flags: A, seq: h.pseq(), ack: (base + acked) | 0, window: 65535 }));
    }
  }
  return { bytes: acked, segs, maxBurst };
}

