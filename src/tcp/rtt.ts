/** RFC 6298 round-trip estimation and the retransmission timeout it gives. */
import type { TcpConnection } from './connection.js';

/**
 * One RTT sample r (ms) (RFC 6298 §2 with clock granularity G = 1 ms); resets the backoff.
 * `coarse`: from timestamps, in whole milliseconds.
 */
export function rttSample(c: TcpConnection, r: number, coarse = false): void {
  if (r < 0) return;
  // On SACK connections the minimum (RACK's, bbr's) comes from the send log (recovery-sack.ts,
  // µs resolution), not from timestamps in whole milliseconds (0 on a LAN).
  if (r < c.minRtt && !(coarse && c.sackOk)) c.minRtt = r;
  if (!c.hasRtt) {
    c.hasRtt = true;
    c.srtt = r;
    c.rttvar = r / 2;
  } else {
    const d = c.srtt - r;
    c.rttvar = 0.75 * c.rttvar + 0.25 * (d < 0 ? -d : d);
    c.srtt = 0.875 * c.srtt + 0.125 * r;
  }
  const o = c.stack.opts;
  let rto = c.srtt + Math.max(1, 4 * c.rttvar);
  if (rto < o.rtoMin) rto = o.rtoMin;
  if (rto > o.rtoMax) rto = o.rtoMax;
  c.rto = rto;
  c.backoff = 0;
}

/** The current retransmission timeout: RTO doubled per backoff step (RFC 6298 §5.5), at most rtoMax. */
export function rtoCur(c: TcpConnection): number {
  const r = c.rto * 2 ** c.backoff;
  return r > c.stack.opts.rtoMax ? c.stack.opts.rtoMax : r;
}
