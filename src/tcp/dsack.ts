/**
 * D-SACK as a receiver (RFC 2883 §4, as Linux reports it): when a segment brings data we already
 * have, the first SACK block of the next segment we send reports that duplicate run.
 *   - Only on a connection that negotiated SACK (RFC 2883 §4: D-SACK is SACK's first block).
 *   - Data below RCV.NXT (a retransmission whose ACK was lost, a keepalive's garbage byte, the
 *     old left part of a segment that also brings new data): the block is that old part,
 *     [SEG.SEQ, min(SEG.SEQ + SEG.LEN, RCV.NXT)). The blocks that follow are the usual SACK
 *     blocks (RFC 2883 §4.1 examples 1 and 2).
 *   - Data inside what the reassembly already holds above RCV.NXT: the duplicate part; the next
 *     block is the held range containing it, because the reassembly puts the range holding the
 *     latest segment first (RFC 2883 §4 rule 4, example 3).
 *   - One block per segment: the first duplicate run, extended only by runs contiguous with it;
 *     a second, separate run is not reported (RFC 2883 §4 rules 1-2, example 5; Linux's
 *     tcp_dsack_set / tcp_dsack_extend).
 *   - Reported once: the block goes out on the next segment we send (ACK or data) and is then
 *     cleared (output.ts); a later duplicate replaces one not yet sent (RFC 2883 §4 rule 1: the
 *     duplicate of the most recent packet).
 * The sender side (recognising a D-SACK, undo) is spurious.ts.
 */
import { seqAdd, seqGt, seqLt } from './seq.js';

/** What a receiver keeps for its next D-SACK block (TcpConnection). */
export interface DsackState {
  readonly sackOk: boolean;
  /** A D-SACK block is owed on the next segment sent. */
  dsack: boolean;
  dsackStart: number;
  dsackEnd: number;
}

/** Reports [s, e) as the duplicate of the segment just received (replacing any unsent report). */
export function dsackSet(c: DsackState, s: number, e: number): void {
  if (!c.sackOk || !seqLt(s, e)) return;
  c.dsack = true;
  c.dsackStart = s | 0;
  c.dsackEnd = e | 0;
}

/** Adds [s, e) to the report of the same segment when it touches it (else the first run stays). */
export function dsackExtend(c: DsackState, s: number, e: number): void {
  if (!c.dsack) {
    dsackSet(c, s, e);
    return;
  }
  if (seqGt(s, c.dsackEnd) || seqGt(c.dsackStart, e)) return;
  if (seqLt(s, c.dsackStart)) c.dsackStart = s | 0;
  if (seqGt(e, c.dsackEnd)) c.dsackEnd = e | 0;
}

/**
 * A segment of `segLen` that failed the sequence test or PAWS: the part of it below RCV.NXT is a
 * duplicate (Linux's tcp_send_dupack reports it so, FIN included).
 */
export function dsackOld(c: DsackState & { readonly rcvNxt: number }, seq: number, segLen: number): void {
  if (segLen === 0 || !seqLt(seq, c.rcvNxt)) return;
  const end = seqAdd(seq, segLen);
  dsackSet(c, seq, seqLt(end, c.rcvNxt) ? end : c.rcvNxt);
}
