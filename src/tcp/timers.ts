/**
 * A connection's timers. Each is an absolute deadline on the connection (ms, Infinity = off);
 * the stack keeps connections in one heap keyed by the earliest of them (deadlineOf) and calls
 * runTimers when it passes. Here: arming them, and what each does when it fires:
 * - retransmission (RFC 6298; the handshake's SYN and SYN-ACK too), with exponential backoff;
 * - persist (RFC 9293 §3.8.6.1): zero-window probes with backoff;
 * - delayed ACK (RFC 9293 §3.8.6.3, 40 ms like Linux);
 * - keep-alive (RFC 9293 §3.8.4), off by default;
 * - linger: FIN_WAIT_2's wait for the peer's FIN;
 * - the loss-recovery timers (RACK reordering, tail loss probe), run by the recovery algorithm;
 * - the pacer's (bbr): the time the next burst may leave (recovery-sack.ts).
 * TIME_WAIT's 2MSL wait is the stack's FIFO, not a timer here.
 */
import type { TcpConnection } from './connection.js';
import { sendSyn, sendSynAck, transmit } from './output.js';
import { rtoCur } from './rtt.js';
import { seqAdd, seqGt, seqSub } from './seq.js';
import { CLOSED, CLOSE_WAIT, ESTABLISHED, FIN_WAIT_2, SYN_RECEIVED, SYN_SENT } from './types.js';

/** Starts the retransmission timer if data is outstanding and it is not running (RFC 6298 §5.1). */
export function armRto(c: TcpConnection, now: number): void {
  if (c.rtoAt === Infinity && !c.persisting) {
    c.rtoAt = now + rtoCur(c);
    c.stack.timerUpdate(c);
  }
}

/** RFC 6298 §5.2/5.3 after an ACK of new data: stop the timer when all is acknowledged, else restart it. */
export function restartRto(c: TcpConnection, now: number): void {
  if (c.sndUna === c.sndMax) {
    c.rtoAt = Infinity;
    c.ptoAt = Infinity;
  } else if (!c.persisting) {
    c.rtoAt = now + rtoCur(c);
    c.stack.timerUpdate(c);
    c.rec.armProbe(now);
  }
}

/** The delayed ACK for data just received in order, unless one is pending already. */
export function armDelayedAck(c: TcpConnection, now: number): void {
  if (c.delackAt === Infinity || c.delackAt < now) {
    c.delackAt = now + c.stack.opts.delayedAckMs;
    c.stack.timerUpdate(c);
  }
}

/** Our FIN was acknowledged in FIN_WAIT_1: wait finWait2Ms for the peer's. */
export function armFinWait2(c: TcpConnection, now: number): void {
  c.lingerAt = now + c.stack.opts.finWait2Ms;
  c.stack.timerUpdate(c);
}

/** The connection is established: the keep-alive idle timer starts (if enabled). */
export function armKeepAlive(c: TcpConnection, now: number): void {
  if (c.stack.opts.keepAliveMs > 0) {
    c.kaAt = now + c.stack.opts.keepAliveMs;
    c.stack.timerUpdate(c);
  }
}

/** The connection enters TIME_WAIT: every timer off but the 2MSL deadline (the stack's FIFO times it). */
export function startTimeWait(c: TcpConnection, now: number): void {
  c.rtoAt = Infinity;
  c.persistAt = Infinity;
  c.kaAt = Infinity;
  c.delackAt = Infinity;
  c.reoAt = Infinity;
  c.ptoAt = Infinity;
  c.paceAt = Infinity;
  c.persisting = false;
  c.lingerAt = now + c.stack.opts.timeWaitMs;
}

/** The peer's window is zero with nothing in flight: probe it (the persist timer replaces the RTO). */
export function startPersist(c: TcpConnection, now: number): void {
  c.persisting = true;
  c.probes = 0;
  c.persistShift = 0;
  c.rtoAt = Infinity;
  c.persistAt = now + persistInterval(c);
  c.stack.timerUpdate(c);
}

/** The peer's window reopened: persist ends, and the RTO covers whatever is outstanding again. */
export function stopPersist(c: TcpConnection, now: number): void {
  c.persisting = false;
  c.persistAt = Infinity;
  c.rec.onWindowOpen();
  if (c.sndMax !== c.sndUna) armRto(c, now);
}

function persistInterval(c: TcpConnection): number {
  const o = c.stack.opts;
  let r = c.rto * 2 ** c.persistShift;
  if (r < o.rtoMin) r = o.rtoMin;
  return r > o.rtoMax ? o.rtoMax : r;
}

/** Runs the timers of c due at `now`. */
export function runTimers(c: TcpConnection, now: number): void {
  const st = c.stack;
  const o = st.opts;
  if (c.lingerAt <= now) {
    c.lingerAt = Infinity;
    if (c.state === FIN_WAIT_2) {
      st.err('fin-wait-2-timeout');
      st.destroy(c, true);
      return;
    }
  }
  if (c.rtoAt <= now) {
    c.rtoAt = Infinity;
    c.ptoAt = Infinity;
    c.reoAt = Infinity;
    onRto(c, now);
    if (c.state === CLOSED) return;
  }
  if (c.reoAt <= now || c.ptoAt <= now) {
    c.rec.onTimer(now);
    if (c.state === CLOSED) return;
  }
  if (c.paceAt <= now) {
    // The pacer's deadline passed: the next burst may go.
    c.paceAt = Infinity;
    st.markDirty(c);
  }
  if (c.persistAt <= now) {
    c.persistAt = Infinity;
    if (c.persisting) {
      if (c.probes >= o.maxRetries) {
        st.err('persist-timeout');
        c.abort();
        return;
      }
      c.probes++;
      // Zero-window probe: one octet of new data beyond the window (RFC 9293 §3.8.6.1).
      const n = transmit(c, c.sndUna, 1, now, true);
      if (n > 0) {
        st.counters.windowProbes++;
        const e = seqAdd(c.sndUna, n);
        if (seqGt(e, c.sndMax)) {
          c.rec.sentOutside(c.sndMax, e, now);
          c.sndMax = e;
        }
        if (seqGt(e, c.sndNxt)) c.sndNxt = e;
      }
      if (c.rto * 2 ** c.persistShift < o.rtoMax) c.persistShift++;
      c.persistAt = now + persistInterval(c);
    }
  }
  if (c.delackAt <= now) {
    c.delackAt = Infinity;
    if (c.rcvNxt !== c.lastAckSent && c.state !== SYN_RECEIVED) {
      c.ackPending = true;
      st.markDirty(c);
    }
  }
  if (c.kaAt <= now) {
    c.kaAt = Infinity;
    const s = c.state;
    if (o.keepAliveMs > 0 && (s === ESTABLISHED || s === CLOSE_WAIT || s === FIN_WAIT_2)) {
      const idleUntil = c.lastRecvAt + o.keepAliveMs + c.kaProbes * o.keepAliveIntervalMs;
      if (idleUntil > now) c.kaAt = idleUntil;
      else if (c.kaProbes >= o.keepAliveProbes) {
        st.err('keepalive-timeout');
        c.abort();
        return;
      } else {
        // RFC 9293 §3.8.4: a segment with SEG.SEQ = SND.NXT - 1 and no data.
        c.kaProbes++;
        st.counters.keepAliveProbes++;
        transmit(c, seqSub(c.sndUna, 1), 0, now, false);
        c.kaAt = now + o.keepAliveIntervalMs;
      }
    }
  }
}

/** The retransmission timer fired. */
function onRto(c: TcpConnection, now: number): void {
  const st = c.stack;
  const o = st.opts;
  if (c.state === SYN_SENT || c.state === SYN_RECEIVED) {
    // The handshake: our SYN or SYN-ACK again, with backoff, up to synAckRetries times.
    if (c.retries >= o.synAckRetries) {
      const active = c.state === SYN_SENT;
      st.err(active ? 'connect-timeout' : 'syn-ack-timeout');
      st.destroy(c, active || c.active);
      return;
    }
    c.retries++;
    c.backoff++;
    if (c.state === SYN_SENT) sendSyn(c, now);
    else {
      st.counters.synAckRetransmits++;
      sendSynAck(c, now);
    }
    st.counters.timeouts++;
    c.rtoAt = now + rtoCur(c);
    return;
  }
  if (c.sndMax === c.sndUna || c.persisting) return;
  if (c.retries >= o.maxRetries) {
    st.err('retransmit-timeout');
    c.abort();
    return;
  }
  st.counters.timeouts++;
  // RFC 5681 §3.1 eq. 4 only for the first timeout of this data, and not again when a fast
  // recovery already reduced ssthresh (as Linux).
  c.cc.onRto(c, (c.sndMax - c.sndUna) | 0, c.retries === 0 && !c.rec.inRecovery, now);
  c.retries++;
  c.rttActive = false;
  c.rec.onRto(now);
  // RFC 6298 §5.5: back off the timer.
  if (c.rto * 2 ** c.backoff < o.rtoMax) c.backoff++;
  st.markDirty(c);
}
