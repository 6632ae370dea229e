/**
 * Ping latency (issue 12, item 1): an echo reply leaves inside the vector that carried its
 * request. The device sees the reply's send() while the RX handler that delivered the request is
 * still running: no timer, no setImmediate, no microtask and no later vector is needed, so the
 * addon's sendmmsg for it returns before the drain ends (the addon's "pickup to reply sent"
 * histogram measures exactly that span on a real socket).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seedTestBedWithClient } from '../helpers/dataplane.js';
import { pingFrame } from '../helpers/frames.js';
import type { MemoryDevice } from '../../src/io/memory-device.js';
import type { Device, RxHandler, TxVector } from '../../src/io/device.js';

/** The memory device, recording for every send() whether an RX handler was running. */
function watching(dev: MemoryDevice, log: boolean[]): Device {
  let inHandler = false;
  return new Proxy(dev, {
    get(target, prop, receiver) {
      if (prop === 'start') {
        return (handler: RxHandler) =>
          target.start((rx) => {
            inHandler = true;
            try {
              handler(rx);
            } finally {
              inHandler = false;
            }
          });
      }
      if (prop === 'send') {
        return (tx: TxVector) => {
          if (tx.count > 0) log.push(inHandler);
          return target.send(tx);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('ping latency: the echo reply is handed to the device inside the same vector', () => {
  it('sends the reply from inside the RX handler, with the clock standing still', async () => {
    const sends: boolean[] = [];
    const tb = await seedTestBedWithClient({ wrap: (d) => watching(d, sends) });
    const clockBefore = tb.clock.now;
    sends.length = 0;
    const replies = tb.send(pingFrame({ id: 9, seq: 1, data: Buffer.alloc(56, 1) }));
    assert.equal(replies.length, 1, 'one echo reply, sent before deliver() returned');
    assert.deepEqual(sends, [true], 'one send(), made while the handler that delivered the request ran');
    assert.equal(tb.clock.now, clockBefore, 'no time had to pass (no timer sends it)');
  });

  it('a vector of 64 echo requests leaves as one send() of 64 replies, inside the vector', async () => {
    const sends: boolean[] = [];
    const tb = await seedTestBedWithClient({ wrap: (d) => watching(d, sends) });
    sends.length = 0;
    const replies = tb.send(Array.from({ length: 64 }, (_, seq) => pingFrame({ id: 9, seq, data: Buffer.alloc(56, 2) })));
    assert.equal(replies.length, 64);
    assert.deepEqual(sends, [true], 'the replies are batched into the one TX vector of the RX vector');
  });
});
