/**
 * The transport and application services a dataplane hosts: one TCP stack, shared by the HTTP
 * static servers that `http static server …` starts.
 */
import type { SharedLimits } from './tcp/shared-limits.js';
import { statSync } from 'node:fs';
import { DEFAULT_OPTIONS, TcpStack, type TcpOptions } from './tcp/index.js';
import type { HttpLimits } from './http/options.js';
import { HttpStaticServer } from './http/server.js';
import { HTTP_STATIC_SERVER_NODE } from './http/status.js';
import type { HttpListenerCommand, HttpStaticServerCommand } from './http/command.js';
import { Http2StaticServer, HTTP2_STATIC_SERVER_NODE } from './http/h2.js';
import { TlsListener, TLS_NODE, type TlsEventLog, type TlsRuntime } from './http/tls-listener.js';
import { selfSignedPair, TlsPairError } from './http/tls-credentials.js';
import { cleartextAccept } from './http/cleartext.js';
import type { AcceptHandler } from './stream/byte-stream.js';
import { DataplaneSegmentSink, TcpHost } from './dataplane/tcp-host.js';
import type { Dataplane } from './dataplane/dataplane.js';
import type { ErrorSource, RuntimeSource } from './cli/context.js';
import { TCP_PRIVATE_REASONS } from './tcp/private-reasons.js';
import { formatIpv4, parseIpv4 } from './wire/address.js';
import { IPV4_MIN_HEADER_LEN } from './wire/ipv4.js';
import { IPV6_HEADER_LEN } from './wire/ipv6.js';
import { formatIpv6, isIp6Unspecified, parseIpv6 } from './wire/ipv6-address.js';
import { DadState } from './dataplane/interface.js';
import { IP6_ANY_HANDLE, isIp6Handle } from './dataplane/ip6-peers.js';

const TCP_MIN_HEADER_LEN = 20;

/** One listening endpoint of a static server: cleartext (HTTP/1.1 + h2c) or TLS. */
export interface HttpListenerEntry {
  command: HttpListenerCommand;
  /** The IPv4 address as the TCP stack keys it (0 = wildcard). */
  ip: number;
  tls: TlsListener | null;
}

export interface HttpServerEntry {
  server: HttpStaticServer;
  /** The `http static server …` line (its uri is the first listener). */
  command: HttpStaticServerCommand;
  /** null with http1-only. */
  h2: Http2StaticServer | null;
  listeners: HttpListenerEntry[];
}

export class Services {
  tcp: TcpHost | null = null;
  readonly http: HttpServerEntry[] = [];
  /** Limits applied to HTTP servers started from now on (tests shorten them). */
  httpLimits: Partial<HttpLimits> = {};
  /**
   * This thread's share of each static server's cache budget (`cache-size`): 1 with one thread;
   * 1/W on each of W workers, so the process holds at most one budget in all.
   */
  cacheShare = 1;
  /** TCP stack options from the vpp-server stanza (TIME_WAIT, SYN cookies, the memory budget, congestion control), applied when the stack is created. */
  tcpOptions: Partial<TcpOptions> = {};
  /** The process-wide limits (shared-limits.ts): the TLS listeners' handshake caps live there too. */
  sharedLimits: SharedLimits | null = null;
  /** The workers' error counters by node and reason, while the main thread prints a show that sums them (show tcp memory). */
  peerErrors: Record<string, Record<string, number>> | null = null;
  /** How the memory budget was chosen (show tcp memory). */
  memoryOrigin = 'the built-in default (no engine configuration)';
  /** Where TLS warnings and reload results go (the engine sets its logger here). */
  log: TlsEventLog = () => undefined;
  /** Lines of `show runtime` beyond the dataplane's graph nodes (TLS handshake cost). */
  readonly runtimeSources: RuntimeSource[] = [];

  constructor(
    readonly dp: Dataplane,
    private readonly errorSources: ErrorSource[],
  ) {
    const sum = (pick: (t: TlsListener) => TlsRuntime) => (): TlsRuntime => {
      const r = { calls: 0, vectors: 0, nanos: 0 };
      for (const t of this.tlsListeners()) {
        const x = pick(t);
        r.calls += x.calls;
        r.vectors += x.vectors;
        r.nanos += x.nanos;
      }
      return r;
    };
    const clear = (pick: (t: TlsListener) => TlsRuntime) => (): void => {
      for (const t of this.tlsListeners()) Object.assign(pick(t), { calls: 0, vectors: 0, nanos: 0 });
    };
    this.runtimeSources.push(
      { name: 'tls-handshake', runtime: sum((t) => t.handshakeRuntime), clear: clear((t) => t.handshakeRuntime) },
      { name: 'tls-input', runtime: sum((t) => t.inputRuntime), clear: clear((t) => t.inputRuntime) },
    );
  }

  *tlsListeners(): Iterable<TlsListener> {
    for (const h of this.http) for (const l of h.listeners) if (l.tls !== null) yield l.tls;
  }

  ensureTcp(): TcpHost {
    if (this.tcp !== null) return this.tcp;
    const dp = this.dp;
    let kickScheduled = false;
    const tcpOptions = { ...DEFAULT_OPTIONS, ...this.tcpOptions };
    // Connections, TIME_WAIT entries and listeners hold their IPv6 handles (ip6-peers.ts); the
    // table has room for every address TCP can hold (and a few local ones) plus unheld ones.
    dp.ip6Peers.setCapacity(tcpOptions.maxConnections + tcpOptions.maxTimeWait + 1024);
    const stack: TcpStack = new TcpStack(new DataplaneSegmentSink(dp), {
      ...this.tcpOptions,
      addresses: dp.ip6Peers,
      // Our MSS follows the MTU of the interface that owns the local address (IPv6: a 40-byte header).
      mss: (localIp) =>
        isIp6Handle(localIp)
          ? (dp.ip6Peers.interfaceOf(localIp)?.mtu ?? 1500) - IPV6_HEADER_LEN - TCP_MIN_HEADER_LEN
          : (dp.interfaceForAddress(localIp)?.mtu ?? 1500) - IPV4_MIN_HEADER_LEN - TCP_MIN_HEADER_LEN,
      onWork: () => {
        if (kickScheduled) return;
        kickScheduled = true;
        setImmediate(() => {
          kickScheduled = false;
          host.kick();
        });
      },
    });
    const host = new TcpHost(dp, stack);
    this.tcp = host;
    this.errorSources.push({
      node: 'tcp4-session',
      counts: () => stack.errors,
      clear: () => clearRecord(stack.errors),
      private: { reasons: TCP_PRIVATE_REASONS },
    });
    return host;
  }

  startHttp(command: HttpStaticServerCommand): HttpStaticServer {
    let st;
    try {
      st = statSync(command.wwwRoot);
    } catch {
      throw new Error(`www-root ${command.wwwRoot} does not exist`);
    }
    if (!st.isDirectory()) throw new Error(`www-root ${command.wwwRoot} is not a directory`);
    const ip = this.checkListener(command);
    const limits: Partial<HttpLimits> = { ...this.httpLimits };
    if (command.headerTimeoutMs !== undefined) limits.headerTimeoutMs = command.headerTimeoutMs;
    if (command.idleTimeoutMs !== undefined) limits.idleTimeoutMs = command.idleTimeoutMs;
    // Its input buffers and file chunks count in the TCP stack's memory budget.
    const memory = this.ensureTcp().stack.mem.forApplication();
    const server = new HttpStaticServer({ wwwRoot: command.wwwRoot, cacheSizeBytes: Math.floor(command.cacheSizeBytes * this.cacheShare), limits, memory });
    const h2 = command.http1Only === true ? null : new Http2StaticServer(server, { idleTimeoutMs: server.limits.idleTimeoutMs });
    const entry: HttpServerEntry = { server, command, h2, listeners: [] };
    try {
      this.openListener(entry, command, ip);
    } catch (err) {
      server.close();
      throw err;
    }
    this.http.push(entry);
    this.errorSources.push({ node: HTTP_STATIC_SERVER_NODE, counts: () => server.errors, clear: () => clearRecord(server.errors) });
    if (h2 !== null) this.errorSources.push({ node: HTTP2_STATIC_SERVER_NODE, counts: () => h2.errors, clear: () => clearRecord(h2.errors) });
    return server;
  }

  /** `http static listener add …`: one more listener for the static server configured last. */
  addListener(command: HttpListenerCommand): HttpListenerEntry {
    const entry = this.http[this.http.length - 1];
    if (entry === undefined) throw new Error('no HTTP static server to add a listener to: configure `http static server www-root <dir> …` first');
    const ip = this.checkListener(command);
    return this.openListener(entry, command, ip);
  }

  /** Validates the address and refuses a port another listener has (same address, or either wildcard). */
  private checkListener(command: HttpListenerCommand): number {
    const ip = command.family === 4 ? parseIpv4(command.address) : this.ip6Listener(command.address);
    if (ip === null) throw new Error(`${command.address} is not an IPv${command.family} address`);
    // 0.0.0.0 is every IPv4 address, :: every IPv6 one (as in VPP, each family has its own listener).
    const any = isIp6Handle(ip) ? IP6_ANY_HANDLE : 0;
    for (const h of this.http) {
      for (const l of h.listeners) {
        const lAny = isIp6Handle(l.ip) ? IP6_ANY_HANDLE : 0;
        if (l.command.port === command.port && any === lAny && (l.ip === ip || ip === any || l.ip === any)) {
          throw new Error(`an HTTP server already listens on port ${command.port} (${l.command.transport}://${l.command.address}/${l.command.port})`);
        }
      }
    }
    return ip;
  }

  /** The TCP handle of an IPv6 listener address: `::`, or the address itself (interned). */
  private ip6Listener(text: string): number | null {
    const a = parseIpv6(text);
    if (a === null) return null;
    if (isIp6Unspecified(a)) return IP6_ANY_HANDLE;
    return this.dp.ip6Peers.intern(a, 0, null);
  }

  private openListener(entry: HttpServerEntry, command: HttpListenerCommand, ip: number): HttpListenerEntry {
    let tls: TlsListener | null = null;
    let accept: AcceptHandler;
    if (command.transport === 'tls') {
      tls = this.makeTls(entry, command);
      accept = tls.accept;
    } else if (command.redirectToHttps === true) {
      // The HTTPS port is looked up per connection: the tls listener may be added after this one.
      const tlsPort = (): number => entry.listeners.find((l) => l.tls !== null)?.command.port ?? 443;
      accept = (stream) => cleartextAccept(entry.server, null, tlsPort())(stream);
    } else {
      accept = cleartextAccept(entry.server, entry.h2);
    }
    const tcp = this.ensureTcp();
    tcp.stack.listen(ip, command.port, tcp.timed(accept));
    const listener: HttpListenerEntry = { command, ip, tls };
    entry.listeners.push(listener);
    if (tls !== null) {
      const t = tls;
      this.errorSources.push({ node: TLS_NODE, counts: () => t.errors, clear: () => clearRecord(t.errors) });
    }
    return listener;
  }

  private makeTls(entry: HttpServerEntry, command: HttpListenerCommand): TlsListener {
    const handshakeTimeoutMs = entry.server.limits.headerTimeoutMs;
    if (command.certFile !== undefined && command.keyFile !== undefined) {
      try {
        return new TlsListener(entry.server, entry.h2, { certFile: command.certFile, keyFile: command.keyFile, log: this.log, handshakeTimeoutMs, shared: this.sharedLimits ?? undefined, addresses: this.dp.ip6Peers });
      } catch (err) {
        if (err instanceof TlsPairError) throw new Error(`tls://${command.address}/${command.port}: ${err.message}`);
        throw err;
      }
    }
    // No certificate given: a fresh self-signed one for the addresses this dataplane has, IPv4
    // and IPv6 (global ones, tentative included: DAD is still running when start-up configures
    // the listener; link-local ones are no names a client would use). A wildcard is no name.
    const names = new Set<string>();
    if (command.address !== '0.0.0.0' && !(command.family === 6 && isIp6Unspecified(parseIpv6(command.address) ?? Buffer.alloc(16)))) {
      names.add(command.family === 6 ? formatIpv6(parseIpv6(command.address)!) : command.address);
    }
    for (const sw of this.dp.interfaces) {
      for (const a of sw.addresses) names.add(formatIpv4(a.address));
      for (const a of sw.ip6?.addresses ?? []) if (!a.linkLocal && a.dad !== DadState.Duplicate) names.add(formatIpv6(a.address));
    }
    names.add('localhost');
    const pair = selfSignedPair({ names: [...names] });
    const info = pair.leaf;
    this.log(
      'warn',
      { code: 'TLS_SELF_SIGNED', listener: `tls://${command.address}/${command.port}`, subjectAltName: info.subjectAltName, fingerprint: info.fingerprint256 },
      `tls://${command.address}/${command.port} has no cert/key: serving a self-signed certificate made for this process (${info.subjectAltName}); clients will not trust it. Give cert <file> key <file> for a real one`,
    );
    return new TlsListener(entry.server, entry.h2, { pair, log: this.log, handshakeTimeoutMs, shared: this.sharedLimits ?? undefined, addresses: this.dp.ip6Peers });
  }

  /** Stops accepting on every listener (drain). */
  unlistenAll(): void {
    const tcp = this.tcp;
    if (tcp === null) return;
    for (const h of this.http) for (const l of h.listeners) tcp.stack.unlisten(l.ip, l.command.port);
  }

  close(): void {
    for (const h of this.http) {
      for (const l of h.listeners) l.tls?.close();
      h.h2?.close();
      h.server.close();
    }
    this.tcp?.close();
  }
}

function clearRecord(record: Record<string, number>): void {
  for (const k of Object.keys(record)) record[k] = 0;
}
