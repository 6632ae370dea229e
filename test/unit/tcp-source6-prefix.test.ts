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

describe('review (h/metrics): link-local sources do not share one per-source slot', () => {
  /** Handles 0xf0000000 + i stand for `prefix`::i, heard on interface `zone - 1`. */
  const owner = (prefix: string, zone: (ip: number) => number = () => 1) => ({
    address: (ip: number) => {
      if (ip >>> 28 !== 0xf) return undefined;
      const b = Buffer.from(prefix, 'hex');
      b.writeUInt32BE((ip & 0xffff) >>> 0, 12);
      return b;
    },
    zoneOf: zone,
  });

  it('admits two connections from each of five link-local hosts when the limit is 2 (fe80::/64 is every host of the link)', () => {
    const s = new SourceLimits({ maxConnections: 2, maxBytes: 1 << 20 });
    s.addresses = owner('fe800000000000000000000000000000');
    const slots = [1, 2, 3, 4, 5].flatMap((i) => [s.acquire((0xf0000000 + i) | 0), s.acquire((0xf0000000 + i) | 0)]);
    assert.ok(slots.every((x) => x >= 0), `refused some of 10 from 5 link-local hosts (slots ${slots})`);
    assert.ok(s.acquire((0xf0000000 + 1) | 0) < 0, 'the third connection from one link-local host is refused');
    assert.equal(s.sources, 5);
  });

  it('keys fe80::1 on two interfaces as two sources (RFC 4007 zones), and the top list shows /128', () => {
    const s = new SourceLimits({ maxConnections: 1, maxBytes: 1 << 20 });
    // handle 0xf0000001 is fe80::1 on interface 0, 0xf0010001 is fe80::1 on interface 1
    s.addresses = owner('fe800000000000000000000000000000', (ip) => ((ip >>> 16) & 0xff) + 1);
    assert.ok(s.acquire(0xf0000001 | 0) >= 0);
    assert.ok(s.acquire(0xf0010001 | 0) >= 0, 'the same address on another link is another host');
    assert.ok(s.acquire(0xf0000001 | 0) < 0);
    assert.deepEqual(s.top(5).map((r) => r.prefix), [128, 128]);
  });

  it('still keys a global address by its /64', () => {
    const s = new SourceLimits({ maxConnections: 2, maxBytes: 1 << 20 });
    s.addresses = owner('20010db8000100020000000000000000');
    [1, 2].forEach((i) => assert.ok(s.acquire((0xf0000000 + i) | 0) >= 0));
    assert.ok(s.acquire((0xf0000000 + 3) | 0) < 0);
    assert.deepEqual(s.top(5).map((r) => r.prefix), [64]);
  });
});
