/** IMF-fixdate strings (RFC 9110 §5.6.7), the current one recomputed at most once per second. */

let cachedSecond = -1;
let cachedDate = '';

/** The current date as an IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
export function httpDateNow(nowMs: number = Date.now()): string {
  const second = Math.floor(nowMs / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(second * 1000).toUTCString();
  }
  return cachedDate;
}

export function formatHttpDate(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toUTCString();
}

/**
 * Parses an HTTP-date (IMF-fixdate; the obsolete RFC 850 and asctime forms via Date.parse too).
 * Returns milliseconds since the epoch or NaN.
 */
export function parseHttpDate(s: string): number {
  if (s.length < 20 || s.length > 40) return NaN;
  return Date.parse(s);
}
