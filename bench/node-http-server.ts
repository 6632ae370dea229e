/**
 * The bench's Node.js reference server: Node's own `http` module serving the files of one
 * directory from memory (read once at start), GET and HEAD, keep-alive as Node does it.
 *
 *   node dist/bench/node-http-server.js <www-root> <address> <port>
 */
import { createServer } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';

const [root, host, portText] = process.argv.slice(2);
if (root === undefined || host === undefined || portText === undefined) {
  console.error('usage: node-http-server.js <www-root> <address> <port>');
  process.exit(2);
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.bin': 'application/octet-stream', '.txt': 'text/plain' };
const files = new Map<string, { body: Buffer; type: string }>();
for (const name of readdirSync(root)) {
  const p = join(root, name);
  if (!statSync(p).isFile()) continue;
  files.set(`/${name}`, { body: readFileSync(p), type: TYPES[extname(name)] ?? 'application/octet-stream' });
}
const index = files.get('/index.html');
if (index !== undefined) files.set('/', index);

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const f = files.get(path);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 });
    res.end();
  } else if (f === undefined) {
    res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
    res.end(req.method === 'HEAD' ? undefined : 'not found\n');
  } else {
    res.writeHead(200, { 'Content-Type': f.type, 'Content-Length': f.body.length });
    res.end(req.method === 'HEAD' ? undefined : f.body);
  }
});
server.keepAliveTimeout = 65_000;
server.listen(Number(portText), host, 4096, () => console.log(`node http server on ${host}:${portText}, ${files.size} paths`));
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
