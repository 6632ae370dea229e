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
 * per reason; /metrics has only their sum, `segment-checks`, which a blind segment raises by one
 * whether it hit or missed.
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
]);

/**
 * Private reasons left out of the sum as well: they count a second event of a segment already
 * counted under another reason (its answer was rate limited), so summing them would make an
 * in-window probe count twice and an out-of-window one once.
 */
export const TCP_UNSUMMED_REASONS: ReadonlySet<string> = new Set(['challenge-ack-limit', 'out-of-window-ack-limited']);

/** The reason /metrics shows for the sum of TCP_PRIVATE_REASONS. */
export const TCP_PRIVATE_REASONS_TOTAL = 'segment-checks';

/**
 * Error counters as the management endpoint exports them: reasons in `privateReasons` summed
 * into one `total` row (present, 0 included, so that its appearance tells nothing either).
 */
export function foldPrivateReasons(counts: Record<string, number>, privateReasons: ReadonlySet<string>, total: string, unsummed?: ReadonlySet<string>): [string, number][] {
  const rows: [string, number][] = [];
  let sum = 0;
  for (const [reason, n] of Object.entries(counts)) {
    if (privateReasons.has(reason)) {
      if (unsummed === undefined || !unsummed.has(reason)) sum += n;
    }
    else rows.push([reason, n]);
  }
  rows.push([total, sum]);
  return rows;
}
