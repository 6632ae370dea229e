/**
 * /metrics must not tell an off-path host where a spoofed segment fell relative to a connection's
 * windows (the CVE-2016-5696 class through counters, review r/tcp2 H2): the TCP counters exported
 * there change the same way for a spoofed data segment behind RCV.NXT, beyond the window, and
 * inside it with an unacceptable ACK.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import { newCounters, type TcpCounters } from '../../src/tcp/types.js';
import { TCP_GAUGES, TCP_PRIVATE_COUNTERS } from '../../src/ops/metrics.js';

const exported = (c: TcpCounters): Record<string, number> =>
  Object.fromEntries(
    (Object.keys(newCounters()) as (keyof TcpCounters)[])
      .filter((k) => !TCP_GAUGES.has(k) && !TCP_PRIVATE_COUNTERS.has(k))
      .map((k) => [k, c[k] as number]),
  );

function victim(): TcpHarness {
  const h = new TcpHarness();
  h.open({ sackOk: true, ts: false });
  h.in({ flags: TCP_ACK, seq: h.pseq(), ack: h.seq(), data: Buffer.alloc(1000, 1) });
  h.advance(100);
  return h;
}

describe('/metrics and spoofed segments', () => {
  it('the exported TCP counters move the same whether a spoofed data segment fell behind RCV.NXT, beyond the window or inside it', () => {
    const rows = [-0x40000000, 0x40000000, 10].map((off) => {
      const h = victim();
      const base = exported(h.stack.counters);
      h.advance(1000);
      h.in({ flags: TCP_ACK, seq: h.pseq(1000 + off), ack: 12345, data: 'x' });
      const after = exported(h.stack.counters);
      return Object.fromEntries(Object.keys(after).filter((k) => after[k] !== base[k]).map((k) => [k, after[k] - base[k]]));
    });
    assert.deepEqual(rows[0], rows[1], `behind vs beyond: ${JSON.stringify(rows)}`);
    assert.deepEqual(rows[1], rows[2], `beyond vs inside: ${JSON.stringify(rows)}`);
  });

  it('keeps the window-revealing counters off /metrics', () => {
    for (const k of ['challengeAcks', 'duplicateSegments', 'outOfOrderSegments', 'dsacksOut'] as const) assert.ok(TCP_PRIVATE_COUNTERS.has(k), k);
  });
});
