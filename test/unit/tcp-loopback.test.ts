/**
 * Two TcpStack instances over a simulated link with delay, loss, duplication and reordering:
 * whole transfers must arrive byte-exact and both sides must close cleanly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TcpConnection } from '../../src/tcp/index.js';
import type { StreamHandler } from '../../src/stream/byte-stream.js';
import { CLIENT, SERVER, TcpPair, download } from '../helpers/tcp-pair.js';

describe('tcp two stacks over a simulated link', () => {
  it('clean link: 1 MB arrives intact and both sides close (active close on the server)', () => {
    const r = download({ delay: 5 }, 1 << 20);
    assert.equal(r.got.length, r.data.length);
    assert.ok(r.got.equals(r.data));
    assert.deepEqual(r.ev.sort(), ['client-close', 'client-end', 'server-close', 'server-end']);
    assert.equal(r.net.b.counters.retransmits, 0);
    assert.equal(r.net.a.counters.established, 0);
    assert.equal(r.net.b.counters.timeWait, 1, 'the side that closed first waits in TIME_WAIT');
    // The transfer took a reasonable number of round trips (slow start, not stop-and-wait).
    assert.ok(r.net.now < 2000, `took ${r.net.now} ms`);
  });

  for (const [name, opts] of [
    ['SACK + timestamps', {}],
    ['NewReno, no SACK, no timestamps', { sack: false, timestamps: false }],
  ] as const) {
    for (const seed of [1, 2, 3]) {
      it(`5% loss both ways (${name}, seed ${seed}): 1 MB arrives intact`, () => {
        const r = download({ delay: 10, loss: 0.05, seed }, 1 << 20, opts);
        assert.equal(r.got.length, r.data.length, `got ${r.got.length} after ${r.net.now} ms`);
        assert.ok(r.got.equals(r.data));
        assert.ok(r.ev.includes('client-close') && r.ev.includes('server-close'));
        assert.ok(r.net.b.counters.retransmits > 0);
      });
    }
  }

  it('5% loss both ways with SACK: RACK, TLP and PRR keep RTO timeouts rare (1 MB)', () => {
    // Before RACK/TLP (RFC 6675 alone) these seeds cost 11 to 21 timeouts of ≥ 200 ms each.
    let total = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = download({ delay: 10, loss: 0.05, seed }, 1 << 20);
      assert.ok(r.got.equals(r.data));
      const c = r.net.b.counters;
      assert.ok(c.timeouts <= 4, `seed ${seed}: ${c.timeouts} timeouts`);
      assert.ok(c.tailLossProbes > 0 && c.rackLost > 0);
      total += c.timeouts;
    }
    assert.ok(total <= 10, `${total} timeouts in 5 MB`);
  });

  it('every packet duplicated and reordered by jitter: intact', () => {
    const r = download({ delay: 5, jitter: 8, dup: 1, seed: 9 }, 300_000);
    assert.ok(r.got.equals(r.data));
    assert.ok(r.ev.includes('client-close') && r.ev.includes('server-close'));
  });

  it('heavy loss (20%) with a small receive buffer still completes', () => {
    const r = download({ delay: 3, loss: 0.2, seed: 5 }, 100_000, { rcvBuf: 16384, maxRetries: 15 });
    assert.ok(r.got.equals(r.data));
  });

  it('simultaneous open: both sides connect to each other and establish', () => {
    const net = new TcpPair({ delay: 5 });
    const ev: string[] = [];
    const h = (name: string) => (s: unknown): StreamHandler => {
      (s as TcpConnection).write(Buffer.from(name));
      return {
        onData: (b, o, l) => ev.push(`${name} got ${b.subarray(o, o + l).toString()}`),
        onDrain: () => {},
        onEnd: () => {},
        onClose: () => {},
      };
    };
    net.a.connect(CLIENT, 5000, SERVER, 6000, h('a'), 0);
    net.b.connect(SERVER, 6000, CLIENT, 5000, h('b'), 0);
    net.run(() => ev.length === 2, 10_000);
    assert.deepEqual(ev.sort(), ['a got b', 'b got a']);
    assert.equal([...net.a.sessions()][0].state, 'ESTABLISHED');
    assert.equal([...net.b.sessions()][0].state, 'ESTABLISHED');
  });

  it('connect() to a closed port is refused', () => {
    const net = new TcpPair({ delay: 1 });
    let closed = false;
    net.a.connect(CLIENT, 1234, SERVER, 81, () => ({ onData() {}, onDrain() {}, onEnd() {}, onClose: () => (closed = true) }), 0);
    net.run(() => closed, 10_000);
    assert.equal(closed, true);
    assert.equal(net.a.errors['connection-refused'], 1);
  });
});
