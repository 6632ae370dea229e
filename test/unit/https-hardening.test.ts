/**
 * The TLS review findings of issue 11, each a case that went wrong before:
 * - a kubelet symlink swap between the reads of the certificate and the key gave a false
 *   key-mismatch (TLS_RELOAD_FAILED) instead of the new pair (the reads are interleaved
 *   deterministically through an injected file reader);
 * - an expired or not-yet-valid certificate was accepted on rotation (injected clock);
 * - session-ticket keys were never rotated (injected timer; real TLS clients resume or not);
 * - a TLSSocket (~60 KiB of OpenSSL state) was created as soon as TCP accepted; now only once a
 *   complete ClientHello record has arrived, with a hello timeout and a per-source cap.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { after, describe, it } from 'node:test';
import { listenNet } from '../../src/http/node-net-adapter.js';
import { HttpStaticServer } from '../../src/http/server.js';
import { TlsListener, type TicketTimer } from '../../src/http/tls-listener.js';
import { MAX_PAIR_READS, loadPair, selfSignedPair, type TlsPair } from '../../src/http/tls-credentials.js';
import type { ByteStream, StreamHandler } from '../../src/stream/byte-stream.js';

const dir = mkdtempSync(join(tmpdir(), 'https-hardening-'));
const www = join(dir, 'www');
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(www);
writeFileSync(join(www, 'index.html'), 'hello\n');

const DAY = 86_400_000;
const pairA = selfSignedPair({ names: ['127.0.0.1', 'localhost'], commonName: 'pair-a' });
const pairB = selfSignedPair({ names: ['127.0.0.1', 'localhost'], commonName: 'pair-b' });

/** An in-memory pair of files and a reader that can run a hook after each read (the "swap"). */
function memoryFiles(initial: TlsPair) {
  const files = new Map<string, Buffer>([
    ['/tls/tls.crt', initial.certPem],
    ['/tls/tls.key', initial.keyPem],
  ]);
  const reads: string[] = [];
  let afterRead: ((file: string) => void) | null = null;
  return {
    reads,
    set(p: TlsPair) {
      files.set('/tls/tls.crt', p.certPem);
      files.set('/tls/tls.key', p.keyPem);
    },
    setKey(k: Buffer) {
      files.set('/tls/tls.key', k);
    },
    onRead(hook: ((file: string) => void) | null) {
      afterRead = hook;
    },
    read: (file: string): Buffer => {
      const b = files.get(file);
      if (b === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT', path: file });
      reads.push(file);
      afterRead?.(file);
      return b;
    },
  };
}

function listener(fs: ReturnType<typeof memoryFiles>, extra: Partial<ConstructorParameters<typeof TlsListener>[2]> = {}) {
  const http = new HttpStaticServer({ wwwRoot: www, cacheSizeBytes: 1 << 20 });
  const logs: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const l = new TlsListener(http, null, {
    certFile: '/tls/tls.crt',
    keyFile: '/tls/tls.key',
    readFile: fs.read,
    watch: false,
    log: (level, fields, message) => logs.push({ level, fields, message }),
    ...extra,
  });
  return { http, l, logs, close: () => (l.close(), http.close()) };
}

describe('rotation reads a consistent pair', () => {
  it('a symlink swap between the certificate read and the key read gives the new pair, not a false key-mismatch', () => {
    const fs = memoryFiles(pairA);
    const { l, logs, close } = listener(fs);
    try {
      // The swap happens right after the reload has read the (old) certificate.
      fs.onRead((file) => {
        if (file === '/tls/tls.crt') {
          fs.onRead(null);
          fs.set(pairB);
        }
      });
      assert.equal(l.reload(), 'reloaded');
      assert.equal(l.pair.leaf.fingerprint256, pairB.leaf.fingerprint256, 'serves the new pair');
      assert.deepEqual(
        logs.map((x) => x.fields.code),
        ['TLS_RELOADED'],
        'no TLS_RELOAD_FAILED',
      );
      assert.equal(l.errors['reload-failed'], 0);
    } finally {
      close();
    }
  });

  it('a pair that really does not match is still refused, after at most a few reads', () => {
    const fs = memoryFiles(pairA);
    const { l, logs, close } = listener(fs);
    try {
      fs.setKey(pairB.keyPem); // cert A, key B: stays so
      fs.reads.length = 0;
      assert.equal(l.reload(), 'refused');
      assert.equal(logs[0]!.fields.reason, 'key-mismatch');
      assert.equal(l.stats().reloadFailures['key-mismatch'], 1);
      assert.equal(fs.reads.length, 4, 'read twice: the second read, identical to the first, settles it');
      assert.equal(l.pair.leaf.fingerprint256, pairA.leaf.fingerprint256, 'the old pair keeps serving');
    } finally {
      close();
    }
  });

  it('a pair that keeps changing between reads is given up after MAX_PAIR_READS', () => {
    const fs = memoryFiles(pairA);
    let flip = 0;
    const keys = [pairB.keyPem, selfSignedPair({ names: ['x'] }).keyPem];
    fs.onRead((file) => {
      if (file === '/tls/tls.key') fs.setKey(keys[flip++ % 2]!);
    });
    fs.setKey(keys[1]!);
    assert.throws(() => loadPair('/tls/tls.crt', '/tls/tls.key', fs.read), /does not belong/);
    assert.equal(fs.reads.length, 2 * MAX_PAIR_READS);
  });
});

describe('certificate validity on rotation and at start-up (injected clock)', () => {
  const now = Date.now();
  const expired = selfSignedPair({ names: ['localhost'], commonName: 'expired', now: new Date(now - 40 * DAY), days: 30 });
  const future = selfSignedPair({ names: ['localhost'], commonName: 'future', now: new Date(now + 10 * DAY), days: 30 });

  for (const [name, p, reason] of [
    ['expired', expired, 'expired'],
    ['not yet valid', future, 'not-yet-valid'],
  ] as const) {
    it(`a rotation to an ${name} certificate is refused with reason ${reason}; the old pair keeps serving`, () => {
      const fs = memoryFiles(pairA);
      const { l, logs, close } = listener(fs, { now: () => now });
      try {
        fs.set(p);
        assert.equal(l.reload(), 'refused');
        const log = logs.find((x) => x.fields.code === 'TLS_RELOAD_FAILED');
        assert.ok(log !== undefined);
        assert.equal(log.fields.reason, reason);
        assert.match(log.message, reason === 'expired' ? /expired on/ : /not valid before/);
        assert.equal(l.errors['reload-failed'], 1);
        assert.equal(l.stats().reloadFailures[reason], 1);
        assert.equal(l.pair.leaf.fingerprint256, pairA.leaf.fingerprint256);
      } finally {
        close();
      }
    });
  }

  it('the same certificate is accepted once the clock is inside its validity', () => {
    const fs = memoryFiles(pairA);
    let clock = now;
    const { l, close } = listener(fs, { now: () => clock });
    try {
      fs.set(future);
      assert.equal(l.reload(), 'refused');
      clock = now + 11 * DAY;
      assert.equal(l.reload(), 'reloaded');
      assert.equal(l.pair.leaf.fingerprint256, future.leaf.fingerprint256);
    } finally {
      close();
    }
  });

  it('at start-up an expired certificate is served (as nginx does) with a loud TLS_CERT_EXPIRED warning naming its not-after date', () => {
    const fs = memoryFiles(expired);
    const { l, logs, close } = listener(fs, { now: () => now });
    try {
      assert.equal(l.pair.leaf.fingerprint256, expired.leaf.fingerprint256);
      const w = logs.find((x) => x.fields.code === 'TLS_CERT_EXPIRED');
      assert.ok(w !== undefined, JSON.stringify(logs));
      assert.equal(w.level, 'warn');
      assert.equal(w.fields.notAfter, expired.leaf.validTo);
      assert.ok(w.message.includes(`EXPIRED on ${expired.leaf.validTo}`), w.message);
      // A valid certificate at start-up logs nothing of the kind.
      const ok = listener(memoryFiles(pairA), { now: () => now });
      assert.deepEqual(ok.logs, []);
      ok.close();
    } finally {
      close();
    }
  });
});

/** A TicketTimer whose tick the test fires. */
function manualTimer(): TicketTimer & { fire(): void; periods: number[] } {
  const fns: Array<() => void> = [];
  const periods: number[] = [];
  return {
    periods,
    every(ms, fn) {
      periods.push(ms);
      fns.push(fn);
      return { cancel: () => void fns.splice(fns.indexOf(fn), 1) };
    },
    fire() {
      for (const f of [...fns]) f();
    },
  };
}

/** One TLS connection with an optional session; returns whether it resumed and the newest session. */
function connect(port: number, maxVersion: tls.SecureVersion, session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let sess: Buffer | undefined;
    const s = tls.connect({ host: '127.0.0.1', port, ca: pairA.certPem, servername: 'localhost', session, maxVersion, ALPNProtocols: ['http/1.1'] }, () => {
      const reused = s.isSessionReused();
      // TLS 1.3 tickets come after the handshake: ask for a page, then close.
      s.write('GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      s.on('data', () => undefined);
      s.on('end', () => resolve({ reused, session: sess }));
    });
    s.on('session', (b: Buffer) => (sess = b));
    s.on('error', reject);
  });
}

describe('session-ticket key rotation (injected timer, real TLS clients)', () => {
  for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${v}: a ticket issued before a rotation no longer resumes; the ticket issued after does`, async () => {
      const timer = manualTimer();
      const fs = memoryFiles(pairA);
      const { l, close } = listener(fs, { ticketTimer: timer, ticketKeyRotationMs: 3600_000 });
      const net = await listenNet(l.accept, 0);
      try {
        assert.deepEqual(timer.periods, [3600_000]);
        const first = await connect(net.port, v);
        assert.equal(first.reused, false);
        assert.ok(first.session !== undefined);
        const again = await connect(net.port, v, first.session);
        assert.equal(again.reused, true, 'resumes before the rotation');
        timer.fire();
        assert.equal(l.stats().ticketKeyRotations, 1);
        const after = await connect(net.port, v, again.session ?? first.session);
        assert.equal(after.reused, false, 'the old ticket no longer resumes: one full handshake');
        const fresh = await connect(net.port, v, after.session);
        assert.equal(fresh.reused, true, 'the new ticket resumes');
        assert.equal(l.stats().resumed, 2);
      } finally {
        await net.close();
        close();
      }
    });
  }

  it('the default period is 12 hours; 0 turns rotation off', () => {
    const t1 = manualTimer();
    const a = listener(memoryFiles(pairA), { ticketTimer: t1 });
    assert.deepEqual(t1.periods, [12 * 3600_000]);
    a.close();
    const t2 = manualTimer();
    const b = listener(memoryFiles(pairA), { ticketTimer: t2, ticketKeyRotationMs: 0 });
    assert.deepEqual(t2.periods, []);
    b.close();
  });
});

/** The first record a real TLS client sends: its ClientHello. */
function realClientHello(): Promise<Buffer> {
  return new Promise((resolve) => {
    const d = new Duplex({
      read() {},
      write(chunk: Buffer, _e, cb) {
        resolve(Buffer.from(chunk));
        cb();
        setImmediate(() => s.destroy());
      },
    });
    const s = tls.connect({ socket: d, servername: 'localhost', rejectUnauthorized: false });
    s.on('error', () => undefined);
  });
}

interface FakeConn {
  handler: StreamHandler;
  aborted: boolean;
  written: Buffer[];
}

function fakeConnect(l: TlsListener, remote: string): FakeConn {
  const c: FakeConn = { handler: null as never, aborted: false, written: [] };
  const stream: ByteStream = {
    write: (b) => void c.written.push(Buffer.from(b)),
    end() {},
    abort: () => void (c.aborted = true),
    queuedBytes: 0,
    remote,
  };
  c.handler = l.accept(stream);
  return c;
}

describe('no OpenSSL state before a complete ClientHello record', () => {
  it('the TLSSocket is created only when the ClientHello record is complete, however it is split', async () => {
    const hello = await realClientHello();
    assert.equal(hello[0], 0x16);
    const { l, close } = listener(memoryFiles(pairA));
    try {
      const c = fakeConnect(l, '10.0.0.1:1000');
      assert.deepEqual([l.stats().awaitingHello, l.stats().handshaking], [1, 0]);
      // Header in two pieces, then the body but its last byte.
      c.handler.onData(hello, 0, 3);
      c.handler.onData(hello, 3, 4);
      c.handler.onData(hello, 7, hello.length - 8);
      assert.deepEqual([l.stats().awaitingHello, l.stats().handshaking], [1, 0], 'no TLSSocket yet');
      assert.equal(c.written.length, 0);
      c.handler.onData(hello, hello.length - 1, 1);
      assert.deepEqual([l.stats().awaitingHello, l.stats().handshaking], [0, 1]);
      // OpenSSL got the whole record: its ServerHello goes out (after the Duplex's tick).
      const deadline = performance.now() + 2000;
      while (c.written.length === 0 && performance.now() < deadline) await new Promise((r) => setImmediate(r));
      assert.ok(c.written.length > 0 && c.written[0]![0] === 0x16, 'a handshake record came back');
      c.handler.onClose();
      assert.deepEqual([l.stats().awaitingHello, l.stats().handshaking], [0, 0]);
    } finally {
      close();
    }
  });

  it('a whole handshake and request work with every byte from the client delivered on its own', async () => {
    const { l, close } = listener(memoryFiles(pairA));
    try {
      // The client is Node's tls over a Duplex whose writes reach the listener one byte at a time.
      let server: StreamHandler | null = null;
      const client = new Duplex({
        read() {},
        write(chunk: Buffer, _e, cb) {
          for (let i = 0; i < chunk.length; i++) server!.onData(chunk, i, 1);
          cb();
        },
      });
      const stream: ByteStream = {
        write: (b) => void client.push(Buffer.from(b)),
        end: () => void client.push(null),
        abort: () => client.destroy(),
        queuedBytes: 0,
        remote: '10.0.0.9:5000',
      };
      server = l.accept(stream);
      const body = await new Promise<string>((resolve, reject) => {
        const s = tls.connect({ socket: client, ca: pairA.certPem, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
          s.write('GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        });
        let text = '';
        s.on('data', (b: Buffer) => (text += b.toString()));
        s.on('end', () => resolve(text));
        s.on('error', reject);
      });
      assert.match(body, /^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\nhello\n$/);
      assert.equal(l.stats().handshakes, 1);
    } finally {
      close();
    }
  });

  it('a connection without a complete ClientHello is reset after the hello timeout (injected clock) and counted', () => {
    let clock = 1000;
    const { l, close } = listener(memoryFiles(pairA), { monotonic: () => clock, helloTimeoutMs: 500 });
    try {
      const silent = fakeConnect(l, '10.0.0.1:1');
      const partial = fakeConnect(l, '10.0.0.1:2');
      partial.handler.onData(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 1, 2, 3]), 0, 8);
      clock += 500;
      l.sweepHandshakes();
      assert.deepEqual([silent.aborted, partial.aborted], [false, false], 'not before the timeout');
      clock += 1;
      l.sweepHandshakes();
      assert.deepEqual([silent.aborted, partial.aborted], [true, true]);
      assert.equal(l.errors['hello-timeout'], 2);
      assert.equal(l.stats().connectionsOpen, 0);
    } finally {
      close();
    }
  });

  for (const [name, bytes] of [
    ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\n')],
    ['an SSLv2-format hello', Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01])],
    ['a handshake record longer than 2^14', Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01])],
    ['a record of another type', Buffer.from([0x17, 0x03, 0x03, 0x00, 0x10])],
  ] as const) {
    it(`${name} is no ClientHello: reset at once, counted as not-tls`, () => {
      const { l, close } = listener(memoryFiles(pairA));
      try {
        const c = fakeConnect(l, '10.0.0.1:1');
        c.handler.onData(bytes, 0, bytes.length);
        assert.equal(c.aborted, true);
        assert.equal(l.errors['not-tls'], 1);
        assert.equal(l.stats().handshaking, 0);
      } finally {
        close();
      }
    });
  }

  it('connections waiting or handshaking are capped per source address; other addresses still get in; a freed place is reusable', () => {
    const { l, close } = listener(memoryFiles(pairA), { maxHandshakesPerSource: 2 });
    try {
      const a1 = fakeConnect(l, '10.0.0.1:1');
      const a2 = fakeConnect(l, '10.0.0.1:2');
      const a3 = fakeConnect(l, '10.0.0.1:3');
      const b1 = fakeConnect(l, '10.0.0.2:1');
      assert.deepEqual([a1.aborted, a2.aborted, a3.aborted, b1.aborted], [false, false, true, false]);
      assert.equal(l.errors['handshake-limit-source'], 1);
      a1.handler.onClose();
      assert.equal(fakeConnect(l, '10.0.0.1:4').aborted, false);
    } finally {
      close();
    }
  });

  it('review r/metrics (11): a TCP stream\'s source is keyed as TCP keys it: an IPv6 host by its /64 (rotating the /128 does not escape the limit), a link-local address with its zone', () => {
    // Handles 0xf0000000 + i: i < 100 are 2001:db8:1:2::<i> (one host's /64), i >= 100 fe80::<i> heard on zone 1 or 2.
    const addresses = {
      address: (ip: number): Buffer | undefined => {
        if (ip >>> 28 !== 0xf) return undefined;
        const i = ip & 0xfff;
        const b = Buffer.from(i < 100 ? '20010db8000100020000000000000000' : 'fe800000000000000000000000000000', 'hex');
        b.writeUInt16BE(i, 14);
        return b;
      },
      zoneOf: (ip: number): number => ((ip >>> 12) & 0xf) + 1,
    };
    const { l, close } = listener(memoryFiles(pairA), { maxHandshakesPerSource: 2, addresses });
    const connect = (ip: number): FakeConn => {
      const c: FakeConn = { handler: null as never, aborted: false, written: [] };
      const stream = { write: (b: Buffer) => void c.written.push(Buffer.from(b)), end() {}, abort: () => void (c.aborted = true), queuedBytes: 0, remote: `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}:1`, remoteIp: ip | 0 };
      c.handler = l.accept(stream as ByteStream);
      return c;
    };
    try {
      // Three /128s of one /64: the third is over the per-source limit (before: three sources).
      assert.deepEqual([connect(0xf0000001).aborted, connect(0xf0000002).aborted, connect(0xf0000003).aborted], [false, false, true]);
      // Link-local: per address and zone (what TCP does: one host's address on one link).
      assert.deepEqual([connect(0xf0000101).aborted, connect(0xf0000101).aborted, connect(0xf0000101).aborted], [false, false, true]);
      assert.equal(connect(0xf0001101).aborted, false, 'the same fe80:: address heard on another interface is another source');
      assert.equal(connect(0xf0000102).aborted, false, 'another link-local address is another source');
      assert.equal(l.errors['handshake-limit-source'], 2);
    } finally {
      close();
    }
  });

  it('handshakes under way are capped in total: the ClientHello beyond the cap is reset and counted; silent connections take no handshake place', async () => {
    const hello = await realClientHello();
    const { l, close } = listener(memoryFiles(pairA), { maxHandshakes: 2, maxHandshakesPerSource: 100 });
    try {
      const silent = Array.from({ length: 10 }, (_, i) => fakeConnect(l, `10.0.1.${i}:1`));
      const c = Array.from({ length: 3 }, (_, i) => fakeConnect(l, `10.0.0.${i}:1`));
      for (const x of c) x.handler.onData(hello, 0, hello.length);
      assert.deepEqual(
        c.map((x) => x.aborted),
        [false, false, true],
      );
      assert.equal(l.errors['handshake-limit'], 1);
      assert.ok(silent.every((x) => !x.aborted));
      c[0]!.handler.onClose();
      const d = fakeConnect(l, '10.0.0.9:1');
      d.handler.onData(hello, 0, hello.length);
      assert.equal(d.aborted, false, 'a finished handshake frees its place');
    } finally {
      close();
    }
  });
});

describe('HTTPS answers leave in the vector that carried the request', () => {
  for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${v}: the encrypted answer to a cached file is handed to TCP inside the onData call of its request, as one TLS record`, async () => {
      const { l, close } = listener(memoryFiles(pairA));
      try {
        let server: StreamHandler | null = null;
        let inOnData = false;
        let measuring = false;
        const during: Buffer[] = [];
        const outside: Buffer[] = [];
        const client = new Duplex({
          read() {},
          write(chunk: Buffer, _e, cb) {
            inOnData = true;
            try {
              server!.onData(chunk, 0, chunk.length);
            } finally {
              inOnData = false;
            }
            cb();
          },
        });
        const stream: ByteStream = {
          write: (b) => {
            if (measuring) (inOnData ? during : outside).push(Buffer.from(b));
            client.push(Buffer.from(b));
          },
          end: () => void client.push(null),
          abort: () => client.destroy(),
          queuedBytes: 0,
          remote: '10.0.0.9:5000',
        };
        server = l.accept(stream);
        // Warm the cache (the first request reads the file asynchronously), then the measured one.
        const body = await new Promise<string>((resolve, reject) => {
          const s = tls.connect({ socket: client, ca: pairA.certPem, servername: 'localhost', maxVersion: v, ALPNProtocols: ['http/1.1'] });
          let text = '';
          let n = 0;
          s.on('data', (b: Buffer) => {
            text += b.toString('latin1');
            if (!text.endsWith('hello\n')) return;
            if (++n === 1) {
              text = '';
              // Let the first answer's write finish (JSStreamSocket completes writes in setImmediate).
              setImmediate(() =>
                setImmediate(() => {
                  measuring = true;
                  s.write('GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n');
                }),
              );
            } else {
              measuring = false;
              resolve(text);
              s.destroy();
            }
          });
          s.once('secureConnect', () => setImmediate(() => s.write('GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n')));
          s.on('error', reject);
        });
        assert.match(body, /^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\nhello\n$/);
        assert.equal(outside.length, 0, 'nothing written after the request was handled');
        const records = Buffer.concat(during);
        assert.equal(records[0], 0x17, 'application data');
        assert.equal(records.readUInt16BE(3) + 5, records.length, 'head and body in one record');
      } finally {
        close();
      }
    });
  }
});
