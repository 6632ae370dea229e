/**
 * Liveness and readiness, as pure logic over a clock passed in (tests use a fake one).
 *
 * Liveness (`/healthz`): the event loop that drains the AF_PACKET rings is turning. A heartbeat
 * timer beats every `intervalMs`; a gap between two beats longer than `stallThresholdMs` is a
 * stall. While the loop is stuck nothing can answer at all (the probe times out); once it
 * turns again the stall is reported for `holdMs` more, so a probe sees it. A ring is "not
 * drained" when the kernel delivered frames into it and userspace consumed none for longer
 * than the threshold.
 *
 * Readiness (`/readyz`): interfaces up, an address configured, an HTTP server listening, start-up
 * finished, not shutting down, and live.
 */

export interface HealthOptions {
  /** Heartbeat period, ms (default 250). */
  intervalMs?: number;
  /** A gap between beats longer than this is a stall, ms (default 2000). */
  stallThresholdMs?: number;
  /** How long a past stall keeps /healthz failing, ms (default 10000). */
  holdMs?: number;
}

export const HEALTH_DEFAULTS = { intervalMs: 250, stallThresholdMs: 2000, holdMs: 10_000 };

/** Counters of one RX ring: what the kernel put in, what userspace took out. */
export interface RingSample {
  name: string;
  /** Frames the kernel delivered to the ring (drops included). */
  seen: number;
  /** Frames userspace took out of the ring. */
  consumed: number;
}

export interface Stall {
  /** When the loop turned again (clock ms). */
  endedAt: number;
  /** How long it did not turn, ms. */
  durationMs: number;
}

export interface CheckResult {
  ok: boolean;
  /** Why not, one line each, saying what to look at. */
  reasons: string[];
}

interface RingState {
  seen: number;
  consumed: number;
  stuckSince: number | null;
}

export class LoopHealth {
  readonly intervalMs: number;
  readonly stallThresholdMs: number;
  readonly holdMs: number;
  /** Stalls seen since start. */
  stalls = 0;
  lastStall: Stall | null = null;
  /** Longest gap between beats since start, ms. */
  maxGapMs = 0;
  private lastBeat: number;
  private readonly rings = new Map<string, RingState>();

  constructor(now: number, options: HealthOptions = {}) {
    this.intervalMs = options.intervalMs ?? HEALTH_DEFAULTS.intervalMs;
    this.stallThresholdMs = options.stallThresholdMs ?? HEALTH_DEFAULTS.stallThresholdMs;
    this.holdMs = options.holdMs ?? HEALTH_DEFAULTS.holdMs;
    this.lastBeat = now;
  }

  /** Called by the heartbeat timer. */
  beat(now: number): void {
    const gap = now - this.lastBeat;
    if (gap > this.maxGapMs) this.maxGapMs = gap;
    if (gap > this.stallThresholdMs) {
      this.stalls++;
      this.lastStall = { endedAt: now, durationMs: gap };
    }
    this.lastBeat = now;
  }

  /** Called with fresh ring counters (every beat or so). */
  sampleRings(samples: readonly RingSample[], now: number): void {
    for (const s of samples) {
      const prev = this.rings.get(s.name);
      if (prev === undefined) {
        this.rings.set(s.name, { seen: s.seen, consumed: s.consumed, stuckSince: null });
        continue;
      }
      if (s.consumed !== prev.consumed) prev.stuckSince = null;
      else if (s.seen !== prev.seen && prev.stuckSince === null) prev.stuckSince = now;
      prev.seen = s.seen;
      prev.consumed = s.consumed;
    }
  }

  /** Gap since the last beat, ms: how long the loop has not turned, as of `now`. */
  sinceBeat(now: number): number {
    return now - this.lastBeat;
  }

  check(now: number): CheckResult {
    const reasons: string[] = [];
    const since = now - this.lastBeat;
    if (since > this.stallThresholdMs) {
      reasons.push(`event loop has not turned for ${Math.round(since)} ms (threshold ${this.stallThresholdMs} ms)`);
    }
    const st = this.lastStall;
    if (st !== null && now - st.endedAt < this.holdMs) {
      reasons.push(
        `event loop stalled for ${Math.round(st.durationMs)} ms, ${((now - st.endedAt) / 1000).toFixed(1)} s ago ` +
          `(threshold ${this.stallThresholdMs} ms): look for a slow synchronous operation in the log`,
      );
    }
    for (const [name, r] of this.rings) {
      if (r.stuckSince !== null && now - r.stuckSince > this.stallThresholdMs) {
        reasons.push(`RX ring of ${name} is not drained: the kernel delivered frames and none were read for ${Math.round(now - r.stuckSince)} ms`);
      }
    }
    return { ok: reasons.length === 0, reasons };
  }
}

/** What readiness looks at, as a plain snapshot. */
export interface ReadinessSnapshot {
  started: boolean;
  draining: boolean;
  interfaces: { name: string; up: boolean; addresses: number }[];
  httpServers: number;
  live: CheckResult;
}

export function readiness(s: ReadinessSnapshot): CheckResult {
  const reasons: string[] = [];
  if (s.draining) reasons.push('shutting down (signal received): not taking new connections');
  if (!s.started) reasons.push('start-up configuration is still running');
  if (s.interfaces.length === 0) reasons.push('no interface configured: expected create host-interface in the startup-config');
  for (const i of s.interfaces) if (!i.up) reasons.push(`interface ${i.name} is down: set interface state ${i.name} up`);
  if (s.interfaces.length > 0 && !s.interfaces.some((i) => i.up && i.addresses > 0)) {
    reasons.push('no IPv4 address configured, nor an IPv6 one that passed DAD, on an interface that is up: set interface ip address <if> <a.b.c.d/len> | <ipv6>/<len>');
  }
  if (s.httpServers === 0) reasons.push('no HTTP static server is listening: http static server www-root <dir> uri tcp://0.0.0.0/80');
  if (!s.live.ok) reasons.push(...s.live.reasons.map((r) => `not live: ${r}`));
  return { ok: reasons.length === 0, reasons };
}
