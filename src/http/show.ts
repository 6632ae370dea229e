/** Text for the CLI: `show http static server cache [verbose]`, modelled on VPP's layout. */
import type { HttpStaticServer } from './server.js';

export function formatHttpStaticServerCache(server: HttpStaticServer, verbose = false, now: number = Date.now()): string {
  const st = server.cache.stats();
  const lines = [
    `www_root ${server.wwwRoot}, cache size ${st.bytes} bytes, limit ${st.capacity} bytes, evictions ${st.evictions}`,
    `entries ${st.entries}, hits ${st.hits}, misses ${st.misses}`,
  ];
  if (verbose) {
    lines.push(`${'File'.padStart(40)}${'Size'.padStart(12)}${'Age'.padStart(20)}`);
    for (const e of server.cache.entries()) {
      lines.push(`${e.key.padStart(40)}${String(e.size).padStart(12)}${((now - e.lastUsed) / 1000).toFixed(2).padStart(20)}`);
    }
  }
  return lines.join('\n');
}

import type { HttpListenerCommand } from './command.js';
import type { Http2StaticServer } from './h2.js';
import type { TlsListener } from './tls-listener.js';

/** What `show http static server` describes: a server, its HTTP/2 side and its listeners. */
export interface ShownServer {
  server: HttpStaticServer;
  h2: Http2StaticServer | null;
  listeners: ReadonlyArray<{ command: HttpListenerCommand; tls: TlsListener | null }>;
}

/** `show http static server`: every listener, and for TLS the certificate being served. */
export function formatHttpStaticServer(s: ShownServer, now: number = Date.now()): string {
  const st = s.server.stats();
  const lines = [
    `www_root ${s.server.wwwRoot}, http/2 ${s.h2 === null ? 'off (http1-only)' : 'on'}, connections ${st.connectionsOpen} open, ${st.connectionsTotal} total, requests ${st.requests}`,
  ];
  for (const l of s.listeners) {
    const c = l.command;
    const addr = c.family === 6 ? `[${c.address}]` : c.address;
    const uri = `${c.transport}://${addr}/${c.port}`;
    if (l.tls === null) {
      const what = c.redirectToHttps === true ? 'redirect-to-https' : s.h2 === null ? 'http/1.1' : 'http/1.1, h2c (prior knowledge)';
      lines.push(`  listener ${uri}  ${what}`);
      continue;
    }
    const t = l.tls;
    const info = t.certificate();
    const ts = t.stats();
    const daysLeft = ((info.notAfterEpoch * 1000 - now) / 86_400_000).toFixed(1);
    lines.push(`  listener ${uri}  tls 1.2-1.3, alpn ${s.h2 === null ? 'http/1.1' : 'h2, http/1.1'}, engine ${t.engine}`);
    lines.push(`    certificate  ${info.selfSigned ? 'self-signed for this process' : `${t.certFile} key ${t.keyFile}`}`);
    lines.push(`    subject      ${info.subject}`);
    lines.push(`    issuer       ${info.issuer}`);
    lines.push(`    SANs         ${info.subjectAltName || '(none)'}`);
    lines.push(`    not after    ${info.notAfter} (${daysLeft} days)`);
    lines.push(`    sha256       ${info.fingerprint256}`);
    lines.push(`    chain        ${info.chainLength} certificate(s), reloads ${ts.reloads}, reload failures ${ts.errors['reload-failed'] ?? 0}`);
    lines.push(
      `    handshakes   ${ts.handshakes} (tls1.3 ${ts.tls13}, tls1.2 ${ts.tls12}, resumed ${ts.resumed}; alpn h2 ${ts.alpnH2}, http/1.1 ${ts.alpnHttp11}), failed ${ts.errors['handshake-failed']! + ts.errors['protocol-refused']! + ts.errors['no-shared-cipher']! + ts.errors['handshake-timeout']!}, open ${ts.connectionsOpen}`,
    );
    lines.push(
      `    refused      before the handshake: hello-timeout ${ts.errors['hello-timeout']}, not-tls ${ts.errors['not-tls']}, limit ${ts.errors['handshake-limit']}, per-source limit ${ts.errors['handshake-limit-source']}; waiting for hello ${ts.awaitingHello}, handshaking ${ts.handshaking}`,
    );
    lines.push(`    closed       after the handshake: record-error ${ts.errors['record-error'] ?? 0}, key-update-flood ${ts.errors['key-update-flood'] ?? 0}`);
    lines.push(`    tickets      key rotations ${ts.ticketKeyRotations}`);
  }
  if (s.h2 !== null) {
    const h = s.h2.stats();
    lines.push(`  http/2 sessions ${h.sessionsOpen} open, ${h.sessionsTotal} total, streams ${h.streams}, rapid-reset ${h.errors['rapid-reset']}, continuation-flood ${h.errors['continuation-flood']}`);
  }
  return lines.join('\n');
}
