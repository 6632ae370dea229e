import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  TCP_ACK,
  TCP_ERR_BAD_DATA_OFFSET,
  TCP_ERR_BAD_FLAGS,
  TCP_ERR_BAD_OPTION,
  TCP_ERR_BAD_PORT,
  TCP_ERR_TOO_SHORT,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  TcpParsedOptions,
  checkTcp,
  fillTcpChecksum,
  parseTcpOptions,
  tcpAck,
  tcpChecksumOk,
  tcpDstPort,
  tcpFlags,
  tcpHeaderLen,
  tcpSeq,
  tcpSrcPort,
  tcpWindow,
} from '../../src/wire/tcp.js';
import { buildSegment } from '../../src/tcp/testing.js';

describe('wire/tcp', () => {
  it('writes and reads the fixed header fields', () => {
    const b = buildSegment({ srcPort: 1234, dstPort: 80, seq: 0xfffffff0, ack: 7, flags: TCP_SYN | TCP_ACK, window: 4321 });
    assert.equal(tcpSrcPort(b, 0), 1234);
    assert.equal(tcpDstPort(b, 0), 80);
    assert.equal(tcpSeq(b, 0), 0xfffffff0);
    assert.equal(tcpAck(b, 0), 7);
    assert.equal(tcpFlags(b, 0), TCP_SYN | TCP_ACK);
    assert.equal(tcpWindow(b, 0), 4321);
    assert.equal(tcpHeaderLen(b, 0), 20);
    assert.equal(checkTcp(b, 0, b.length), 0);
  });

  it('parses MSS, window scale, SACK-permitted, timestamps and SACK blocks', () => {
    const b = buildSegment({
      srcPort: 1, dstPort: 2, seq: 1, flags: TCP_SYN, mss: 1400, wscale: 7, sackOk: true, ts: [111, 222],
      sack: [[10, 20], [30, 40]],
    });
    const o = new TcpParsedOptions();
    assert.equal(parseTcpOptions(b, 0, tcpHeaderLen(b, 0), o), 0);
    assert.equal(o.mss, 1400);
    assert.equal(o.wscale, 7);
    assert.equal(o.sackOk, true);
    assert.equal(o.hasTs, true);
    assert.equal(o.tsVal, 111);
    assert.equal(o.tsEcr, 222);
    assert.equal(o.sackCount, 2);
    assert.deepEqual([...o.sack.subarray(0, 4)], [10, 20, 30, 40]);
  });

  it('caps a window scale above 14 at 14 (RFC 7323 §2.3)', () => {
    const b = buildSegment({ srcPort: 1, dstPort: 2, seq: 1, flags: TCP_SYN, wscale: 20 });
    const o = new TcpParsedOptions();
    assert.equal(parseTcpOptions(b, 0, tcpHeaderLen(b, 0), o), 0);
    assert.equal(o.wscale, 14);
  });

  it('rejects malformed segments and options', () => {
    const b = buildSegment({ srcPort: 1, dstPort: 2, seq: 1, flags: TCP_ACK, mss: 1460 });
    assert.equal(checkTcp(b, 0, 19), TCP_ERR_TOO_SHORT);
    const c = Buffer.from(b);
    c[12] = 0x40; // data offset 16 bytes
    assert.equal(checkTcp(c, 0, c.length), TCP_ERR_BAD_DATA_OFFSET);
    c[12] = 0xf0; // 60 bytes > segment
    assert.equal(checkTcp(c, 0, c.length), TCP_ERR_BAD_DATA_OFFSET);
    const d = Buffer.from(b);
    d[0] = 0;
    d[1] = 0;
    assert.equal(checkTcp(d, 0, d.length), TCP_ERR_BAD_PORT);
    const e = buildSegment({ srcPort: 1, dstPort: 2, seq: 1, flags: TCP_SYN | TCP_RST });
    assert.equal(checkTcp(e, 0, e.length), TCP_ERR_BAD_FLAGS);
    const f = buildSegment({ srcPort: 1, dstPort: 2, seq: 1, flags: TCP_SYN | TCP_FIN });
    assert.equal(checkTcp(f, 0, f.length), TCP_ERR_BAD_FLAGS);
    const g = Buffer.from(b);
    g[21] = 9; // MSS option length 9 runs past the header
    assert.equal(parseTcpOptions(g, 0, 24, new TcpParsedOptions()), TCP_ERR_BAD_OPTION);
  });

  it('computes a checksum that verifies with the pseudo header', () => {
    const b = Buffer.from(buildSegment({ srcPort: 5, dstPort: 6, seq: 9, flags: TCP_ACK, data: 'hello' }));
    fillTcpChecksum(b, 0, b.length, 0x0a000001, 0x0a000002);
    assert.equal(tcpChecksumOk(b, 0, b.length, 0x0a000001, 0x0a000002), true);
    b[b.length - 1] ^= 1;
    assert.equal(tcpChecksumOk(b, 0, b.length, 0x0a000001, 0x0a000002), false);
  });
});
