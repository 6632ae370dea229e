/** The kernel-TCP reference servers of the bench: nginx and Node's `http`, run in the pod namespace. */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive, stopPid } from './proc.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface KernelServer {
  name: string;
  pid: number;
  log: string;
  stop(): void;
}

/** nginx: 1 worker (or `workers`), access_log off, sendfile on, keepalive_requests large; the same www root. */
export function startNginx(ns: string, dir: string, wwwRoot: string, address: string, tls?: { cert: string; key: string }, workers = 1, ipv6 = false): KernelServer {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `# written by the vpp-server bench
worker_processes ${workers};
daemon off;
master_process on;
user nobody nogroup;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} warn;
# Room for the idle-memory row's 8,000 connections (bench/idle-memory.ts).
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 10000000;
  keepalive_timeout 65s;
  types { text/html html; application/octet-stream bin; }
  default_type application/octet-stream;
  client_body_temp_path ${join(dir, 'tmp')};
  proxy_temp_path ${join(dir, 'tmp')};
  fastcgi_temp_path ${join(dir, 'tmp')};
  uwsgi_temp_path ${join(dir, 'tmp')};
  scgi_temp_path ${join(dir, 'tmp')};
  server {
    listen ${address}:80 backlog=4096;
${ipv6 ? '    listen [::]:80 ipv6only=on backlog=4096;\n' : ''}    root ${wwwRoot};
    index index.html;
  }
${tls === undefined ? '' : `  # HTTPS with the same certificate as ours; TLS 1.2/1.3, OpenSSL's defaults otherwise, tickets on.
  server {
    listen ${address}:443 ssl http2 backlog=4096;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    ssl_session_cache shared:SSL:10m;
    root ${wwwRoot};
    index index.html;
  }
`}}
`,
  );
  return spawnServer('nginx', ns, ['nginx', '-e', join(dir, 'nginx-error.log'), '-p', dir, '-c', conf], join(dir, 'nginx.log'));
}

/** Node's own `http` module serving the same files from memory (bench/node-http-server.ts). */
export function startNode(ns: string, dir: string, wwwRoot: string, address: string): KernelServer {
  return spawnServer('node', ns, [process.execPath, join(HERE, 'node-http-server.js'), wwwRoot, address, '80'], join(dir, 'node-http.log'));
}

function spawnServer(name: string, ns: string, argv: string[], logPath: string): KernelServer {
  mkdirSync(dirname(logPath), { recursive: true });
  const log = openSync(logPath, 'a');
  const child: ChildProcess = spawn('ip', ['netns', 'exec', ns, ...argv], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const pid = child.pid;
  child.unref();
  return {
    name,
    pid,
    log: logPath,
    stop() {
      if (alive(pid)) stopPid(pid);
    },
  };
}

export function logTail(path: string, lines = 10): string {
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join('\n  ') : '(no log)';
}
