/**
 * The memory budget (issue 9 "Memory accounting"): out-of-order and held receive bytes are
 * charged globally and per source address; under pressure out-of-order data goes first and
 * windows stop growing; at the limit held data is refused (not ACKed) and new connections are
 * refused; per-source connection and byte limits. Injected clock (TcpHarness.now).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TcpHarness, buildSegment, type DecodedSegment } from '../../src/tcp/testing.js';
import { BUFFER_OVERHEAD, MEM_OOO, MEM_RECV, MemoryBudget } from '../../src/tcp/budget.js';
import { SOURCE_CONN_LIMIT, SOURCE_MEMORY_LIMIT, SOURCE_OK, SourceLimits } from '../../src/tcp/source-limits.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../src/wire/tcp.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import { TIME_WAIT } from '../../src/tcp/types.js';

const OTHER_IP = 0x0a000003; // 10.0.0.3, a second client address
const kb = (n: number) => Buffer.alloc(n, 0x61);

function harness(limit: number, extra: Partial<ConstructorParameters<typeof MemoryBudget>[0]> = {}): TcpHarness {
  return new TcpHarness({ rcvBuf: 65535, memory: new MemoryBudget({ limit, ...extra }) });
}

/** Opens a connection from ip:port with a raw handshake; returns the SYN-ACK (undefined if refused). */
function openFrom(h: TcpHarness, ip: number, port: number, isn = 5000): DecodedSegment | undefined {
  const feed = (b: Buffer) => {
    h.stack.input(ip, h.local, b, 0, b.length, h.now);
    h.stack.flush(h.now);
    return h.sink.take();
  };
  const sa = feed(buildSegment({ srcPort: port, dstPort: h.lport, seq: isn, flags: TCP_SYN, mss: 1460 }))[0];
  if (sa === undefined) return undefined;
  feed(buildSegment({ srcPort: port, dstPort: h.lport, seq: isn + 1, ack: (sa.seq + 1) >>> 0, flags: TCP_ACK }));
  return sa;
}

describe('memory budget: charging', () => {
  it('out-of-order bytes are charged while held and released when the hole fills', () => {
    const h = harness(1 << 20);
    const mem = h.stack.mem;
    h.open();
    h.in({ flags: TCP_ACK, seq: h.pseq(1000), ack: h.seq(), data: kb(1000) });
    h.in({ flags: TCP_ACK, seq: h.pseq(3000), ack: h.seq(), data: kb(500) });
    assert.equal(mem.used[MEM_OOO], 1500 + 2 * BUFFER_OVERHEAD);
    assert.equal(mem.sources.get(h.remote)?.bytes, 1500 + 2 * BUFFER_OVERHEAD);
    h.in({ flags: TCP_ACK, seq: h.pseq(0), ack: h.seq(), data: kb(1000) });
    assert.equal(mem.used[MEM_OOO], 500 + BUFFER_OVERHEAD, 'the piece beyond the second hole stays');
    assert.equal(h.received.length, 2000);
    h.in({ flags: TCP_ACK, seq: h.pseq(2000), ack: h.seq(), data: kb(1000) });
    assert.equal(h.received.length, 3500);
    assert.equal(mem.total, 0);
  });

  it('a paused reader: held bytes are charged and released on resume; destroy releases the rest', () => {
    const h = harness(1 << 20);
    const mem = h.stack.mem;
    h.onAccept = (c) => c.pause!();
    h.open();
    h.in({ flags: TCP_ACK, seq: h.pseq(0), ack: h.seq(), data: kb(1000) });
    h.in({ flags: TCP_ACK, seq: h.pseq(1000), ack: h.seq(), data: kb(1000) });
    assert.equal(mem.used[MEM_RECV], 2000 + 2 * BUFFER_OVERHEAD);
    assert.equal(h.received.length, 0);
    h.conn!.resume!();
    assert.equal(h.received.length, 2000);
    assert.equal(mem.total, 0);
    h.conn!.pause!();
    h.in({ flags: TCP_ACK, seq: h.pseq(2000), ack: h.seq(), data: kb(700) });
    h.in({ flags: TCP_ACK, seq: h.pseq(4000), ack: h.seq(), data: kb(300) }); // out of order
    assert.equal(mem.total, 1000 + 2 * BUFFER_OVERHEAD);
    h.conn!.abort();
    assert.equal(mem.total, 0);
    assert.equal(mem.used[MEM_OOO] + mem.used[MEM_RECV], 0);
    assert.equal(mem.sources.sources, 0, 'the source slot is released with its last connection');
  });

  it('TIME_WAIT holds no budget and does not count for its source', () => {
    const h = harness(1 << 20);
    h.open();
    assert.equal(h.stack.mem.sources.get(h.remote)?.connections, 1);
    // We close first: FIN, the peer ACKs it with its own FIN → TIME_WAIT.
    h.conn!.end();
    const fin = h.flush().find((s) => (s.flags & TCP_FIN) !== 0)!;
    h.in({ flags: TCP_ACK | TCP_FIN, seq: h.pseq(), ack: (fin.seq + 1) >>> 0 });
    assert.equal(h.stack.find(h.local, h.lport, h.remote, h.rport)?.state, TIME_WAIT);
    assert.equal(h.stack.mem.sources.get(h.remote), undefined);
    assert.equal(h.stack.mem.total, 0);
  });
});

describe('memory budget: pressure and limit', () => {
  it('out-of-order data alone is pruned when it reaches the pressure level (the peer retransmits it)', () => {
    // limit 40 000: pressure from 30 000. Each 1000-byte piece costs 1128.
    const h = harness(40_000);
    const mem = h.stack.mem;
    h.open();
    let max = 0;
    for (let k = 1; k <= 60; k++) {
      h.in({ flags: TCP_ACK, seq: h.pseq(1000 * k), ack: h.seq(), data: kb(1000) });
      max = Math.max(max, mem.total);
    }
    assert.ok(max < mem.pressureAt + 1128, `at most one piece above the pressure level (max ${max})`);
    assert.equal(h.stack.errors['ooo-pruned-memory'], 2, 'pruned twice in 60 pieces');
    assert.ok(mem.used[MEM_OOO] > 0 && mem.used[MEM_OOO] < mem.pressureAt, 'what came after the last prune is held');
    // The hole fills: only the in-order segment is delivered, nothing that was pruned.
    const acks = h.in({ flags: TCP_ACK, seq: h.pseq(0), ack: h.seq(), data: kb(1000) });
    assert.equal(h.received.length, 1000);
    assert.equal(acks.at(-1)?.ack, h.pseq(1000));
  });

  it('while held data keeps the budget tight, out-of-order segments are not kept at all', () => {
    const h = harness(40_000);
    const mem = h.stack.mem;
    h.onAccept = (c) => c.pause!();
    h.open();
    for (let i = 0; i < 28; i++) h.in({ flags: TCP_ACK, seq: h.pseq(1000 * i), ack: h.seq(), data: kb(1000) });
    assert.ok(mem.tight(-1), '28 × 1128 ≥ 30 000');
    const acks = h.in({ flags: TCP_ACK, seq: h.pseq(29_000), ack: h.seq(), data: kb(1000) });
    assert.equal(h.stack.errors['ooo-drop-memory'], 1);
    assert.equal(mem.used[MEM_OOO], 0);
    assert.deepEqual(acks.at(-1)?.sack, [], 'no SACK block for data we did not keep');
  });

  it('at the limit a paused reader gets no more data (not ACKed); what was ACKed is all delivered', () => {
    const h = harness(40_000);
    const mem = h.stack.mem;
    h.onAccept = (c) => c.pause!();
    h.open();
    let sent = 0;
    for (let i = 0; i < 40; i++) {
      h.in({ flags: TCP_ACK, seq: h.pseq(sent), ack: h.seq(), data: kb(1000) });
      if (h.conn!.rcvNxt >>> 0 === h.pseq(sent + 1000)) sent += 1000;
    }
    // 35 × 1128 = 39 480 fit in 40 000; the 36th does not.
    assert.equal(sent, 35_000);
    assert.ok(mem.total <= mem.limit);
    assert.ok((h.stack.errors['rcv-drop-memory'] ?? 0) >= 1);
    const ack = h.advance(100).filter((s) => (s.flags & TCP_ACK) !== 0).at(-1);
    assert.equal(ack?.ack ?? h.conn!.rcvNxt >>> 0, h.pseq(35_000), 'only what was kept is acknowledged');
    // New connections are refused while the budget is this full.
    assert.equal(openFrom(h, OTHER_IP, 41000), undefined);
    assert.equal(h.stack.errors['memory-limit'], 1);
    h.conn!.resume!();
    assert.equal(h.received.length, 35_000, 'every acknowledged byte reaches the application');
    assert.equal(mem.total, 0);
    assert.ok(openFrom(h, OTHER_IP, 41001) !== undefined, 'admitted again once the memory is back');
  });

  it('while tight, windows grow by at most 4 segments beyond what was promised', () => {
    const h = harness(40_000);
    const mem = h.stack.mem;
    h.onAccept = (c) => {
      if (h.rport === 40000) c.pause!();
    };
    h.open(); // A (paused) pins 31 KB: the budget is tight
    const a = h.conn!;
    for (let i = 0; i < 28; i++) h.in({ flags: TCP_ACK, seq: h.pseq(1000 * i), ack: h.seq(), data: kb(1000) });
    assert.ok(mem.tight(-1));
    h.rport = 40001;
    h.open(); // B reads everything at once
    const b = h.conn!;
    const edge0 = b.rcvAdvRight;
    for (let i = 0; i < 10; i++) h.in({ flags: TCP_ACK, seq: h.pseq(1000 * i), ack: h.seq(), data: kb(1000) });
    h.advance(100);
    assert.equal(h.received.length, 10_000);
    assert.equal(b.rcvAdvRight, edge0, 'the right edge did not move while tight');
    a.resume!();
    assert.ok(!mem.tight(-1));
    h.in({ flags: TCP_ACK, seq: h.pseq(10_000), ack: h.seq(), data: kb(1000) });
    h.in({ flags: TCP_ACK, seq: h.pseq(11_000), ack: h.seq(), data: kb(1000) });
    assert.ok(((b.rcvAdvRight - edge0) | 0) > 0, 'the window grows again');
  });

  it('the stack prunes the out-of-order data of idle connections once the budget is tight', () => {
    const h = harness(40_000);
    const mem = h.stack.mem;
    h.onAccept = (c) => {
      if (h.rport === 40001) c.pause!();
    };
    h.open(); // A holds out-of-order data and then goes quiet
    for (let i = 1; i <= 5; i++) h.in({ flags: TCP_ACK, seq: h.pseq(2000 * i), ack: h.seq(), data: kb(1000) });
    assert.equal(mem.used[MEM_OOO], 5 * 1128);
    h.rport = 40001;
    h.open(); // B, paused, fills the budget past the pressure level with in-order data
    for (let i = 0; i < 23; i++) h.in({ flags: TCP_ACK, seq: h.pseq(1000 * i), ack: h.seq(), data: kb(1000) });
    assert.ok(mem.used[MEM_RECV] + 5 * 1128 >= mem.pressureAt, 'A and B together reached the pressure level');
    assert.equal(mem.used[MEM_OOO], 0, "A's out-of-order data was given back");
    assert.equal(mem.used[MEM_RECV], 23 * 1128, "B's acknowledged data is kept");
    assert.equal(h.stack.errors['ooo-pruned-memory'], 1);
  });
});

describe('per-source limits', () => {
  it('connections per source address: the one beyond the limit is refused and counted, others are not', () => {
    const h = harness(1 << 20, { sourceMaxConnections: 2 });
    assert.ok(openFrom(h, h.remote, 40000));
    assert.ok(openFrom(h, h.remote, 40001));
    assert.equal(openFrom(h, h.remote, 40002), undefined, 'third connection from one address');
    assert.equal(h.stack.errors['source-conn-limit'], 1);
    assert.ok(openFrom(h, OTHER_IP, 40002), 'another address is not affected');
    (h.stack.find(h.local, h.lport, h.remote, 40000) as TcpConnection).abort();
    assert.ok(openFrom(h, h.remote, 40003), 'admitted again after one closed');
    assert.equal(h.stack.mem.sources.get(h.remote)?.connections, 2);
  });

  it('bytes per source address: a source over its limit loses out-of-order data and new connections; another is unaffected', () => {
    // 8000 per source: tight from 6000, new connections refused from 7500.
    const h = harness(1 << 20, { sourceMaxBytes: 8000 });
    const mem = h.stack.mem;
    h.onAccept = (c) => {
      if (c.remotePort === 40000) c.pause!();
    };
    openFrom(h, h.remote, 40000, 1000); // A1, paused
    openFrom(h, h.remote, 40001, 1000); // A2
    openFrom(h, OTHER_IP, 40001, 1000); // B
    const data = (ip: number, port: number, at: number) => {
      const c = h.stack.find(h.local, h.lport, ip, port) as TcpConnection;
      const b = buildSegment({ srcPort: port, dstPort: h.lport, seq: 1001 + at, ack: c.sndNxt, flags: TCP_ACK, data: kb(1000) });
      h.stack.input(ip, h.local, b, 0, b.length, h.now);
      h.stack.flush(h.now);
      h.sink.take();
      return c;
    };
    let a1: TcpConnection | undefined;
    for (let i = 0; i < 8; i++) a1 = data(h.remote, 40000, 1000 * i);
    assert.equal(a1!.rcvNxt, 1001 + 7000, '7 × 1128 = 7896 fit in 8000, the 8th segment does not');
    assert.equal(h.stack.errors['rcv-drop-memory'], 1);
    data(h.remote, 40001, 2000); // A2 out of order: dropped, A is tight
    assert.equal(h.stack.errors['ooo-drop-memory'], 1);
    data(OTHER_IP, 40001, 2000); // B out of order: kept
    assert.equal(mem.sources.get(OTHER_IP)?.bytes, 1128);
    assert.equal(openFrom(h, h.remote, 40002, 1000), undefined, 'A gets no new connection');
    assert.equal(h.stack.errors['source-memory-limit'], 1);
    assert.ok(openFrom(h, OTHER_IP, 40002, 1000), 'B does');
    a1!.resume!();
    assert.equal(mem.sources.get(h.remote)?.bytes, 0);
    assert.ok(openFrom(h, h.remote, 40002, 1000), 'A is admitted again once its bytes are read');
  });
});

describe('SourceLimits', () => {
  it('admits, refuses by count and by bytes, reuses slots, grows past its first slots', () => {
    const s = new SourceLimits({ maxConnections: 2, maxBytes: 1600 });
    const a = s.open(1);
    s.open(1);
    assert.equal(s.admit(1), SOURCE_CONN_LIMIT);
    s.close(a);
    assert.equal(s.admit(1), SOURCE_OK);
    s.charge(a, 1500); // 15/16 of 1600
    assert.equal(s.admit(1), SOURCE_MEMORY_LIMIT);
    assert.ok(s.tight(a) && !s.room(a, 101));
    s.release(a, 1500);
    s.close(a);
    assert.equal(s.sources, 0);
    const slots = new Set<number>();
    for (let ip = 100; ip < 1100; ip++) slots.add(s.open(ip));
    assert.equal(slots.size, 1000);
    assert.equal(s.get(555)?.connections, 1);
    s.charge(s.open(555), 10);
    assert.equal(s.get(555)?.connections, 2);
    assert.deepEqual(s.top(1)[0], { ip: 555, connections: 2, bytes: 10 });
  });
});

describe('dropping a reader that closed its window', () => {
  it('the RST carries the right edge of the peer window (where it can accept it), not a probe byte beyond', () => {
    const h = new TcpHarness({ rcvBuf: 65535 });
    h.open({ window: 2920 });
    h.conn!.write(Buffer.alloc(100_000, 0x41));
    const out = h.flush();
    const sent = out.reduce((n, s) => n + s.payload.length, 0);
    assert.equal(sent, 2920, 'the peer window');
    h.in({ flags: TCP_ACK, seq: h.pseq(), ack: h.seq(2920), window: 0 }); // it takes those, then stops
    const probes = h.runFor(5000).filter((x) => x.s.payload.length === 1);
    assert.ok(probes.length > 0, 'a zero-window probe went out');
    assert.equal(h.conn!.sndMax >>> 0, h.seq(2921), 'the probe byte is beyond the window');
    h.conn!.abort();
    const rst = h.flush().concat(h.sink.take()).find((s) => (s.flags & 0x04) !== 0);
    assert.ok(rst !== undefined);
    assert.equal(rst.seq, h.seq(2920), "RST at the peer's RCV.NXT: accepted, not dropped as out of window");
  });
});
