/**
 * Start-up warnings for TIME_WAIT settings that are valid but risky: what they give up, or the
 * memory they may take. Pure (the engine logs what this returns).
 */

/** Heap of one TIME_WAIT entry, measured by dist/bench/time-wait-memory.js (16.1 MiB for 50,000). */
export const TIME_WAIT_ENTRY_BYTES = 340;

export interface TimeWaitWarning {
  code: string;
  message: string;
}

/**
 * timeWaitMs, maxTimeWait: the stack's settings; budgetBytes: the TCP memory budget, against
 * which a full TIME_WAIT table is compared (the table is not charged to it).
 */
export function timeWaitWarnings(timeWaitMs: number, maxTimeWait: number, budgetBytes: number): TimeWaitWarning[] {
  const out: TimeWaitWarning[] = [];
  if (timeWaitMs === 0 || maxTimeWait === 0) {
    out.push({
      code: 'TIME_WAIT_OFF',
      message:
        `TIME_WAIT is off (${timeWaitMs === 0 ? 'tcp-time-wait 0' : 'tcp-time-wait-max 0'}): a connection we close is forgotten at once, ` +
        'so a delayed segment of it can be taken by a new connection on the same 4-tuple (RFC 9293 §3.4.1), and the last ACK ' +
        'is not repeated when the peer retransmits its FIN (it gets a RST)',
    });
  } else {
    const bytes = maxTimeWait * TIME_WAIT_ENTRY_BYTES;
    if (bytes > budgetBytes) {
      out.push({
        code: 'TIME_WAIT_MEMORY',
        message:
          `tcp-time-wait-max ${maxTimeWait}: a full TIME_WAIT table takes about ${mib(bytes)} MiB of heap ` +
          `(${TIME_WAIT_ENTRY_BYTES} bytes an entry), more than the TCP memory budget (${mib(budgetBytes)} MiB) and not charged to it; ` +
          `it fills when connections close faster than ${Math.ceil(maxTimeWait / Math.max(1, timeWaitMs / 1000))}/s`,
      });
    }
  }
  return out;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
