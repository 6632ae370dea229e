/**
 * Review L6: ciphertext that TCP refuses (written after its FIN is queued: write-after-close) must
 * not count in cipherWritten, or reclaim() (sent = cipherWritten - tcp.queuedBytes) returns slabs
 * TCP still holds to the shared pool and the next connection encrypts into them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { test } from 'node:test';
import { TLS12_CIPHERS, TLS13_CIPHERSUITES, TLS_CURVES, selfSignedPair } from '../../src/http/tls-credentials.js';
import { NativeTlsSession, alpnWire, nativeTls } from '../../src/http/tls-native.js';
import type { StreamHandler } from '../../src/stream/byte-stream.js';

const e = nativeTls();
const skip = e === null ? 'the addon has no TLS engine (npm run build:native)' : false;

/** A TCP that keeps every chunk by reference (as src/tcp/send-queue.ts), acks when told, refuses writes after end(). */
class FakeTcp {
  q: Buffer[] = [];
  written = 0;
  acked = 0;
  ended = false;
  /** Refuse writes as TCP does once its FIN is queued (write-after-close). */
  refusing = false;
  refused = 0;
  remote = '1.2.3.4:5';
  constructor(private readonly toClient: (b: Buffer) => void) {}
  write(b: Buffer): void {
    if (this.ended || this.refusing) {
      this.refused += b.length;
      return;
    }
    this.q.push(b);
    this.written += b.length;
    this.toClient(Buffer.from(b));
  }
  get queuedBytes(): number {
    return this.written - this.acked;
  }
  end(): void {
    this.ended = true;
  }
  close(): void {
    this.ended = true;
  }
  abort(): void {}
}

test('ciphertext TCP refused is not counted: slabs TCP holds stay out of the pool', { skip }, async () => {
  const pair = selfSignedPair({ names: ['127.0.0.1'], commonName: 'w' });
  const ctx = e!.tlsContextNew(pair.certPem, pair.keyPem, TLS12_CIPHERS.join(':'), TLS13_CIPHERSUITES.join(':'), TLS_CURVES, alpnWire(['http/1.1']), randomBytes(80), 7200);
  const pairUp = (maxVersion: tls.SecureVersion): { session: NativeTlsSession; tcp: FakeTcp; client: tls.TLSSocket } => {
    let session: NativeTlsSession | undefined;
    const sock = new Duplex({
      read() {},
      write(chunk: Buffer, _e, cb) {
        session!.feed(chunk, 0, chunk.length);
        cb();
      },
    });
    const tcp = new FakeTcp((b) => sock.push(b));
    const handler: StreamHandler = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
    session = new NativeTlsSession(e!, tcp, ctx, { onSecure: (s) => (s.handler = handler), onHandshakeFailed: () => undefined, onRecordError: () => undefined });
    const client = tls.connect({ socket: sock, rejectUnauthorized: false, maxVersion });
    client.on('error', () => undefined);
    client.on('data', () => undefined);
    return { session, tcp, client };
  };
  const A = pairUp('TLSv1.2');
  await new Promise((r) => A.client.once('secureConnect', r));
  A.session.write(randomBytes(200_000));
  await new Promise((r) => setTimeout(r, 50));
  const slabs = (A.session as unknown as { slabs: Array<{ buf: Buffer; end: number }> }).slabs;
  assert.ok(slabs.length > 0);
  A.tcp.acked = slabs[0]!.end - 10; // all but the last 10 bytes of the first slab
  const firstSlab = slabs[0]!.buf;
  const heldChunk = A.tcp.q.find((b) => b.buffer === firstSlab.buffer)!;
  const snapshot = Buffer.from(heldChunk);
  // More output that TCP refuses (its FIN queued meanwhile, say).
  A.tcp.refusing = true;
  A.tcp.acked = 0;
  A.session.write(randomBytes(150_000));
  await new Promise((r) => setTimeout(r, 50));
  A.tcp.acked = slabs[0]!.end - 10;
  assert.ok(A.tcp.refused > 0, 'TCP refused output');
  assert.equal((A.session as unknown as { cipherWritten: number }).cipherWritten, A.tcp.written);
  A.session.reclaim();
  const B = pairUp('TLSv1.3');
  await new Promise((r) => B.client.once('secureConnect', r));
  B.session.write(randomBytes(100_000));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(B.tcp.q.some((b) => b.buffer === firstSlab.buffer), false, "B encrypted into a slab A's TCP still holds");
  assert.ok(snapshot.equals(heldChunk), "A's unacknowledged bytes changed");
  A.client.destroy();
  B.client.destroy();
});
