/**
 * Regression test from review r/tcp2 (fixed on h/tcpfix2), low (h/wshare): per-source limits key an IPv6 source by its full 128-bit
 * address (shared-limits.ts key6), so one host with the /64 every IPv6 host is given opens as many
 * connections as it has addresses: the per-source limit does not hold for IPv6 at all. Aggregating
 * at /64 (or a configurable prefix) is what per-client limits usually do for IPv6.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SourceLimits } from '../../src/tcp/source-limits.js';

describe('review: per-source connection limit and one IPv6 /64', () => {
  it('refuses the third connection from 2001:db8:1:2::/64 when the limit is 2', () => {
    const s = new SourceLimits({ maxConnections: 2, maxBytes: 1 << 20 });
    // Handles 0xf0000000 + i stand for 2001:db8:1:2::i (as ip6-peers.ts hands them out).
    s.addresses = {
      address: (ip: number) => {
        if ((ip >>> 28) !== 0xf) return undefined;
        const b = Buffer.from('20010db8000100020000000000000000', 'hex');
        b.writeUInt32BE((ip & 0xffff) >>> 0, 12);
        return b;
      },
    };
    const slots = [1, 2, 3, 4, 5].map((i) => s.acquire((0xf0000000 + i) | 0));
    assert.ok(slots.filter((x) => x >= 0).length <= 2, `admitted ${slots.filter((x) => x >= 0).length} of 5 from one /64 (slots ${slots})`);
  });
});
