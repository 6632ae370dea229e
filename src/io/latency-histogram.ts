/**
 * The AF_PACKET addon's latency histograms (native/af_packet.c, lat_bucket): counts in log2 µs
 * buckets. Bucket 0 holds values below 1 µs, bucket k (1 ≤ k < 15) [2^(k-1), 2^k) µs, the last
 * everything from 16,384 µs on. Percentiles are read as a bucket's upper bound ("p50 ≤ 8 µs").
 */
export const LATENCY_BUCKETS = 16;

/** The exclusive upper bound of bucket k in µs (Infinity for the last). */
export function bucketUpperUs(k: number): number {
  return k >= LATENCY_BUCKETS - 1 ? Infinity : 2 ** k;
}

/** b − a, bucket by bucket (counts accumulated since the socket opened; a is an earlier copy). */
export function histogramDelta(b: readonly number[], a: readonly number[] | undefined): number[] {
  return b.map((v, k) => v - (a?.[k] ?? 0));
}

export function histogramCount(h: readonly number[]): number {
  let n = 0;
  for (const v of h) n += v;
  return n;
}

/** The bucket that holds the p-quantile (0 < p ≤ 1), or -1 for an empty histogram. */
export function percentileBucket(h: readonly number[], p: number): number {
  const n = histogramCount(h);
  if (n === 0) return -1;
  const rank = Math.max(1, Math.ceil(p * n));
  let seen = 0;
  for (let k = 0; k < h.length; k++) {
    seen += h[k];
    if (seen >= rank) return k;
  }
  return h.length - 1;
}

function bound(k: number): string {
  if (k < 0) return '-';
  const u = bucketUpperUs(k);
  return u === Infinity ? `>${2 ** (LATENCY_BUCKETS - 2)}` : `<${u}`;
}

/** One line: `n 200 p50 <8 p90 <16 p99 <64 max <128 µs`, then the non-empty buckets `[<1:3 <2:150 …]`. */
export function formatHistogram(h: readonly number[]): string {
  const n = histogramCount(h);
  if (n === 0) return 'n 0';
  let max = -1;
  for (let k = 0; k < h.length; k++) if (h[k] > 0) max = k;
  const buckets = h.map((v, k) => (v > 0 ? `${bound(k)}:${v}` : '')).filter((x) => x !== '');
  return `n ${n} p50 ${bound(percentileBucket(h, 0.5))} p90 ${bound(percentileBucket(h, 0.9))} p99 ${bound(percentileBucket(h, 0.99))} max ${bound(max)} µs [${buckets.join(' ')}]`;
}
