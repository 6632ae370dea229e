/**
 * Sequence number arithmetic modulo 2^32 (RFC 9293 §3.4, RFC 1982 style comparisons).
 *
 * THE RULE: inside src/tcp every sequence number (SEQ/ACK, ISNs, SACK block edges, FIN and
 * RTT-probe positions) and every TCP timestamp (TSval/TSecr, RFC 7323 §5.3 compares them modulo
 * 2^32 too) is held as a *signed* 32-bit integer, -2^31 … 2^31-1: computed with seqAdd/seqSub
 * (`| 0`, never `>>> 0`), read from the wire with readSeq (readInt32BE), written with writeSeq,
 * stored in Int32Array (never Uint32Array), compared with seqLt & co. (or `===` between two such
 * values). Turn one into the unsigned figure with seqU32 only where a human or a format needs it
 * (the CLI, traces, logs, tests' expectations); a value from outside (an ISN picked by options, a
 * sequence number quoted in an ICMP error) comes in through seqI32.
 *
 * Why: on Node 20/x64 (no pointer compression) V8's small integers are 32-bit signed. A uint32
 * of 2^31 or more is a HeapNumber (16 bytes of garbage) every time it crosses a tagged boundary —
 * a call V8 does not inline, a return, a field not in double representation, an array element —
 * so with `>>> 0` arithmetic half of all connections (those whose ISN or timestamp offset lies in
 * the upper half) allocated several objects per segment. int32 values are always small integers.
 * The comparisons are the same either way: ((a - b) | 0) is the signed distance for both forms.
 */
export const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0;
export const seqLeq = (a: number, b: number): boolean => ((a - b) | 0) <= 0;
export const seqGt = (a: number, b: number): boolean => ((a - b) | 0) > 0;
export const seqGeq = (a: number, b: number): boolean => ((a - b) | 0) >= 0;
/** a + n, as a (signed, int32) sequence number. */
export const seqAdd = (a: number, n: number): number => (a + n) | 0;
/** a - n, as a (signed, int32) sequence number. */
export const seqSub = (a: number, n: number): number => (a - n) | 0;
/** Signed distance a - b. */
export const seqDiff = (a: number, b: number): number => (a - b) | 0;
export const seqMax = (a: number, b: number): number => (((a - b) | 0) >= 0 ? a : b);
export const seqMin = (a: number, b: number): number => (((a - b) | 0) <= 0 ? a : b);
/** A sequence number from outside src/tcp (unsigned or not) in the int32 form. */
export const seqI32 = (a: number): number => a | 0;
/** The unsigned (wire, human) figure of a sequence number: for the CLI, traces, logs and tests only. */
export const seqU32 = (a: number): number => a >>> 0;
/** Reads a 32-bit sequence number or timestamp at b[o] (big-endian) in the int32 form. */
export { readInt32 as readSeq, write32 as writeSeq } from '../wire/tcp.js';
