/**
 * Review probes (r/bbr2): adversarial checks of the bbr merge. Each `it` states what a sound
 * implementation should do; the ones named "FINDING" failed on the reviewed code (3f6b897); B1 is fixed (paceHeld in recovery-sack.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bbr } from '../../src/tcp/bbr.js';

import { download, HMSS, open } from '../helpers/bbr-probe.js';


describe('review r/bbr2 probes: the pacer credit', () => {
  for (const gap of [0, 15]) {
    it(`B1 (fixed): an app-limited connection with one small segment in flight (RTT 40 ms) banks ${gap} ms of credit: the next write's burst stays within 2 ms + a quantum`, () => {
      const h = open(40);
      const c = h.conn!;
      c.write(Buffer.alloc(4 << 20, 1));
      download(h, 4000, 40);
      const bbr = c.cc as Bbr;
      assert.equal(c.sndUna, c.sndMax, 'drained');
      h.advance(300); // idle
      c.write(Buffer.alloc(100, 3)); // a small response: one segment in flight, app-limited
      const small = h.flush().filter((s) => s.payload.length > 0);
      assert.equal(small.length, 1);
      h.advance(gap); // no ACK yet (RTT 40 ms); the app writes the next response
      c.write(Buffer.alloc(1 << 20, 2));
      const out = h.flush().filter((s) => s.payload.length > 0);
      const burst = out.reduce((n, s) => n + s.payload.length, 0);
      const bound = bbr.pacingRate * 2 + bbr.quantum + 2 * HMSS;
      console.log(`  ${bbr.describe()}; cwnd ${c.cwnd}; burst after a ${gap} ms gap: ${burst} bytes = ${(burst / bbr.pacingRate).toFixed(2)} ms at the pacing rate (bound ${bound.toFixed(0)})`);
      assert.ok(burst <= bound, `burst ${burst} > ${bound.toFixed(0)} (2 ms + quantum)`);
    });
  }
});
