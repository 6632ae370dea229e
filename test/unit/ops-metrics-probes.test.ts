/**
 * /metrics as an off-path oracle, judged end to end (issue 9 item 1, the CVE-2016-5696 class):
 * an attacker who can spoof segments towards the server and scrape the management endpoint must
 * not learn where a probe fell. For each probe kind, two identical worlds (a Dataplane on an
 * in-memory device, the engine's Services with its TCP stack and error sources, one established
 * connection from a scripted client) get a "hit" probe and a "miss" probe; the WHOLE /metrics
 * exposition of each is scraped and must be identical, right after the probe and again after the
 * clock ran on (timers, delayed ACKs).
 *
 * Stripped before comparing (not probe-driven, or clock-driven, and said so):
 * - `process_*` and `nodejs_*`: prom-client's figures of this Node process (CPU, heap, GC, event
 *   loop lag, handles): both worlds live in one process and are scraped at different instants;
 * - `*_seconds_total` of nodes and TLS (vpp_node_seconds_total, vpp_tls_handshake_seconds_total):
 *   measured time, which a probe does change (timing stays observable, see README);
 * - not stripped but not exercised either: the AF_PACKET polling counters (vpp_device_rx_polls_total,
 *   rx_empty_polls), loop turns per second in rx-mode polling, a timing figure too (README); the
 *   in-memory device has none;
 * - HELP/TYPE comment lines (the same text in both).
 * Everything else (device, interface, node calls/vectors, errors, TCP, memory, HTTP) is compared.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { add, CPORT, diff, FAR, type Seg, World } from '../helpers/metrics-world.js';

interface Probe {
  name: string;
  ts?: boolean;
  /** Also over IPv6 (on a VLAN sub-interface). */
  v6?: boolean;
  /** The probe that falls where it matters (in the window, on the connection). */
  hit(w: World): Seg;
  /** The same kind of probe where it does not. */
  miss(w: World): Seg;
}

const PROBES: Probe[] = [
  { name: 'RST in the window vs out of it', v6: true, hit: (w) => ({ seq: add(w.cSeq, 10), flags: TCP_RST }), miss: (w) => ({ seq: add(w.cSeq, FAR), flags: TCP_RST }) },
  {
    name: 'data in the window above RCV.NXT vs out of it',
    v6: true,
    hit: (w) => ({ seq: add(w.cSeq, 100), ack: w.sSeq, flags: TCP_ACK, data: 'x'.repeat(20) }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK, data: 'x'.repeat(20) }),
  },
  {
    name: 'data behind RCV.NXT vs out of the window',
    hit: (w) => ({ seq: add(w.cSeq, -500), ack: w.sSeq, flags: TCP_ACK, data: 'x'.repeat(20) }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK, data: 'x'.repeat(20) }),
  },
  {
    name: 'data in the window with an unacceptable ACK vs out of the window',
    hit: (w) => ({ seq: add(w.cSeq, 100), ack: add(w.sSeq, 12345), flags: TCP_ACK, data: 'x'.repeat(20) }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: add(w.sSeq, 12345), flags: TCP_ACK, data: 'x'.repeat(20) }),
  },
  { name: 'SYN in the window vs out of it', hit: (w) => ({ seq: add(w.cSeq, 10), flags: TCP_SYN }), miss: (w) => ({ seq: add(w.cSeq, FAR), flags: TCP_SYN }) },
  {
    name: 'ACK too new, seq in the window vs out of it',
    hit: (w) => ({ seq: w.cSeq, ack: add(w.sSeq, 100000), flags: TCP_ACK }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: add(w.sSeq, 100000), flags: TCP_ACK }),
  },
  {
    name: 'ACK too old, seq in the window vs out of it',
    hit: (w) => ({ seq: w.cSeq, ack: add(w.sSeq, -FAR), flags: TCP_ACK }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: add(w.sSeq, -FAR), flags: TCP_ACK }),
  },
  {
    name: 'PAWS-failing segment in the window vs a good timestamp out of it',
    ts: true,
    hit: (w) => ({ seq: add(w.cSeq, 10), ack: w.sSeq, flags: TCP_ACK, data: 'y', ts: [w.ts - 100000, 0] }),
    miss: (w) => ({ seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK, data: 'y' }),
  },
  {
    name: 'ACK for the existing 4-tuple with a wrong seq vs for no connection',
    v6: true,
    hit: (w) => ({ seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK }),
    miss: (w) => ({ srcPort: CPORT + 1, seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK }),
  },
  {
    name: 'RST for the existing 4-tuple in the window vs for no connection',
    hit: (w) => ({ seq: add(w.cSeq, 10), flags: TCP_RST }),
    miss: (w) => ({ srcPort: CPORT + 1, seq: add(w.cSeq, 10), flags: TCP_RST }),
  },
];

/** Runs `n` probes of each side (10 ms apart) in twin worlds and compares the scrapes. */
async function judge(p: Probe, n: number, family: 4 | 6 = 4): Promise<void> {
  const worlds = [await World.create(family, p.ts === true), await World.create(family, p.ts === true)];
  try {
    const answered = [0, 0];
    worlds.forEach((w, side) => {
      for (let i = 0; i < n; i++) {
        answered[side] += w.send(side === 0 ? p.hit(w) : p.miss(w)).length;
        w.advance(10);
      }
    });
    const [a, b] = await Promise.all(worlds.map((w) => w.scrape()));
    assert.ok(a.length > 100, `a whole exposition (${a.length} series)`);
    assert.equal(diff(a, b), '', `${p.name} (${n}x; the server answered ${answered[0]} vs ${answered[1]} segments): the scrapes differ`);
    for (const w of worlds) w.advance(2000);
    const [a2, b2] = await Promise.all(worlds.map((w) => w.scrape()));
    assert.equal(diff(a2, b2), '', `${p.name} (${n}x), 2 s later: the scrapes differ`);
  } finally {
    for (const w of worlds) w.close();
  }
}

describe('/metrics tells a spoofer nothing about where its probe fell (whole exposition)', () => {
  for (const p of PROBES) {
    it(`${p.name}: one probe`, () => judge(p, 1));
    it(`${p.name}: five probes in a row`, () => judge(p, 5));
    if (p.v6 === true) it(`${p.name}: five probes in a row, IPv6 on a VLAN sub-interface`, () => judge(p, 5, 6));
  }

  it('the twin worlds do see the probes (the oracle is not comparing two empty scrapes)', async () => {
    const w = await World.create(4, false);
    try {
      const before = await w.scrape();
      const answers = w.send({ seq: add(w.cSeq, 10), flags: TCP_RST });
      assert.equal(answers.length, 1, 'a challenge ACK');
      assert.equal(answers[0].flags, TCP_ACK);
      const after = await w.scrape();
      assert.notEqual(diff(before, after), '', 'the input series moved');
    } finally {
      w.close();
    }
  });
});
