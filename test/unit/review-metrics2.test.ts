/**
 * Second-pass review r/metrics2 (adversarial) of /metrics as an off-path oracle and of the
 * management endpoint (issue 9). The twin-world harness (World, diff, the stripped series) is
 * test/helpers/metrics-world.ts; its file comment says what is compared.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DecodedSegment } from '../../src/tcp/testing.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST } from '../../src/wire/tcp.js';
import { add, FAR, legit, type Seg, twin, World } from '../helpers/metrics-world.js';

// ---------------------------------------------------------------------------------------------
// Second-pass review r/metrics2 (adversarial). Tests named R2-<n> FAIL on 695d74f on purpose.

/**
 * The real client retransmits its last 100 bytes together with 100 new ones (a partly old
 * segment: a D-SACK is owed and the ACK delayed), then `next` arrives; the D-SACK block for the
 * old 100 bytes must be reported exactly once in everything the server sends (RFC 2883 §4).
 */
async function assertDsackOnce(next: (w: World) => Seg): Promise<void> {
  const w = await World.create(4, false);
  try {
    legit(w, 100);
    w.advance(2000);
    const old = (w.cSeq - 100) >>> 0;
    const a = w.send({ seq: old, ack: w.sSeq, flags: TCP_ACK | TCP_PSH, data: Buffer.alloc(200, 0x63) });
    w.cSeq = add(w.cSeq, 100);
    const b = w.send(next(w));
    const c = w.advance(2000);
    const all = [...a, ...b, ...c];
    const withDsack = all.filter((s) => s.sack.some(([s0, e0]) => s0 === old && e0 === add(old, 100)));
    assert.equal(withDsack.length, 1, `D-SACK [old, old+100) reported ${withDsack.length} times: ${JSON.stringify(all.map((s) => ({ ack: s.ack, sack: s.sack })))}`);
  } finally {
    w.close();
  }
}

describe('review r/metrics2: a private ACK re-reports an owed D-SACK (RFC 2883 §4: once)', () => {
  it('R2-1 a partly old segment (D-SACK owed, ACK delayed), then a spoofed out-of-window segment: the D-SACK block goes out twice', () =>
    // A spoofer's segment far out of the window, right after it.
    assertDsackOnce((w) => ({ seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK, data: 'z' })));
});

describe('review r/metrics2: the management endpoint', () => {
  it('R2-2 unauthenticated requests with distinct paths grow ManagementServer.served without bound (pre-auth memory DoS; management.ts handle())', async () => {
    const { writeFileSync } = await import('node:fs');
    const http = await import('node:http');
    const { ManagementServer, MetricsToken } = await import('../../src/ops/management.js');
    writeFileSync('/tmp/rm2-unit-token', 's3cret\n');
    const m = new ManagementServer({ host: '127.0.0.1', port: 0 } as never, { live: () => ({ ok: true }) as never, ready: () => ({ ok: true }) as never, metrics: { contentType: 'text/plain' as never, metrics: async () => 'x 1\n' } }, new MetricsToken('/tmp/rm2-unit-token'));
    const { port } = await m.listen();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const get = (path: string) => new Promise<number>((res) => http.get({ host: '127.0.0.1', port, path, agent }, (r) => { r.resume(); r.on('end', () => res(r.statusCode ?? 0)); }).on('error', () => res(0)));
    try {
      for (let i = 0; i < 500; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => get(`/metrics/${'A'.repeat(4000)}${i + j}`)));
      const keys = Object.keys(m.served).length;
      const bytes = Object.keys(m.served).reduce((n, k) => n + k.length, 0);
      assert.ok(keys <= 16, `served holds ${keys} attacker-chosen keys (${bytes} bytes) after 500 unauthenticated requests`);
    } finally {
      agent.destroy();
      await m.close();
    }
  });

  it('R2-3 MetricsToken.read() stats the file AFTER reading it: a Secret swap landing in between pins the old token (new one refused) until the next change', async () => {
    const fs = (await import('node:fs')).default;
    const { syncBuiltinESMExports } = await import('node:module');
    const { MetricsToken } = await import('../../src/ops/management.js');
    const dir = fs.mkdtempSync('/tmp/rm2-tok-');
    fs.mkdirSync(`${dir}/..ts1`);
    fs.writeFileSync(`${dir}/..ts1/token`, 'old-token-AAAA\n');
    fs.mkdirSync(`${dir}/..ts2`);
    fs.writeFileSync(`${dir}/..ts2/token`, 'new-token-BBBB\n');
    fs.symlinkSync('..ts1', `${dir}/..data`);
    fs.symlinkSync('..data/token', `${dir}/token`);
    const t = new MetricsToken(`${dir}/token`);
    const real = fs.readFileSync;
    let armed = false;
    (fs as { readFileSync: unknown }).readFileSync = function (this: unknown, ...a: unknown[]) {
      const r = (real as (...x: unknown[]) => unknown).apply(this, a);
      if (armed) {
        armed = false; // the kubelet's atomic swap of ..data, between the read and the stat
        fs.symlinkSync('..ts2', `${dir}/..data_tmp`);
        fs.renameSync(`${dir}/..data_tmp`, `${dir}/..data`);
      }
      return r;
    };
    syncBuiltinESMExports();
    try {
      await new Promise((r) => setTimeout(r, 20));
      fs.writeFileSync(`${dir}/..ts1/token`, 'old-token-AAAA\n'); // a change: the next request re-reads
      armed = true;
      t.accepts('Bearer old-token-AAAA');
      assert.equal(t.accepts('Bearer new-token-BBBB'), true, 'the rotated token is refused');
      assert.equal(t.accepts('Bearer old-token-AAAA'), false, 'the old token is still accepted');
    } finally {
      (fs as { readFileSync: unknown }).readFileSync = real;
      syncBuiltinESMExports();
    }
  });
});

describe('review r/metrics2: a private ACK advertises a right edge beyond rcvAdvRight (windowField rounds up without recording it)', () => {
  it('R2-4 the private ACK\'s right edge (ack + window << scale) never exceeds the last public one', async () => {
    const w = await World.create(4, false);
    try {
      const conn = w.stream as unknown as { rcvWscale: number; rcvAdvRight: number; rcvNxt: number };
      legit(w, 100);
      const pub = w.advance(2000).filter((s) => s.flags === TCP_ACK);
      assert.ok(pub.length >= 1);
      const scale = conn?.rcvWscale ?? 0;
      const edge = (s: DecodedSegment) => (s.ack + s.window * 2 ** scale) >>> 0;
      const pubEdge = edge(pub[pub.length - 1]);
      legit(w, 77); // RCV.NXT moves by a number that is not a multiple of 2^scale; its ACK is delayed
      const priv = w.send({ seq: add(w.cSeq, FAR), ack: w.sSeq, flags: TCP_ACK, data: 'z' });
      assert.equal(priv.length, 1);
      assert.ok(((edge(priv[0]) - pubEdge) | 0) <= 0, `private right edge ${edge(priv[0])} > the last public one ${pubEdge} (scale ${scale}, rcvAdvRight ${conn?.rcvAdvRight})`);
    } finally {
      w.close();
    }
  });
});

describe('review r/metrics2: TIME_WAIT, an RST exactly at RCV.NXT (RFC 1337: ignored) still counts the public rst_in', () => {
  it('R2-5 twin worlds: RST at RCV.NXT (hit) vs far out of the window (miss) on a TIME_WAIT entry: the scrapes must not differ', async () => {
    await twin('TIME_WAIT exact RST', (w, hit) => {
      w.stream!.end();
      const fin = w.advance(100).find((s) => (s.flags & TCP_FIN) !== 0);
      assert.ok(fin !== undefined, 'the server sends its FIN');
      w.sSeq = add(w.sSeq, 1);
      w.send({ seq: w.cSeq, ack: w.sSeq, flags: TCP_ACK | TCP_FIN });
      w.cSeq = add(w.cSeq, 1);
      w.advance(100);
      assert.equal(w.services.tcp!.stack.counters.timeWait, 1, 'in TIME_WAIT');
      w.send({ seq: hit ? w.cSeq : add(w.cSeq, FAR), flags: TCP_RST });
      w.advance(2000);
      assert.equal(w.services.tcp!.stack.counters.timeWait, 1, 'still in TIME_WAIT (RFC 1337)');
    });
  });
});

describe('review r/metrics2: the double D-SACK without any spoofer (a lossy real client)', () => {
  it('R2-1b a partly old retransmission, then the real client\'s next segment arriving out of order (a hole): the D-SACK goes in the private dup ACK and again in the delayed public ACK', () =>
    // The client's segment after next arrives first (its predecessor was lost).
    assertDsackOnce((w) => ({ seq: add(w.cSeq, 300), ack: w.sSeq, flags: TCP_ACK | TCP_PSH, data: Buffer.alloc(300, 0x64) })));
});
