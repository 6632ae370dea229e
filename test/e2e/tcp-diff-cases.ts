/**
 * The cases of the differential TCP test (tcp-differential.test.ts): scripted segment sequences
 * that test/e2e/fixtures/tcp_diff.py plays against a Linux listener and against our stack, and
 * how their answers are compared.
 *
 * A step's fields go to the injector as JSON (its docstring defines them: seq is relative to our
 * next sequence number, ack to the target's, tsval to our timestamp base). `view` stays here: it
 * reduces the step's replies to what the RFCs decide, so that what legitimately differs between
 * two correct stacks does not count:
 *   - ISNs and the target's TSvals (the injector already reports numbers relative to them);
 *   - window sizes (only a zero window counts) and the window scale's value (only its presence);
 *   - the order of options (the injector sorts them) and PSH (a sender's choice, RFC 9293 §3.9.1);
 *   - when the server's application data comes, how it is cut into segments, and whether the
 *     ACK of a request rides on the response or goes first: steps that make the server send its
 *     response use `summary` (the flags seen, the last ACK, whether data came) instead of `exact`.
 *     The two responses differ in length (our HTTP server's headers and the listener's), which
 *     is why data is compared as "came / did not come".
 */

export interface SynOptions {
  mss?: number;
  ws?: number;
  sack?: boolean;
  ts?: boolean;
}

/** A reply as the injector reports it (see tcp_diff.py). */
export interface Reply {
  f: string;
  seq: number | 'isn' | 'zero';
  ack: number | null;
  len: number;
  win: number;
  opts: string[];
  t: number;
  mss?: number;
  ws?: number;
  tsecr?: number | null;
  sack?: [number, number][];
  urg?: number;
}

export interface StepResult {
  sent: { f: string; seq: number; ack: number | null; len: number } | null;
  replies: Reply[];
}

export type View = (replies: Reply[]) => unknown;

export interface Step {
  /** TCP flags, letters of FSRPAUEC ('' for none); 'wait' sends nothing and only listens. */
  flags?: string;
  seq?: number | string;
  ack?: number;
  len?: number;
  data?: string;
  win?: number;
  /** SYN options (for a SYN without ACK). */
  opts?: SynOptions;
  /** TSval offset from our base (default: (step index + 1) × 10). */
  tsval?: number;
  /** false: no timestamp option on this segment even on a connection that has them. */
  ts?: boolean;
  urg?: number;
  /** Whether this segment moves our next sequence number on (default: in-order, not RST, not a SYN on an open connection). */
  advance?: boolean;
  /**
   * ms to collect replies (default 200: our delayed ACK is 40 ms). Steps after which the server
   * has unacknowledged data or a FIN wait 100-120 ms, so that the next step starts well before
   * a retransmission (RTO ≥ 200 ms on both) could land in its window.
   */
  wait?: number;
  /** How replies are compared (default exact). */
  view?: View;
}

export interface Case {
  name: string;
  /** What decides the right answer. */
  rfc: string;
  steps: Step[];
  /** Destination port (default 80, the listener). */
  port?: number;
  /** Where we differ from Linux on purpose: why, and what each side answers (the views' output). */
  expectDifference?: { why: string; linux: unknown; ours: unknown };
  /**
   * Where we differ from Linux by mistake (reported, to be fixed): what is wrong, our answer
   * today and Linux's (the right one). The test asserts both exactly (so the mark cannot hide a
   * change of the judge, e.g. a sysctl): a fix or any other change makes it fail, and the mark is
   * then removed or updated.
   */
  knownBug?: { why: string; ours: unknown; linux: unknown };
}

// ---- views ----------------------------------------------------------------------------------

/** One reply as a line: flags (without PSH), relative seq/ack, payload, zero window, options. */
export function line(r: Reply): string {
  const parts = [r.f.replace('P', '') || '-', `seq=${r.seq}`];
  if (r.ack !== null) parts.push(`ack=${r.ack}`);
  if (r.len > 0) parts.push(`len=${r.len}`);
  if (r.win === 0 && !r.f.includes('R')) parts.push('win=0');
  parts.push(`[${r.opts.join(',')}]`);
  if (r.mss !== undefined) parts.push(`mss=${r.mss}`);
  if (r.tsecr !== undefined) parts.push(`tsecr=${r.tsecr}`);
  if (r.sack !== undefined) parts.push(`sack=${r.sack.map(([a, b]) => `${a}-${b}`).join(',')}`);
  return parts.join(' ');
}

/** Flags, seq and ack only (where the options are not what the case is about). */
export const bare: View = (rs) => rs.map((r) => `${r.f.replace('P', '') || '-'} seq=${r.seq}${r.ack !== null ? ` ack=${r.ack}` : ''}`);
/** Every reply, each as a line (the default). */
export const exact: View = (rs) => rs.map(line);
/** Only the first reply (later ones are retransmissions whose timing is the stack's own). */
export const first: View = (rs) => (rs.length === 0 ? [] : [line(rs[0])]);
/** The first two replies (the ACK of what we sent, and what follows it). */
export const firstTwo: View = (rs) => rs.slice(0, 2).map(line);
/** The flags seen, the last ACK, whether data and a FIN came: for steps where the server's application sends. */
export const summary: View = (rs) => {
  if (rs.length === 0) return 'nothing';
  const flags = [...new Set(rs.flatMap((r) => [...r.f.replace('P', '')]))].sort().join('');
  const data = rs.some((r) => r.len > 0);
  const last = rs[rs.length - 1];
  return `${flags} ack=${last.ack}${data ? ' data' : ''}`;
};
/** The largest payload of one segment (the MSS the sender applied). */
export const maxLen: View = (rs) => `max payload ${Math.max(0, ...rs.map((r) => r.len))}`;
/** Whether the bytes sent in the step fit a window of `lo` < bytes ≤ `hi`. */
export const bytesWithin =
  (lo: number, hi: number): View =>
  (rs) => {
    const bytes = rs.reduce((n, r) => n + r.len, 0);
    return bytes > lo && bytes <= hi ? `sent more than ${lo}, at most ${hi}` : `sent ${bytes}`;
  };
/** Not compared (e.g. the ACK that completes a handshake, which gets no answer from either). */
export const ignore: View = () => null;

// ---- building blocks ------------------------------------------------------------------------

export const FULL: SynOptions = { mss: 1460, ws: 7, sack: true, ts: true };

/** SYN, and the ACK that completes the handshake (`ackWin`: its window). */
export function open(opts: SynOptions = FULL, ackWin = 65535): Step[] {
  return [{ flags: 'S', opts }, { flags: 'A', win: ackWin, wait: 30 }];
}

/** One byte of data at our next sequence number: an open connection ACKs it, a closed one answers RST. */
export const probe: Step = { flags: 'A', len: 1 };

/** A fresh connection that sent a request and acknowledged the whole response. */
export function withResponse(opts: SynOptions = FULL): Step[] {
  return [...open(opts), { flags: 'A', data: 'req', wait: 120, view: summary }, { flags: 'A', wait: 60 }];
}

/** The SYN-ACK to FULL, as both send it (the first step of most cases). */
const SYNACK_FULL = ['SA seq=isn ack=1 [MSS,SAckOK,Timestamp,WScale] mss=1460 tsecr=10'];
const TS_FUTURE = 2 ** 30;
/**
 * Both answer a wholly old segment with the same D-SACK block (RFC 2883); only the echoed
 * timestamp differs.
 */
const TSECR_OF_DUPLICATE =
  'the D-SACK block agrees; the echoed timestamp differs on purpose. RFC 7323 §5.3: a segment wholly below RCV.NXT fails the window test (R2) before TS.Recent may take its TSval (R3), so we echo the TS.Recent of the original: a sender whose retransmission followed a lost ACK sees an echo older than the retransmission and knows it was not needed (Eifel, RFC 3522; the only detector without SACK). Linux starts its window test at RCV.WUP (the last ACK sent, a FreeBSD heritage), so a duplicate that ends exactly there passes it and its TSval is echoed';
const TS_OLD = -100_000;

// ---- the cases --------------------------------------------------------------------------------

/** Cases run with the listener's defaults (Linux tcp_syncookies=1, ours `tcp-syn-cookies on`). */
/**
 * The last step of a listener case whose segment draws no answer: an ACK, which a listener answers
 * with <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.2). Silence alone would also be what a dead or
 * unreachable target gives.
 */
const alive: Step = { flags: 'A', ack: 12345 };

export const NORMAL: Case[] = [
  // -- the listener: handshake options, and segments that find no connection
  { name: 'syn-all-options', rfc: 'RFC 9293 §3.10.7.2, RFC 7323 §1.3/§2.2, RFC 2018 §2', steps: [...open(FULL), probe] },
  { name: 'syn-no-options', rfc: 'RFC 9293 §3.7.1 (MSS), RFC 7323 §1.3 (no WS/TS unless offered)', steps: [...open({}), probe] },
  { name: 'syn-mss-ws-only', rfc: 'RFC 7323 §2.2', steps: [...open({ mss: 1460, ws: 7 }), probe] },
  {
    name: 'syn-without-mss-uses-536',
    rfc: 'RFC 9293 §3.7.1: without an MSS option the send MSS is 536 (less 12 bytes of timestamps)',
    steps: [...open({ ws: 7, sack: true, ts: true }), { flags: 'A', data: 'req', wait: 120, view: maxLen }],
  },
  {
    name: 'syn-wscale-15-clamped',
    rfc: 'RFC 7323 §2.3: a shift above 14 is used as 14 (the window is 1 << 14 bytes, the whole response fits)',
    steps: [...open({ mss: 1460, ws: 15, sack: true, ts: true }, 1), { flags: 'A', data: 'req', win: 1, wait: 120, view: bytesWithin(1000, 16384) }],
  },
  { name: 'syn-sack-without-ts', rfc: 'RFC 2018 §2', steps: [...open({ mss: 1460, sack: true }), probe] },
  { name: 'syn-ts-without-ws', rfc: 'RFC 7323 §3.2', steps: [...open({ mss: 1460, sack: true, ts: true }), probe] },
  {
    name: 'syn-mss-536',
    rfc: 'RFC 9293 §3.7.1: segments no larger than the peer MSS less the options (RFC 7323 §3.2: 12 bytes of TS)',
    steps: [...open({ mss: 536, ws: 7, sack: true, ts: true }), { flags: 'A', data: 'req', wait: 120, view: maxLen }],
  },
  {
    name: 'syn-with-data',
    rfc: 'RFC 9293 §3.10.7.2: data on a SYN may be queued, but is acknowledged only once processed (without TFO both drop it)',
    steps: [{ flags: 'S', opts: FULL, len: 10, advance: false }, { flags: 'A', wait: 30 }, probe],
  },
  { name: 'syn-fin-to-listener', rfc: 'RFC 9293 §3.10.7.2 (SYN+FIN is not a valid opening)', steps: [{ flags: 'SF', opts: FULL }, alive] },
  { name: 'syn-rst-to-listener', rfc: 'RFC 9293 §3.10.7.2: the RST is checked first: dropped', steps: [{ flags: 'SR', opts: FULL }, alive] },
  {
    name: 'syn-ecn-setup',
    rfc: 'RFC 3168 §6.1.1: an ECN-setup SYN (ECE+CWR) gets an ECN-setup SYN-ACK (ECE) only from an ECN-capable server',
    expectDifference: {
      why: 'we do not implement ECN (RFC 3168 makes it optional) and answer with a plain SYN-ACK; Linux (net.ipv4.tcp_ecn=2, its default) accepts ECN when asked',
      linux: [['SAE seq=isn ack=1 [MSS,SAckOK,Timestamp,WScale] mss=1460 tsecr=10'], [], ['A seq=0 ack=1 [Timestamp] tsecr=30']],
      ours: [SYNACK_FULL, [], ['A seq=0 ack=1 [Timestamp] tsecr=30']],
    },
    steps: [{ flags: 'SEC', opts: FULL }, { flags: 'A', wait: 30 }, probe],
  },
  {
    name: 'syn-tiny-mss',
    rfc: 'RFC 9293 §3.7.1 (MSS); RFC 6691; a floor on the send MSS against tiny-segment resource attacks (CVE-2019-11479)',
    expectDifference: {
      why: 'both put a floor under a tiny peer MSS (CVE-2019-11479: tiny segments cost the sender per byte); Linux at 48 bytes with options (net.ipv4.tcp_min_snd_mss), so 36 of payload with timestamps, ours at 64 bytes of payload',
      linux: [SYNACK_FULL, [], 'max payload 36'],
      ours: [SYNACK_FULL, [], 'max payload 64'],
    },
    steps: [...open({ mss: 40, ws: 7, sack: true, ts: true }), { flags: 'A', data: 'req', wait: 120, view: maxLen }],
  },
  {
    name: 'handshake-ack-with-request',
    rfc: 'RFC 9293 §3.10.7.4: the third segment may carry data (SYN-RECEIVED → ESTABLISHED, then the text is processed)',
    steps: [{ flags: 'S', opts: FULL }, { flags: 'A', data: 'req', wait: 120, view: summary }],
  },
  { name: 'ack-to-listener', rfc: 'RFC 9293 §3.10.7.2: an ACK in LISTEN gets <SEQ=SEG.ACK><CTL=RST>', steps: [{ flags: 'A', ack: 12345 }] },
  { name: 'rst-to-listener', rfc: 'RFC 9293 §3.10.7.2: a RST in LISTEN is ignored', steps: [{ flags: 'R' }, alive] },
  { name: 'fin-to-listener', rfc: 'RFC 9293 §3.10.7.2: no SYN, RST or ACK: dropped', steps: [{ flags: 'F' }, alive] },
  { name: 'synack-to-listener', rfc: 'RFC 9293 §3.10.7.2: ACK set → RST with SEG.ACK', steps: [{ flags: 'SA', ack: 777 }] },
  { name: 'syn-to-closed-port', rfc: 'RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>', port: 81, steps: [{ flags: 'S', opts: FULL }] },
  { name: 'data-to-closed-port', rfc: 'RFC 9293 §3.10.7.1: <SEQ=SEG.ACK><CTL=RST>', port: 81, steps: [{ flags: 'A', ack: 4242, len: 5 }] },

  // -- SYN-RECEIVED
  { name: 'synrcvd-syn-retransmitted', rfc: 'RFC 9293 §3.10.7.4 (a retransmitted SYN gets the SYN-ACK again)', steps: [{ flags: 'S', opts: FULL }, { flags: 'S', opts: FULL, seq: 'isn' }] },
  {
    name: 'synrcvd-bad-ack',
    rfc: 'RFC 9293 §3.10.7.4 SYN-RECEIVED: an unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST>; the half-open connection stays',
    steps: [{ flags: 'S', opts: FULL }, { flags: 'A', ack: 4 }, { flags: 'A', wait: 30 }, probe],
  },
  {
    name: 'synrcvd-rst',
    rfc: 'RFC 9293 §3.10.7.4 SYN-RECEIVED (passive): a RST returns to LISTEN; the ACK then finds no connection',
    steps: [{ flags: 'S', opts: FULL }, { flags: 'R' }, { flags: 'A' }],
  },
  {
    name: 'synrcvd-syn-new-isn',
    rfc: 'RFC 9293 §3.10.7.4 fourth (SYN-RECEIVED, passive open): back to LISTEN',
    expectDifference: {
      why: 'RFC 9293 §3.10.7.4: a passive SYN-RECEIVED connection returns to LISTEN silently on a new in-window SYN; Linux drops it too but answers with a RST (embryonic reset); the ACK then finds no connection on both',
      linux: [SYNACK_FULL, ['RA seq=zero ack=101 []'], ['R seq=0 []']],
      ours: [SYNACK_FULL, [], ['R seq=0 []']],
    },
    steps: [{ flags: 'S', opts: FULL }, { flags: 'S', opts: FULL, seq: 100 }, { flags: 'A', seq: 0 }],
  },

  // -- RFC 5961 §3: RST
  { name: 'rst-exact', rfc: 'RFC 5961 §3.2: RST with SEG.SEQ = RCV.NXT resets', steps: [...open(), { flags: 'R' }, probe] },
  { name: 'rst-ack-exact', rfc: 'RFC 5961 §3.2', steps: [...open(), { flags: 'RA' }, probe] },
  { name: 'rst-exact-with-payload', rfc: 'RFC 9293 §3.5.3: a RST may carry data (diagnostics); exact → reset', steps: [...open(), { flags: 'R', len: 20 }, probe] },
  { name: 'rst-in-window', rfc: 'RFC 5961 §3.2: RST in window but not exact → challenge ACK', steps: [...open(), { flags: 'R', seq: 1000 }, probe] },
  { name: 'rst-beyond-window', rfc: 'RFC 5961 §3.2: RST outside the window → dropped silently', steps: [...open(), { flags: 'R', seq: 'wnd+1000' }, probe] },
  { name: 'rst-below-window', rfc: 'RFC 5961 §3.2: RST outside the window → dropped silently', steps: [...open(), { flags: 'R', seq: -1000 }, probe] },
  {
    name: 'rst-exact-with-bogus-ack',
    rfc: 'RFC 5961 §3.2: a RST is judged by its sequence number only (its ACK field is not checked)',
    steps: [...open(), { flags: 'RA', ack: 100_000 }, probe],
  },
  {
    name: 'rst-challenge-then-exact',
    rfc: 'RFC 5961 §3.2: the peer answers a challenge ACK with an exact RST, which resets',
    steps: [...open(), { flags: 'R', seq: 1000 }, { flags: 'R' }, probe],
  },
  {
    name: 'rst-in-window-twice',
    rfc: 'RFC 5961 §7 rate limit; Linux: one challenge ACK per 500 ms per connection (tcp_invalid_ratelimit)',
    steps: [...open(), { flags: 'R', seq: 1000 }, { flags: 'R', seq: 2000 }],
  },
  {
    name: 'rst-in-window-after-500ms',
    rfc: 'RFC 5961 §7: the limit is a rate (500 ms per connection on both), a RST 700 ms later is challenged again',
    steps: [...open(), { flags: 'R', seq: 1000, wait: 700 }, { flags: 'R', seq: 2000 }, probe],
  },

  // -- RFC 5961 §4: SYN on a synchronized connection
  {
    name: 'syn-established-in-window',
    rfc: 'RFC 5961 §4.2: any SYN → challenge ACK (echoing TS.Recent: RFC 7323 §5.3 R3, the SYN is not accepted)',
    steps: [...open(), { flags: 'S' }, probe],
  },
  { name: 'syn-established-beyond-window', rfc: 'RFC 5961 §4.2: SYN regardless of sequence number → challenge ACK', steps: [...open(), { flags: 'S', seq: 'wnd+1000' }, probe] },
  {
    name: 'synack-established',
    rfc: 'RFC 5961 §4.2 / RFC 9293 §3.10.7.4 (challenge ACK echoing TS.Recent)',
    steps: [...open(), { flags: 'SA' }, probe],
  },

  // -- RFC 5961 §5 / RFC 9293: ACK values
  {
    name: 'ack-old-duplicate-with-data',
    rfc: 'RFC 9293 §3.10.7.4: SEG.ACK < SND.UNA (within what was sent and MAX.SND.WND) is a duplicate; the data is taken',
    expectDifference: {
      why: 'RFC 7323 §4.3 R3: the segment is accepted (its data is taken) and covers Last.ACK.sent, so its TSval becomes TS.Recent and our next ACK echoes it; Linux updates TS.Recent only on the acceptable-ACK path of tcp_ack, which an old duplicate ACK skips',
      linux: [SYNACK_FULL, [], 'A ack=38 data', [], ['A seq=0 ack=1 [Timestamp] tsecr=40'], ['A seq=0 ack=1 [Timestamp] tsecr=60']],
      ours: [SYNACK_FULL, [], 'A ack=38 data', [], ['A seq=0 ack=1 [Timestamp] tsecr=50'], ['A seq=0 ack=1 [Timestamp] tsecr=60']],
    },
    steps: [...withResponse(), { flags: 'A', ack: -100, len: 1 }, probe],
  },
  {
    name: 'ack-old-pure-window-zero',
    rfc: 'RFC 9293 §3.10.7.4: an ACK below SND.UNA "can be ignored"; Linux ignores it (tcp_ack old_ack: no window update), so a pure ACK with an old ack and window 0, seq in the window above RCV.NXT, neither closes the window nor poisons SND.WL1 (review r/metrics F4)',
    steps: [...withResponse(), { flags: 'A', ack: -10, seq: 1000, win: 0, advance: false }, { flags: 'A', data: 'req', wait: 120, view: summary }, { flags: 'A', wait: 60 }],
  },
  {
    name: 'ack-below-isn-with-data',
    rfc: 'RFC 5961 §5.2: acceptable is SND.UNA - MAX.SND.WND ≤ SEG.ACK; Linux also caps MAX.SND.WND by the bytes acknowledged so far (an ACK for bytes never sent is too old)',
    steps: [...open(), { flags: 'A', ack: -1, len: 1 }, probe],
  },
  {
    name: 'ack-too-old-with-data',
    rfc: 'RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND → discard, send ACK',
    steps: [...open(), { flags: 'A', ack: -(2 ** 30), len: 1, advance: false }, probe],
  },
  {
    name: 'ack-of-unsent-data',
    rfc: 'RFC 9293 §3.10.7.4 / RFC 5961 §5.2: SEG.ACK > SND.NXT → send ACK, drop the segment',
    steps: [...open(), { flags: 'A', ack: 1000, len: 1, advance: false }, probe],
  },

  // -- RFC 7323: PAWS and TS.Recent
  { name: 'paws-old-tsval', rfc: 'RFC 7323 §5.3 R1: TSval < TS.Recent → drop, send ACK', steps: [...open(), { flags: 'A', len: 1, tsval: TS_OLD, advance: false }, probe] },
  { name: 'paws-pure-ack-slightly-old', rfc: 'RFC 7323 §5.3 / Linux tcp_disordered_ack: a reordered pure ACK is not an old duplicate', steps: [...open(), { flags: 'A', tsval: 15 }, probe] },
  {
    name: 'paws-pure-ack-very-old',
    rfc: 'RFC 7323 §5.3 R1: TSval < TS.Recent → drop and ACK (only a recent reordered duplicate ACK is exempt, Linux tcp_disordered_ack)',
    steps: [...open(), { flags: 'A', tsval: TS_OLD }, probe],
  },
  { name: 'paws-old-tsval-on-exact-rst', rfc: 'RFC 7323 §5.2: a RST is acceptable regardless of its timestamp', steps: [...open(), { flags: 'R', tsval: TS_OLD }, probe] },
  { name: 'ts-missing-on-data', rfc: 'RFC 7323 §3.2: a non-RST segment without TSopt SHOULD be dropped (Linux accepts it)', steps: [...open(), { flags: 'A', len: 1, ts: false }, probe] },
  {
    name: 'ts-recent-after-challenged-rst',
    rfc: 'RFC 7323 §5.3 R3: TS.Recent is updated only from a segment that was accepted; a challenged RST is not',
    steps: [...open(), { flags: 'R', seq: -1, len: 2, tsval: TS_FUTURE }, { flags: 'wait', wait: 550 }, probe],
  },
  {
    name: 'ts-recent-after-challenged-syn',
    rfc: 'RFC 7323 §5.3 R3 (a SYN on an open connection is challenged, not accepted)',
    steps: [...open(), { flags: 'S', seq: -1, len: 2, tsval: TS_FUTURE }, { flags: 'wait', wait: 550 }, probe],
  },

  // -- receive window
  { name: 'data-out-of-order-sack', rfc: 'RFC 9293 §3.10.7.4 (ACK for a segment beyond RCV.NXT), RFC 2018 §4 (its SACK block)', steps: [...open(), { flags: 'A', seq: 100, len: 10 }, probe] },
  {
    name: 'data-duplicate-dsack',
    rfc: 'RFC 9293 §3.10.7.4 (ACK for an old segment), RFC 2883 §4 (D-SACK block)',
    expectDifference: {
      why: TSECR_OF_DUPLICATE,
      linux: [SYNACK_FULL, [], ['A seq=0 ack=10 [Timestamp] tsecr=30'], ['A seq=0 ack=0 [SAck,Timestamp] tsecr=40 sack=-10-0']],
      ours: [SYNACK_FULL, [], ['A seq=0 ack=10 [Timestamp] tsecr=30'], ['A seq=0 ack=0 [SAck,Timestamp] tsecr=30 sack=-10-0']],
    },
    steps: [...open(), { flags: 'A', len: 10 }, { flags: 'A', seq: -10, len: 10 }],
  },
  {
    name: 'sack-blocks-most-recent-first',
    rfc: 'RFC 2018 §4: the first SACK block reports the most recently received segment, merged with what it joins',
    steps: [...open(), { flags: 'A', seq: 100, len: 10 }, { flags: 'A', seq: 300, len: 10 }, { flags: 'A', seq: 110, len: 10 }],
  },
  {
    name: 'dsack-inside-out-of-order-block',
    rfc: 'RFC 2883 §4 example 3: a duplicate of held out-of-order data → D-SACK block, then the block containing it',
    steps: [...open(), { flags: 'A', seq: 100, len: 10 }, { flags: 'A', seq: 100, len: 10 }],
  },
  {
    name: 'dsack-overlapping-out-of-order-block',
    rfc: 'RFC 2883 §4: the part already held is the D-SACK block, the merged held range the next block',
    steps: [...open(), { flags: 'A', seq: 100, len: 10 }, { flags: 'A', seq: 105, len: 10 }],
  },
  {
    name: 'dsack-in-order-segment-covers-held-data',
    rfc: 'RFC 2883 §4 rule 3: the D-SACK block is exactly the duplicate run: the held data the in-order segment brings again, not the new bytes after it',
    steps: [...open(), { flags: 'A', seq: 20, len: 10 }, { flags: 'A', len: 35 }],
  },
  {
    name: 'dsack-not-without-sack-permitted',
    rfc: 'RFC 2883 §4 / RFC 2018: no SACK option (so no D-SACK) unless SACK-permitted was exchanged',
    steps: [...open({ mss: 1460, ws: 7 }), { flags: 'A', len: 10 }, { flags: 'A', seq: -10, len: 10 }],
  },
  {
    name: 'data-overlapping-left-edge',
    rfc: 'RFC 9293 §3.10.7.4: a segment starting below RCV.NXT is trimmed and its new part taken; RFC 2883 §4: the duplicate part in a D-SACK block',
    steps: [...open(), { flags: 'A', len: 10 }, { flags: 'A', seq: -5, len: 10 }],
  },
  { name: 'data-beyond-window', rfc: 'RFC 9293 §3.10.7.4: not acceptable → ACK, drop', steps: [...open(), { flags: 'A', seq: 'wnd+10', len: 10 }, probe] },
  { name: 'data-without-ack-flag', rfc: 'RFC 9293 §3.10.7.4 fifth: ACK bit off → drop', steps: [...open(), { flags: '', len: 5, advance: false }, probe] },
  { name: 'keepalive-probe-empty', rfc: 'RFC 9293 §3.8.4 / §3.10.7.4: SEG.SEQ = RCV.NXT-1 is unacceptable → ACK', steps: [...open(), { flags: 'A', seq: -1 }] },
  {
    name: 'keepalive-probe-garbage-byte',
    rfc: 'RFC 9293 §3.8.4: one old byte → ACK; RFC 2883 §4: with a D-SACK block',
    expectDifference: {
      why: TSECR_OF_DUPLICATE,
      linux: [SYNACK_FULL, [], ['A seq=0 ack=0 [SAck,Timestamp] tsecr=30 sack=-1-0']],
      ours: [SYNACK_FULL, [], ['A seq=0 ack=0 [SAck,Timestamp] tsecr=20 sack=-1-0']],
    },
    steps: [...open(), { flags: 'A', seq: -1, len: 1 }],
  },
  { name: 'urgent-data', rfc: 'RFC 9293 §3.8.5, RFC 6093: urgent data is acknowledged as data', steps: [...open(), { flags: 'AU', len: 5, urg: 5 }, probe] },
  {
    name: 'window-scale-applied',
    rfc: 'RFC 7323 §2.3: the peer window is SEG.WND << Snd.Wind.Shift (here 1000 << 2)',
    steps: [...open({ mss: 1460, ws: 2, sack: true, ts: true }, 1000), { flags: 'A', data: 'req', win: 1000, wait: 120, view: bytesWithin(1000, 4000) }],
  },
  {
    name: 'zero-window-probe',
    rfc: 'RFC 9293 §3.8.6.1: with a zero window the sender probes',
    expectDifference: {
      why: 'RFC 9293 §3.8.6.1: we probe with one octet of new data, which the peer takes as soon as its window opens; Linux probes with an empty segment at SND.UNA-1 (an old sequence number the peer must ACK)',
      linux: [SYNACK_FULL, [], ['A seq=0 ack=38 [Timestamp] tsecr=30', 'A seq=-1 ack=38 [Timestamp] tsecr=30'], 'A ack=0 data'],
      ours: [SYNACK_FULL, [], ['A seq=0 ack=38 [Timestamp] tsecr=30', 'A seq=0 ack=38 len=1 [Timestamp] tsecr=30'], 'A ack=0 data'],
    },
    steps: [...open(FULL, 0), { flags: 'A', data: 'req', win: 0, wait: 1300, view: firstTwo }, { flags: 'A', win: 65535, wait: 200, view: summary }],
  },

  // -- FIN and RST races
  { name: 'fin-from-client', rfc: 'RFC 9293 §3.6 (the server ACKs the FIN, its application closes: FIN)', steps: [...open(), { flags: 'FA', wait: 100, view: summary }, { flags: 'A', wait: 50 }, probe] },
  { name: 'fin-then-exact-rst', rfc: 'RFC 9293 §3.10.7.4 (LAST-ACK: RST closes)', steps: [...open(), { flags: 'FA', wait: 100, view: summary }, { flags: 'R' }, probe] },
  { name: 'fin-then-rst-in-window', rfc: 'RFC 5961 §3.2 in LAST-ACK: challenge ACK', steps: [...open(), { flags: 'FA', wait: 100, view: summary }, { flags: 'R', seq: 1000, view: first }] },
  {
    name: 'fin-out-of-order',
    rfc: 'RFC 9293 §3.10.7.4 eighth: a FIN beyond RCV.NXT waits for the gap (and is SACKed: RFC 2018)',
    steps: [...open(), { flags: 'FA', seq: 10, advance: false }, { flags: 'A', len: 10, wait: 250, view: summary }],
  },
  {
    name: 'fin-with-data-out-of-order',
    rfc: 'RFC 9293 §3.10.7.4 eighth, RFC 2018: data+FIN beyond RCV.NXT is kept and SACKed; filling the gap delivers both',
    steps: [...open(), { flags: 'FA', seq: 10, len: 5, advance: false }, { flags: 'A', len: 10, wait: 250, view: summary }],
  },
  {
    name: 'handshake-ack-with-fin',
    rfc: 'RFC 9293 §3.10.7.4: the ACK completes the handshake, then the FIN is processed (CLOSE-WAIT; the application closes)',
    steps: [{ flags: 'S', opts: FULL }, { flags: 'FA', wait: 100, view: summary }],
  },
  {
    name: 'data-after-client-fin',
    rfc: 'RFC 9293 §3.10.7.4 seventh: in CLOSE-WAIT/LAST-ACK segment text beyond the FIN is ignored',
    steps: [...open(), { flags: 'FA', wait: 100, view: summary }, { flags: 'A', len: 5, advance: false }],
  },
  {
    name: 'data-after-server-close',
    rfc: 'RFC 9293 §3.6.1 / RFC 1122 4.2.2.13: data arriving after the application closed SHOULD get a RST (the data is lost)',
    steps: [...open(), { flags: 'A', data: 'req-close', wait: 120, view: summary }, { flags: 'A', wait: 50 }, { flags: 'A', len: 5 }],
  },
  {
    name: 'server-close-then-rst',
    rfc: 'RFC 9293 §3.10.7.4: RST in FIN-WAIT-1/2 closes',
    steps: [...open(), { flags: 'A', data: 'req-close', wait: 120, view: summary }, { flags: 'R' }, probe],
  },
  {
    name: 'simultaneous-close',
    rfc: 'RFC 9293 §3.6: FIN received in FIN-WAIT-1 before our FIN is acknowledged → CLOSING, ACK',
    steps: [...open(), { flags: 'A', data: 'req-close', wait: 120, view: summary }, { flags: 'FA', ack: -1, wait: 100 }, { flags: 'A', wait: 50 }],
  },
  {
    name: 'time-wait-fin-retransmitted',
    rfc: 'RFC 9293 §3.10.7.4 TIME-WAIT: a retransmitted FIN is acknowledged again',
    steps: [...open(), { flags: 'A', data: 'req-close', wait: 120, view: summary }, { flags: 'FA' }, { flags: 'FA', seq: -1 }],
  },
  {
    name: 'time-wait-rst-then-fin',
    rfc: 'RFC 1337 (TIME-WAIT assassination) against RFC 9293 §3.10.7.4 (RST in TIME-WAIT closes)',
    expectDifference: {
      why: 'RFC 1337: we ignore a RST in TIME-WAIT, so the retransmitted FIN is still acknowledged; Linux (net.ipv4.tcp_rfc1337=0, its default) lets the RST end TIME-WAIT and the FIN then gets a RST',
      linux: [SYNACK_FULL, [], 'AF ack=57 data', ['A seq=0 ack=1 [Timestamp] tsecr=40'], [], ['R seq=0']],
      ours: [SYNACK_FULL, [], 'AF ack=57 data', ['A seq=0 ack=1 [Timestamp] tsecr=40'], [], ['A seq=0 ack=0']],
    },
    steps: [...open(), { flags: 'A', data: 'req-close', wait: 120, view: summary }, { flags: 'FA' }, { flags: 'R' }, { flags: 'FA', seq: -1, view: bare }],
  },
  {
    name: 'time-wait-syn-new-incarnation',
    rfc: 'RFC 9293 §3.10.7.4 / RFC 6191: a SYN above RCV.NXT with a newer TSval reopens a TIME-WAIT connection',
    steps: [...open(), { flags: 'A', data: 'req-close', wait: 120, view: summary }, { flags: 'FA' }, { flags: 'S', opts: FULL, seq: 100_000, wait: 200 }],
  },
  {
    name: 'time-wait-syn-old-tsval',
    rfc: 'RFC 6191 §2: a SYN whose TSval is older than TS.Recent does not reopen TIME-WAIT (it is an old duplicate)',
    steps: [...open(), { flags: 'A', data: 'req-close', wait: 120, view: summary }, { flags: 'FA' }, { flags: 'S', opts: FULL, seq: 100_000, tsval: 5 }],
  },
  {
    name: 'time-wait-syn-below-rcv-nxt-newer-tsval',
    rfc: 'RFC 6191 §2: with timestamps a newer TSval alone makes the SYN a new incarnation, whatever its sequence number',
    steps: [...open(), { flags: 'A', data: 'req-close', wait: 120, view: summary }, { flags: 'FA' }, { flags: 'S', opts: FULL, seq: -1000 }],
  },
  {
    name: 'time-wait-syn-without-ts-above',
    rfc: 'RFC 9293 §3.10.7.4 / RFC 1122 4.2.2.13: without timestamps a SYN above RCV.NXT reopens TIME-WAIT',
    steps: [...open({ mss: 1460, ws: 7, sack: true }), { flags: 'A', data: 'req-close', wait: 120, view: summary }, { flags: 'FA' }, { flags: 'S', opts: { mss: 1460, ws: 7, sack: true }, seq: 100_000 }],
  },
  {
    name: 'time-wait-syn-without-ts-below',
    rfc: 'RFC 9293 §3.10.7.4: without timestamps a SYN below RCV.NXT is an old duplicate: ACK',
    steps: [...open({ mss: 1460, ws: 7, sack: true }), { flags: 'A', data: 'req-close', wait: 120, view: summary }, { flags: 'FA' }, { flags: 'S', opts: { mss: 1460, ws: 7, sack: true }, seq: -1000 }],
  },
  // -- the issue 9 review's probes (review-tcp1): rate limits on the answers to invalid segments, PAWS
  { name: 'rv-syn-beyond-window-twice', rfc: 'RFC 5961 §4.2 + §7', steps: [...open(), { flags: 'S', seq: 'wnd+1000' }, { flags: 'S', seq: 'wnd+2000' }] },
  { name: 'rv-paws-syn-twice', rfc: 'RFC 5961 §4.2 + §7, RFC 7323 R1', steps: [...open(), { flags: 'S', seq: 100, tsval: TS_OLD }, { flags: 'S', seq: 200, tsval: TS_OLD }] },
  { name: 'rv-ack-unsent-twice', rfc: 'RFC 5961 §5.2 + §7', steps: [...open(), { flags: 'A', ack: 1000, len: 1, advance: false }, { flags: 'A', ack: 2000, len: 1, advance: false }] },
  { name: 'rv-ack-too-old-twice', rfc: 'RFC 5961 §5.2 + §7', steps: [...open(), { flags: 'A', ack: -(2 ** 30), len: 1, advance: false }, { flags: 'A', ack: -(2 ** 30) + 5, len: 1, advance: false }] },
  {
    name: 'rv-paws-old-pure-ack-acks-response',
    rfc: 'RFC 7323 §5.3 R1',
    steps: [...open(), { flags: 'A', data: 'req', wait: 120, view: summary }, { flags: 'A', tsval: TS_OLD, wait: 900, view: summary }],
  },
  {
    name: 'rv-tw-no-ts-syn-with-ts-below',
    rfc: 'RFC 6191 §2 (previous incarnation without TS, new SYN with TS: honor)',
    steps: [...open({ mss: 1460, ws: 7, sack: true }), { flags: 'A', data: 'req-close', wait: 120, view: summary }, { flags: 'FA' }, { flags: 'S', opts: FULL, seq: -1000 }],
  },
];

/** Cases run with cookies for every SYN (Linux tcp_syncookies=2, ours `tcp-syn-cookies always`). */
export const COOKIES: Case[] = [
  { name: 'cookie-syn-all-options', rfc: 'RFC 4987 §3.6; Linux encodes WS/SACK in the TSval', steps: [...open(FULL), probe] },
  {
    name: 'cookie-syn-without-ts',
    rfc: 'RFC 4987 §3.6: without timestamps the cookie cannot carry WS/SACK, so the SYN-ACK must not offer them',
    steps: [...open({ mss: 1460, ws: 7, sack: true }), probe],
  },
  { name: 'cookie-syn-no-options', rfc: 'RFC 4987 §3.6', steps: [...open({}), probe] },
  { name: 'cookie-bad-ack', rfc: 'RFC 9293 §3.10.7.2: an ACK that is no valid cookie gets <SEQ=SEG.ACK><CTL=RST>', steps: [{ flags: 'S', opts: FULL }, { flags: 'A', ack: 1000 }] },
  {
    name: 'cookie-ack-carries-request',
    rfc: 'RFC 4987 §3.6 (the third segment may carry data)',
    steps: [{ flags: 'S', opts: FULL }, { flags: 'A', data: 'req', wait: 120, view: summary }],
  },
  { name: 'cookie-sack-remembered', rfc: 'RFC 2018 over a cookie (SACK-permitted carried in the TSval)', steps: [...open(FULL), { flags: 'A', seq: 100, len: 10 }] },
  {
    name: 'cookie-mss-1000',
    rfc: 'RFC 4987 §3.6: the cookie keeps the MSS from a small table (both round 1000 down to 536)',
    steps: [...open({ mss: 1000, ws: 7, sack: true, ts: true }), { flags: 'A', data: 'req', wait: 120, view: maxLen }],
  },
  {
    name: 'cookie-mss-1400',
    rfc: 'RFC 4987 §3.6: the cookie keeps the MSS from a small table',
    expectDifference: {
      why: 'our cookie MSS table has 8 entries (536 1200 1360 1400 1440 1452 1460 8960) and keeps 1400 exactly; Linux\'s has 4 (536 1300 1440 1460) and rounds 1400 down to 1300 (both less 12 bytes of timestamps)',
      linux: [SYNACK_FULL, [], 'max payload 1288'],
      ours: [SYNACK_FULL, [], 'max payload 1388'],
    },
    steps: [...open({ mss: 1400, ws: 7, sack: true, ts: true }), { flags: 'A', data: 'req', wait: 120, view: maxLen }],
  },
  {
    name: 'cookie-window-scale-applied',
    rfc: 'RFC 7323 §2.3 over a cookie (the scale carried in the TSval)',
    steps: [...open({ mss: 1460, ws: 2, sack: true, ts: true }, 1000), { flags: 'A', data: 'req', win: 1000, wait: 120, view: bytesWithin(1000, 4000) }],
  },
  { name: 'cookie-rst-in-window', rfc: 'RFC 5961 §3.2 on a connection opened by a cookie', steps: [...open(FULL), { flags: 'R', seq: 1000 }, probe] },
];

/** The replies of one case reduced by each step's view. */
export function essence(c: Case, steps: StepResult[]): unknown[] {
  return c.steps.map((s, i) => (s.view ?? exact)(steps[i]?.replies ?? []));
}

/** What the injector gets: the steps without the views. */
export function injectorCases(cases: Case[]): unknown[] {
  return cases.map((c) => ({ name: c.name, ...(c.port !== undefined ? { port: c.port } : {}), steps: c.steps.map(({ view: _view, ...s }) => s) }));
}
