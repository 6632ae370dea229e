/**
 * Holds N idle keep-alive connections to an HTTP server, for the bench's idle-memory row
 * (bench/idle-memory.ts). Runs in the client namespace:
 *
 *   node dist/bench/idle-client.js <host> <port> <count> [<source>,<source>,…]
 *
 * Opens the connections (at most PARALLEL at once; sources taken round-robin, so no source
 * address holds more than count / sources of them), sends one `GET /index.html` on each and
 * reads the whole response, then prints `ready <n>` and keeps them all open and idle. When
 * stdin ends it prints `open <n>` (how many are still open: none should have been closed by the
 * server meanwhile), closes them and exits. Needs RLIMIT_NOFILE above count (prlimit).
 */
import { connect, type Socket } from 'node:net';

const [host, portText, countText, sourcesText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const sources = sourcesText ? sourcesText.split(',').filter(Boolean) : [undefined];
const PARALLEL = 256;
const REQUEST = Buffer.from(`GET /index.html HTTP/1.1\r\nHost: ${host.includes(':') ? `[${host}]` : host}\r\n\r\n`);

const sockets: Socket[] = [];
let open = 0;
let ready = 0;
let failed = 0;
let started = 0;
const t0 = Date.now();

function fail(why: string): void {
  failed++;
  if (failed <= 5) console.error(`idle-client: ${why}`);
  if (failed > count / 100) {
    console.error(`idle-client: ${failed} failures, giving up`);
    process.exit(1);
  }
}

function one(): void {
  if (started >= count) return;
  const i = started++;
  const s = connect({ host, port, localAddress: sources[i % sources.length], noDelay: true });
  let got = '';
  let done = false;
  s.on('connect', () => {
    open++;
    s.write(REQUEST);
  });
  s.on('data', (d) => {
    if (done) return;
    got += d.toString('latin1');
    const head = got.indexOf('\r\n\r\n');
    if (head < 0) return;
    const m = /\r\ncontent-length: *(\d+)/i.exec(got.slice(0, head));
    if (!got.startsWith('HTTP/1.1 200') || m === null) {
      fail(`unexpected response: ${JSON.stringify(got.slice(0, 60))}`);
      s.destroy();
      return;
    }
    if (got.length < head + 4 + Number(m[1])) return;
    done = true;
    got = '';
    ready++;
    sockets.push(s);
    if (ready === count - failed) console.log(`ready ${ready} in ${Date.now() - t0} ms`);
    one();
  });
  s.on('error', (e) => {
    if (!done) fail(`connection ${i}: ${e.message}`);
  });
  s.on('close', () => {
    open--;
    if (!done) one();
  });
}

for (let k = 0; k < PARALLEL; k++) one();

process.stdin.resume();
process.stdin.on('end', () => {
  console.log(`open ${open}`);
  for (const s of sockets) s.destroy();
  process.exit(0);
});
