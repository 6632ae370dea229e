/**
 * Heap bytes per idle keep-alive connection, in one process and without a network: our TCP stack
 * and HTTP static server (as the dataplane runs them) take N connections from a scripted Linux-
 * like client (SYN with MSS, window scale, SACK-permitted and timestamps; ACK; one GET; the ACK
 * of the response), then the heap is compared after a full GC before and with the N idle
 * connections held (V8's heap and ArrayBuffer memory, which is outside it). With --snapshot, V8
 * heap snapshots before and after are compared by constructor: what one idle connection is made
 * of ("(native) ArrayBuffer.backing_store" is the ArrayBuffer memory).
 *
 *   node --expose-gc dist/bench/idle-heap.js [--conns 8000] [--snapshot]
 *
 * Prints the figures; it asserts nothing. The dataplane's RSS per connection (bench row "idle")
 * is this plus allocator and V8 slack.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapSnapshot } from 'node:v8';
import { HttpStaticServer } from '../src/http/server.js';
import { TcpStack } from '../src/tcp/stack.js';
import type { SegmentSink } from '../src/tcp/types.js';
import { TCP_ACK, TCP_HEADER_LEN, TCP_PSH, TCP_SYN, TcpParsedOptions, parseTcpOptions, tcpHeaderLen, writeOptMss, writeOptSackPermitted, writeOptTimestamp, writeOptWscale, writeTcpHeader } from '../src/wire/tcp.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('--conns', 8000);
const SNAPSHOT = process.argv.includes('--snapshot');

/** Keeps what the last segment said. */
class Sink implements SegmentSink {
  readonly buf = Buffer.alloc(70_000);
  readonly off = 54;
  readonly room = 1460 + 40;
  readonly opt = new TcpParsedOptions();
  seq = 0;
  flags = 0;
  dataLen = 0;
  dataSegs = 0;
  begin(): boolean {
    return true;
  }
  end(tcpLen: number): void {
    const b = this.buf;
    const o = this.off;
    const hl = tcpHeaderLen(b, o);
    this.seq = b.readUInt32BE(o + 4);
    this.flags = b[o + 13];
    parseTcpOptions(b, o, hl, this.opt);
    this.dataLen = tcpLen - hl;
    if (this.dataLen > 0) this.dataSegs++;
  }
}

/** After full GCs: V8's heap and the ArrayBuffers' backing stores (outside it: the TCP double slab, the SentLog pool). */
const heap = () => {
  for (let i = 0; i < 4; i++) gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
};

/** Self size and count per constructor name in a heap snapshot. */
async function byConstructor(): Promise<Map<string, { count: number; bytes: number }>> {
  gc!();
  const chunks: Buffer[] = [];
  for await (const c of getHeapSnapshot()) chunks.push(c as Buffer);
  const s = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
    nodes: number[];
    edges: number[];
    strings: string[];
  };
  const f = s.snapshot.meta.node_fields;
  const width = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const iEdges = f.indexOf('edge_count');
  const types = s.snapshot.meta.node_types[0];
  const ef = s.snapshot.meta.edge_fields;
  const eWidth = ef.length;
  const eType = ef.indexOf('type');
  const eName = ef.indexOf('name_or_index');
  const eTo = ef.indexOf('to_node');
  const edgeTypes = s.snapshot.meta.edge_types[0];
  const label = (i: number) => {
    const type = types[s.nodes[i + iType]];
    return type === 'object' ? s.strings[s.nodes[i + iName]] : type === 'closure' ? `closure ${s.strings[s.nodes[i + iName]]}` : `(${type})`;
  };
  // Unnamed storage ((array), (number), …) is labelled by what holds it: "(number) TcpConnection.rtoAt".
  const parent = new Map<number, { from: number; edge: string }>();
  for (let i = 0, e = 0; i < s.nodes.length; i += width) {
    for (let k = 0; k < s.nodes[i + iEdges]; k++, e += eWidth) {
      const to = s.edges[e + eTo];
      const et = edgeTypes[s.edges[e + eType]];
      if (et === 'weak' || parent.has(to)) continue;
      parent.set(to, { from: i, edge: et === 'element' || et === 'hidden' ? '[]' : et === 'internal' ? s.strings[s.edges[e + eName]] : s.strings[s.edges[e + eName]] });
    }
  }
  const holderOf = (i: number, depth = 0): string => {
    const p = parent.get(i);
    if (p === undefined) return '';
    const l = label(p.from);
    if (l.startsWith('(') && depth < 3) return `${holderOf(p.from, depth + 1)}→${l}.${p.edge}`;
    return `${l}.${p.edge}`;
  };
  const holder = { get: (i: number) => holderOf(i) };
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const base = label(i);
    const key = base.startsWith('(') ? `${base} ${holder.get(i) ?? ''}` : base;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += s.nodes[i + iSize];
    out.set(key, e);
  }
  return out;
}

async function main(): Promise<void> {
  const www = mkdtempSync(join(tmpdir(), 'idle-heap-'));
  writeFileSync(join(www, 'index.html'), 'Welcome\n');
  const sink = new Sink();
  const stack = new TcpStack(sink, { mss: 1460, maxConnections: N + 1000 });
  const server = new HttpStaticServer({ wwwRoot: www, cacheSizeBytes: 1 << 20 });
  const LOCAL = 0xc0a87b96;
  stack.listen(0, 80, server.accept);
  const scratch = Buffer.alloc(512);
  const req = Buffer.from('GET /index.html HTTP/1.1\r\nHost: 192.168.123.150\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n');
  let now = 1000;
  const send = (peer: number, port: number, flags: number, seq: number, ack: number, tsEcr: number, syn: boolean, payload?: Buffer) => {
    let p = TCP_HEADER_LEN;
    if (syn) {
      p = writeOptMss(scratch, p, 1460);
      p = writeOptSackPermitted(scratch, p);
    }
    p = writeOptTimestamp(scratch, p, Math.floor(now) >>> 0, tsEcr, syn);
    if (syn) p = writeOptWscale(scratch, p, 7);
    while ((p & 3) !== 0) scratch[p++] = 1;
    writeTcpHeader(scratch, 0, port, 80, seq, ack, p, flags, syn ? 64240 : 502);
    let len = p;
    if (payload !== undefined) {
      payload.copy(scratch, p);
      len += payload.length;
    }
    stack.input(peer, LOCAL, scratch, 0, len, now);
    stack.flush(now);
  };
  const open = async (i: number) => {
    const peer = (0xc0a87b00 + 20 + (i % 10)) >>> 0;
    const port = 10000 + Math.floor(i / 10);
    const isn = (i * 7919) >>> 0;
    send(peer, port, TCP_SYN, isn, 0, 0, true);
    const iss = sink.seq;
    send(peer, port, TCP_ACK, (isn + 1) >>> 0, (iss + 1) >>> 0, sink.opt.tsVal, false);
    const before = sink.dataSegs;
    send(peer, port, TCP_ACK | TCP_PSH, (isn + 1) >>> 0, (iss + 1) >>> 0, sink.opt.tsVal, false, req);
    // A response may wait for the file cache's revalidation (an async stat): give it real time.
    for (let k = 0; k < 2000 && sink.dataSegs === before; k++) {
      await new Promise((r) => (k < 50 ? setImmediate(r) : setTimeout(r, 1)));
      stack.flush(now);
    }
    if (sink.dataSegs === before) throw new Error(`connection ${i}: no response (tcp errors ${JSON.stringify(stack.errors)}, connections ${stack.counters.connections})`);
    send(peer, port, TCP_ACK, (isn + 1 + req.length) >>> 0, (sink.seq + sink.dataLen) >>> 0, sink.opt.tsVal, false);
  };
  // Warm up: the code, the file cache, the tables' first growth (these connections stay too).
  for (let i = 0; i < 200; i++) await open(i);
  now += 10;
  stack.tick(now);
  // The first snapshot's table waits in a file: held in memory, its Map, keys and entries would be
  // counted in the second snapshot as if the connections held them.
  const snap0File = join(www, 'snap0.json');
  if (SNAPSHOT) writeFileSync(snap0File, JSON.stringify([...(await byConstructor())]));
  await new Promise((r) => setTimeout(r, 600));
  const h0 = heap();
  for (let i = 200; i < 200 + N; i++) {
    await open(i);
    if (i % 100 === 0) {
      now += 1;
      stack.tick(now);
    }
  }
  now += 100;
  stack.tick(now);
  // The HTTP server's sweep (real time, every ≤ 250 ms) marks the connections idle.
  await new Promise((r) => setTimeout(r, 600));
  const h1 = heap();
  const conns = stack.counters.connections;
  const dh = h1.heap - h0.heap;
  const db = h1.buffers - h0.buffers;
  console.log(
    `${conns} connections held (${N} measured): ${((dh + db) / N).toFixed(0)} bytes per idle connection: ${(dh / N).toFixed(0)} V8 heap + ${(db / N).toFixed(0)} ArrayBuffer ` +
      `(${((dh + db) / 1048576).toFixed(1)} MiB); http requests ${server.stats().requests}`,
  );
  if (SNAPSHOT) {
    const snap1 = await byConstructor();
    const snap0 = new Map(JSON.parse(readFileSync(snap0File, 'utf8')) as Array<[string, { count: number; bytes: number }]>);
    const rows: Array<[string, number, number]> = [];
    for (const [k, v] of snap1) {
      const b = snap0.get(k) ?? { count: 0, bytes: 0 };
      const dBytes = v.bytes - b.bytes;
      if (dBytes > N * 4) rows.push([k, (v.count - b.count) / N, dBytes / N]);
    }
    rows.sort((a, b) => b[2] - a[2]);
    let total = 0;
    for (const r of rows) total += r[2];
    console.log('per idle connection, by constructor (objects, bytes):');
    for (const [k, c, b] of rows.slice(0, 60)) console.log(`  ${b.toFixed(0).padStart(6)} B  ${c.toFixed(2).padStart(6)}×  ${k}`);
    console.log(`  ${total.toFixed(0).padStart(6)} B  in the rows above 4 B`);
  }
  server.close?.();
  rmSync(www, { recursive: true, force: true });
  process.exit(0);
}

void main();
