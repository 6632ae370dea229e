/**
 * Drop reasons of the TCP stack that are kept off the management endpoint.
 *
 * Each of these is counted when a segment arrives for a connection (or a 4-tuple), and which one
 * goes up tells where the segment fell: an RST inside the window is `rst-challenge`, outside it
 * `rst-out-of-window`; a segment for an existing connection is never `rst-no-connection`. Anyone
 * who can both send spoofed segments and scrape a live per-reason counter learns whether a guess
 * at someone else's connection hit its window (the off-path attack of CVE-2016-5696, with
 * /metrics as the side channel instead of a global challenge-ACK limit). Linux keeps such counters
 * local (nstat, /proc/net/netstat). We do the same: `show errors` on the local CLI socket has them
 * per reason; /metrics has none of them, not even a sum. (An earlier version exported their sum,
 * `segment-checks`, on the belief that a blind segment raises it by one whether it hit or missed:
 * false. A segment the checks accept without changing anything, such as a pure ACK in the window
 * with an acceptable ack or a bare FIN above RCV.NXT, raises no reason at all, a miss raises one:
 * the sum was the ACK step of CVE-2016-5696, review r/metrics F10.)
 *
 * The memory verdicts that only a segment in a connection's window can draw (`ooo-overflow`,
 * `ooo-drop-memory`, `ooo-pruned-memory`: it is above RCV.NXT and in the window, so it is offered
 * to the reassembly queue; `rcv-drop-memory`: it is exactly at RCV.NXT) are private as well
 * (review r/metrics F6, F7).
 *
 * The reasons are not the only trace: what the stack sends in answer differs too (a challenge
 * ACK for one probe, nothing for another; an ACK with SACK blocks for data above RCV.NXT, a plain
 * one for data beyond the window). Such answers are *private frames*: the stack sends them between
 * TcpStack.beginPrivate() and endPrivate(), and every counter of the TX path counts them twice,
 * in its total and in a private twin (the TCP counters privateSegmentsOut/privateRstOut, the
 * interface's privateCounters, the graph nodes' privateErrors/privateRuntime, the hardware
 * interface's privateTx). /metrics exports total − private (src/ops/metrics.ts) and no
 * out-of-order bytes; the CLI shows the totals. test/unit/ops-metrics-probes.test.ts compares the
 * whole exposition of twin servers after a hit probe and a miss probe of each kind.
 */
export const TCP_PRIVATE_REASONS: ReadonlySet<string> = new Set([
  // where a segment fell relative to the window (acceptance.ts, ack-input.ts, connection.ts)
  'paws',
  'out-of-window',
  'out-of-window-ack-limited',
  'out-of-order',
  'rst-out-of-window',
  'rst-challenge',
  'syn-challenge',
  'challenge-ack-limit',
  'no-ack',
  'ack-too-new',
  'ack-too-old',
  'connection-reset',
  'rst-syn-received',
  'syn-in-syn-received',
  'bad-ack-syn-received',
  'rst-in-time-wait',
  'data-after-close',
  'time-wait-unacceptable',
  // whether a 4-tuple has a connection or a listener (stack.ts)
  'rst-no-connection',
  'no-listener-rst',
  'listen-bad-ack-rst',
  'listen-no-syn',
  'syn-sent-bad-ack',
  'connection-refused',
  'ptb-no-connection',
  'ptb-not-in-flight',
  'ptb-mss-lowered',
  // memory verdicts only a segment in the window can draw (budget.ts)
  'ooo-overflow',
  'ooo-drop-memory',
  'ooo-pruned-memory',
  'rcv-drop-memory',
]);

/**
 * Error counters as the management endpoint exports them: the reasons in `privateReasons` left
 * out (no sum of them either: see above).
 */
export function publicReasons(counts: Record<string, number>, privateReasons: ReadonlySet<string>): [string, number][] {
  const rows: [string, number][] = [];
  for (const [reason, n] of Object.entries(counts)) if (!privateReasons.has(reason)) rows.push([reason, n]);
  return rows;
}
