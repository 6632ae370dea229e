/**
 * The neighbour cache's states and timers (Linux NUD), driven by an injected clock: resolution
 * with retransmissions and a hold queue, DELAY → PROBE → FAILED with back-off, confirmation by
 * forward progress, ageing of unused entries, and static entries.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HardwareInterface, SwInterface } from '../../src/dataplane/interface.js';
import { HoldResult, type Neighbor, NeighborTable, NUD_NAMES, NudState } from '../../src/dataplane/neighbor.js';
import { MemoryDevice } from '../../src/io/memory-device.js';

const IP = 0x0a000002;
const MAC = Buffer.from([2, 0, 0, 0, 0, 2]);
const MAC2 = Buffer.from([2, 0, 0, 0, 0, 3]);

function setup(ageMs = 60_000) {
  const hw = new HardwareInterface('host-t0', new MemoryDevice('t0', Buffer.from([2, 0, 0, 0, 0, 1])), 8);
  const sw = new SwInterface(1, 'host-t0', hw, 0, 0);
  hw.sw = sw;
  const table = new NeighborTable(ageMs);
  const log: string[] = [];
  const released: Neighbor[] = [];
  table.events = {
    solicit: (n, unicast) => log.push(`${unicast ? 'unicast' : 'broadcast'} ${n.probes}`),
    release: (n) => released.push(n),
    failed: (_n, dropped) => log.push(`failed dropped=${dropped}`),
  };
  return { sw, table, log, released };
}

const state = (n: Neighbor | undefined) => (n === undefined ? 'none' : NUD_NAMES[n.state]);

describe('neighbour states', () => {
  it('INCOMPLETE: broadcast requests every retransmission interval, then FAILED after 3 with the held packets dropped', () => {
    const { sw, table, log } = setup();
    let t = 1000;
    const n = table.use(sw, IP, t)!;
    assert.equal(state(n), 'INCOMPLETE');
    assert.equal(table.hold(n, Buffer.alloc(100), 0, 100, 0x0800, 0, 0, -1), HoldResult.Held);
    assert.deepEqual(log, ['broadcast 1']);
    table.tick((t += 999));
    assert.deepEqual(log, ['broadcast 1'], 'not before the interval');
    table.tick((t += 1));
    table.tick((t += 1000));
    assert.deepEqual(log, ['broadcast 1', 'broadcast 2', 'broadcast 3']);
    table.tick((t += 1000));
    assert.equal(state(n), 'FAILED');
    assert.deepEqual(log.slice(3), ['failed dropped=1']);
    assert.equal(table.heldBytes, 0);
    assert.equal(table.hold(n, Buffer.alloc(10), 0, 10, 0x0800, 0, 0, -1), HoldResult.Unreachable, 'a failed neighbour holds nothing');
  });

  it('FAILED backs off: a new resolution starts only after 1 s, then 2 s, 4 s … (doubling) of failures', () => {
    const { sw, table, log } = setup();
    let t = 0;
    const fail = () => {
      for (let k = 0; k < 4; k++) table.tick((t += 1000));
    };
    table.use(sw, IP, t);
    fail();
    assert.equal(state(table.lookup(sw, IP)), 'FAILED');
    const failedAt = table.lookup(sw, IP)!.updated;
    log.length = 0;
    table.use(sw, IP, failedAt + 999);
    assert.deepEqual(log, [], 'still backing off');
    table.use(sw, IP, (t = failedAt + 1000));
    assert.deepEqual(log, ['broadcast 1'], 'resolution again after the first back-off');
    fail();
    const second = table.lookup(sw, IP)!.updated;
    log.length = 0;
    table.use(sw, IP, second + 1999);
    assert.deepEqual(log, []);
    table.use(sw, IP, second + 2000);
    assert.deepEqual(log, ['broadcast 1'], 'the back-off doubled');
  });

  it('a reply resolves: REACHABLE, the held packets are released in order, the hold queue empties', () => {
    const { sw, table, released } = setup();
    const n = table.use(sw, IP, 0)!;
    for (let k = 0; k < 3; k++) table.hold(n, Buffer.from([k]), 0, 1, 0x0800, 0, 0, -1);
    table.learn(sw, IP, MAC, 0, 10, true, true);
    assert.equal(state(n), 'REACHABLE');
    assert.deepEqual(released, [n]);
    assert.equal(n.held.length, 0);
    assert.equal(table.heldBytes, 0);
  });

  it('the hold queue is bounded per neighbour (packets and bytes) and over all neighbours; the oldest goes first', () => {
    const { sw, table } = setup();
    const n = table.use(sw, IP, 0)!;
    const t = table.timers;
    for (let k = 0; k < t.holdPackets; k++) assert.equal(table.hold(n, Buffer.from([k]), 0, 1, 0x0800, 0, 0, -1), HoldResult.Held);
    assert.equal(table.hold(n, Buffer.from([99]), 0, 1, 0x0800, 0, 0, -1), HoldResult.HeldDroppedOldest);
    assert.equal(n.held.length, t.holdPackets);
    assert.equal(n.held[0].data[0], 1, 'the oldest was dropped');
    assert.equal(n.held[n.held.length - 1].data[0], 99);
    assert.equal(table.hold(n, Buffer.alloc(t.holdBytes + 1), 0, t.holdBytes + 1, 0x0800, 0, 0, -1), HoldResult.Refused, 'larger than a queue');
    // All queues together: many unresolved neighbours cannot pin more than holdBytesTotal.
    let held = 0;
    for (let k = 0; k < 64; k++) {
      const m = table.use(sw, IP + 10 + k, 0)!;
      for (let j = 0; j < 4; j++) if (table.hold(m, Buffer.alloc(32 * 1024), 0, 32 * 1024, 0x0800, 0, 0, -1) === HoldResult.Held) held++;
    }
    assert.ok(table.heldBytes <= t.holdBytesTotal, `${table.heldBytes} held`);
    assert.ok(held < 64 * 4, 'some were refused');
  });

  it('REACHABLE → STALE without confirmation; a use moves STALE → DELAY; no confirmation → PROBE (unicast) → FAILED', () => {
    const { sw, table, log } = setup();
    let t = 0;
    table.learn(sw, IP, MAC, 0, t, true, true);
    const n = table.lookup(sw, IP)!;
    table.tick((t += table.timers.reachableMs + 1));
    assert.equal(state(n), 'STALE');
    assert.equal(table.use(sw, IP, t), n);
    assert.equal(state(n), 'DELAY', 'used while stale');
    assert.ok(n.usable, 'packets still go out with the old MAC');
    table.tick((t += table.timers.delayMs));
    assert.equal(state(n), 'PROBE');
    assert.deepEqual(log, ['unicast 1']);
    table.tick((t += 1000));
    table.tick((t += 1000));
    table.tick((t += 1000));
    assert.equal(state(n), 'FAILED');
    assert.deepEqual(log, ['unicast 1', 'unicast 2', 'unicast 3', 'failed dropped=0']);
  });

  it('an entry in use is kept alive by forward progress (confirm) and never probed or dropped', () => {
    const { sw, table, log } = setup(2_000);
    let t = 0;
    table.learn(sw, IP, MAC, 0, t, true, true);
    const n = table.lookup(sw, IP)!;
    for (let k = 0; k < 600; k++) {
      t += 100;
      table.use(sw, IP, t); // a segment sent
      if (k % 5 === 0) table.confirm(sw, IP, t); // an ACK that advanced snd.una, twice a second
      table.tick(t);
      assert.ok(n.usable, `usable at ${t} ms (${state(n)})`);
    }
    assert.equal(table.lookup(sw, IP), n, 'still there after 60 s with a 2 s neighbor-age');
    assert.deepEqual(log, [], 'no probe was needed');
  });

  it('without confirmation but in use, the entry is re-probed (unicast) before it could expire; an answer keeps it', () => {
    const { sw, table, log } = setup(2_000);
    let t = 0;
    table.learn(sw, IP, MAC, 0, t, true, true);
    const n = table.lookup(sw, IP)!;
    for (let k = 0; k < 100; k++) {
      t += 100;
      table.use(sw, IP, t);
      table.tick(t);
      if (log.length > 0 && n.state === NudState.Probe) table.learn(sw, IP, MAC, 0, t, true, true); // the unicast probe is answered
      assert.ok(n.usable);
    }
    assert.ok(log.every((l) => l.startsWith('unicast')), log.join(','));
    assert.ok(log.length >= 1);
  });

  it('unused STALE entries age out after neighbor-age; a changed MAC from an ARP makes the entry STALE', () => {
    const { sw, table } = setup(10_000);
    table.learn(sw, IP, MAC, 0, 0, false, true);
    const n = table.lookup(sw, IP)!;
    assert.equal(state(n), 'STALE');
    table.learn(sw, IP, MAC2, 0, 1000, true, false);
    assert.equal(state(n), 'REACHABLE');
    assert.deepEqual(n.mac, MAC2);
    table.learn(sw, IP, MAC, 0, 2000, false, false);
    assert.equal(state(n), 'STALE', 'a new MAC without confirmation');
    table.tick(11_999);
    assert.equal(table.lookup(sw, IP), n);
    table.tick(12_001);
    assert.equal(table.lookup(sw, IP), undefined, 'removed');
  });

  it('static entries never change, age or fail; del removes them', () => {
    const { sw, table } = setup(1_000);
    table.set(sw, IP, MAC, true, 0);
    const n = table.lookup(sw, IP)!;
    assert.equal(state(n), 'PERMANENT');
    table.learn(sw, IP, MAC2, 0, 10, true, true);
    assert.deepEqual(n.mac, MAC, 'ARP does not override a static entry');
    for (let t = 0; t < 100_000; t += 1000) table.tick(t);
    assert.equal(table.use(sw, IP, 100_000), n);
    assert.equal(state(n), 'PERMANENT');
    assert.equal(table.delete(sw, IP), true);
    assert.equal(table.lookup(sw, IP), undefined);
  });

  it('a full table evicts FAILED, then INCOMPLETE (oldest), then STALE; in-use entries stay, newcomers are then refused (counted)', () => {
    const { sw, table } = setup();
    table.maxEntries = 2;
    table.learn(sw, IP, MAC, 0, 0, true, true); // REACHABLE (a reply to a request we made: in use)
    assert.ok(table.use(sw, IP + 1, 1)); // INCOMPLETE
    assert.ok(table.use(sw, IP + 2, 2), 'the INCOMPLETE one was evicted');
    assert.equal(table.evicted, 1);
    assert.equal(table.lookup(sw, IP + 1), undefined);
    assert.equal(state(table.lookup(sw, IP)), 'REACHABLE', 'the reachable one stays');
    table.set(sw, IP + 2, MAC2, true, 3); // now static
    assert.equal(table.use(sw, IP + 3, 4), undefined, 'nothing left to evict');
    assert.equal(table.refused, 1);
    assert.ok(table.set(sw, IP + 4, MAC, true, 5), 'set ip neighbor still works');
  });

  it('at most maxIncomplete entries resolve at once; the oldest resolution gives way', () => {
    const { sw, table } = setup();
    table.timers.maxIncomplete = 4;
    for (let k = 0; k < 10; k++) assert.ok(table.use(sw, IP + k, k));
    const resolving = table.all().filter((n) => n.state === NudState.Incomplete);
    assert.equal(resolving.length, 4);
    assert.deepEqual(resolving.map((n) => n.ip - IP), [6, 7, 8, 9]);
  });

  it('a FAILED entry is forgotten failedKeepMs after failing, even while packets keep trying it', () => {
    const { sw, table } = setup();
    let t = 0;
    table.use(sw, IP, t);
    for (let k = 0; k < 4; k++) table.tick((t += 1000));
    const n = table.lookup(sw, IP)!;
    assert.equal(state(n), 'FAILED');
    const failedAt = n.updated;
    for (; t < failedAt + table.timers.failedKeepMs + 500; t += 100) {
      if (t < n.due) table.use(sw, IP, t); // traffic that does not restart resolution (backing off)
      table.tick(t);
    }
    const again = table.lookup(sw, IP);
    assert.ok(again === undefined || again !== n, 'the failed entry was removed');
  });
});
