/**
 * A data segment that carries SACK blocks must still fit the peer's MSS
 * (RFC 9293 §3.7.1, RFC 6691: TCP options come out of the MSS; Linux's tcp_current_mss does so).
 * sndMss only leaves room for the timestamp option (stack.ts negotiate, packetTooBig), and
 * output.ts caps a segment by the interface's room only: with an MSS below the interface's
 * (a small-MTU peer, or a Packet Too Big at IPv6's 1280 floor) a segment with SACK blocks is
 * larger than the path takes, and a second Packet Too Big does not lower the MSS again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpHarness } from '../../src/tcp/testing.js';

const TCP_ACK = 0x10;

test('data segments with SACK blocks stay within MSS + 20 bytes of TCP header', () => {
  const h = new TcpHarness();
  h.open({ mss: 1220, sackOk: true, ts: true, wscale: 7, window: 65535 });
  const c = h.conn!;
  // The peer sends 100 bytes out of order: we now hold a block and report it in every segment.
  h.in({ flags: TCP_ACK, seq: h.pseq(1000), ack: h.seq(0), ts: h.ts(0), window: 65535, data: Buffer.alloc(100, 0x41) });
  c.write(Buffer.alloc(20_000, 0x42));
  const out = h.flush();
  const data = out.filter((s) => s.payload.length > 0);
  assert.ok(data.length > 0, 'data was sent');
  assert.ok(data.some((s) => s.sack.length > 0), 'the data segments carry the SACK block');
  for (const s of data) {
    // MSS 1220 ⇒ at most 1240 bytes of TCP header + data (an IPv6 path of 1280)
    assert.ok(s.bytes.length <= 1220 + 20, `a ${s.bytes.length}-byte TCP segment (${s.bytes.length - s.payload.length}-byte header, ${s.payload.length} data) for a peer MSS of 1220`);
  }
});
