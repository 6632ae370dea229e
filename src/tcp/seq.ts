/** Sequence number arithmetic modulo 2^32 (RFC 9293 §3.4, RFC 1982 style comparisons). */
export const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0;
export const seqLeq = (a: number, b: number): boolean => ((a - b) | 0) <= 0;
export const seqGt = (a: number, b: number): boolean => ((a - b) | 0) > 0;
export const seqGeq = (a: number, b: number): boolean => ((a - b) | 0) >= 0;
/** a + n, as an unsigned 32-bit sequence number. */
export const seqAdd = (a: number, n: number): number => (a + n) >>> 0;
/** Signed distance a - b. */
export const seqDiff = (a: number, b: number): number => (a - b) | 0;
export const seqMax = (a: number, b: number): number => (((a - b) | 0) >= 0 ? a : b);
export const seqMin = (a: number, b: number): number => (((a - b) | 0) <= 0 ? a : b);
