/**
 * Review M2: a TLS 1.3 KeyUpdate flood (each costs the server a key derivation) is limited and
 * counted by the native engine: KeyUpdates are rate limited per connection (a burst of 32, then
 * one a second), and a connection over it is closed as 'key-update-flood'; a few, with requests in
 * between, are fine. Final review (h/metrics): the limit used to be "32 in a row without
 * application data", so one request between KeyUpdates reset it and a client made every request
 * cost 13x the CPU; now interleaving does not help. The client is a
 * real OpenSSL client (Node has no KeyUpdate API): a small C program compiled here with `cc` against
 * the system's libssl (libssl-dev, in the Makefile's SYSTEM_PACKAGES); skipped without it.
 * The node engine has no hook on received handshake messages: it neither limits nor counts them.
 */
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { listenNet, type NetListener } from '../../src/http/node-net-adapter.js';
import { HttpStaticServer } from '../../src/http/server.js';
import { TlsListener } from '../../src/http/tls-listener.js';
import { selfSignedPair } from '../../src/http/tls-credentials.js';
import { nativeTls } from '../../src/http/tls-native.js';

const dir = mkdtempSync(join(tmpdir(), 'tls-keyupdate-'));
const www = join(dir, 'www');
mkdirSync(www);
writeFileSync(join(www, 'index.html'), 'hello\n');
const exe = join(dir, 'keyupdate');

// argv: port, rounds, KeyUpdates per round; each round: the KeyUpdates, then a GET read to its end
// (keep-alive, Content-Length). Prints "ok ROUNDS" or "failed at round R".
const source = String.raw`
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  int port = atoi(argv[1]), rounds = atoi(argv[2]), n = atoi(argv[3]);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (void *)&a, sizeof a)) { perror("connect"); return 2; }
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL *s = SSL_new(ctx); SSL_set_fd(s, fd);
  if (SSL_connect(s) != 1) { ERR_print_errors_fp(stderr); return 3; }
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < n; i++)
      if (SSL_key_update(s, SSL_KEY_UPDATE_NOT_REQUESTED) != 1 || SSL_do_handshake(s) != 1) { printf("failed at round %d\n", r); return 0; }
    const char *req = "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
    if (SSL_write(s, req, strlen(req)) <= 0) { printf("failed at round %d\n", r); return 0; }
    char buf[4096]; int total = 0, k;
    while (total < 6 || memcmp(buf + total - 6, "hello\n", 6) != 0) {
      if ((k = SSL_read(s, buf + total, sizeof buf - total - 1)) <= 0) { printf("failed at round %d\n", r); return 0; }
      total += k;
    }
  }
  printf("ok %d\n", rounds);
  return 0;
}
`;

let skip: string | false = nativeTls() === null ? 'the addon has no TLS engine (npm run build:native)' : false;
if (skip === false) {
  if (!existsSync('/usr/include/openssl/ssl.h')) skip = 'no system OpenSSL headers (libssl-dev)';
  else {
    writeFileSync(`${exe}.c`, source);
    const cc = spawnSync('cc', ['-O1', '-o', exe, `${exe}.c`, '-lssl', '-lcrypto'], { encoding: 'utf8' });
    if (cc.status !== 0) skip = `cc against libssl failed: ${cc.stderr ?? cc.error}`;
  }
}

let l: TlsListener;
let net1: NetListener;
before(async () => {
  if (skip !== false) return;
  const pair = selfSignedPair({ names: ['127.0.0.1'] });
  l = new TlsListener(new HttpStaticServer({ wwwRoot: www, cacheSizeBytes: 1 << 20 }), null, { pair, watch: false, engine: 'native' });
  net1 = await listenNet(l.accept, 0);
});
after(async () => {
  await net1?.close();
  l?.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = (rounds: number, perRound: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const p = spawn(exe, [String(net1.port), String(rounds), String(perRound)]);
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.on('error', reject);
    p.on('close', () => resolve(out.trim()));
  });

test('native engine: KeyUpdates with requests in between are fine', { skip }, async () => {
  const before = l.errors['key-update-flood']!;
  assert.equal(await run(5, 6), 'ok 5');
  assert.equal(l.errors['key-update-flood'], before);
});

test('native engine: KeyUpdates interleaved with requests are still rate limited (a request does not reset the limit)', { skip }, async () => {
  const before = l.errors['key-update-flood']!;
  // 400 requests, each after 20 KeyUpdates: 8000 key derivations if the limit resets per request.
  const t0 = process.cpuUsage();
  const out = await run(400, 20);
  const cpu = process.cpuUsage(t0);
  assert.match(out, /^failed at round \d+$/);
  const round = Number(/\d+/.exec(out)![0]);
  assert.ok(round <= 3, `closed at round ${round}: after about 32 KeyUpdates (a burst, then 1 a second)`);
  assert.equal(l.errors['key-update-flood'], before + 1);
  assert.ok(cpu.user + cpu.system < 200_000, `server CPU ${cpu.user + cpu.system} µs`);
});

test('native engine: a KeyUpdate flood is fatal and counted as key-update-flood', { skip }, async () => {
  const before = l.errors['key-update-flood']!;
  const rec = l.errors['record-error']!;
  const t0 = process.cpuUsage();
  assert.match(await run(1, 20_000), /^failed at round 0$/);
  const cpu = process.cpuUsage(t0);
  assert.equal(l.errors['key-update-flood'], before + 1);
  assert.equal(l.errors['record-error'], rec);
  // Not 20000 key derivations (~14 µs each, 280 ms): it stops after the 33rd.
  assert.ok(cpu.user + cpu.system < 200_000, `server CPU ${cpu.user + cpu.system} µs`);
});
