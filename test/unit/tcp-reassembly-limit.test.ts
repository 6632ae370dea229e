/** A peer that sends tiny segments into every other hole must not make reassembly quadratic. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PIECES, Reassembly } from '../../src/tcp/reassembly.js';

describe('tcp reassembly limits', () => {
  it(`holds at most ${MAX_PIECES} pieces and refuses the rest`, () => {
    const r = new Reassembly();
    const byte = Buffer.from([0x41]);
    let refused = 0;
    // 1-byte segments at every other sequence number: each one a separate piece.
    for (let i = 0; i < 20_000; i++) if (!r.insert(1000 + 2 * i, byte, 0, 1)) refused++;
    assert.equal(r.count, MAX_PIECES);
    assert.equal(refused, 20_000 - MAX_PIECES);
    assert.equal(r.bytes, MAX_PIECES);
  });

  it('still takes data out in order once the first hole is filled', () => {
    const r = new Reassembly();
    assert.equal(r.insert(10, Buffer.from('cd'), 0, 2), true);
    assert.equal(r.insert(12, Buffer.from('ef'), 0, 2), true);
    assert.equal(r.takeAt(8), undefined);
    assert.equal(r.takeAt(10)?.toString(), 'cd');
    assert.equal(r.takeAt(12)?.toString(), 'ef');
    assert.equal(r.count, 0);
  });
});
