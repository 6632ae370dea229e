/**
 * The transport and application services a dataplane hosts: one TCP stack, shared by the HTTP
 * static servers that `http static server …` starts.
 */
import { statSync } from 'node:fs';
import { TcpStack } from './tcp/index.js';
import { HttpStaticServer, type HttpLimits } from './http/server.js';
import type { HttpStaticServerCommand } from './http/command.js';
import { DataplaneSegmentSink, TcpHost } from './dataplane/tcp-host.js';
import type { Dataplane } from './dataplane/dataplane.js';
import type { ErrorSource } from './cli/context.js';
import { parseIpv4 } from './wire/address.js';
import { IPV4_MIN_HEADER_LEN } from './wire/ipv4.js';

const TCP_MIN_HEADER_LEN = 20;

export interface HttpServerEntry {
  server: HttpStaticServer;
  command: HttpStaticServerCommand;
}

export class Services {
  tcp: TcpHost | null = null;
  readonly http: HttpServerEntry[] = [];
  /** Limits applied to HTTP servers started from now on (tests shorten them). */
  httpLimits: Partial<HttpLimits> = {};

  constructor(
    private readonly dp: Dataplane,
    private readonly errorSources: ErrorSource[],
  ) {}

  ensureTcp(): TcpHost {
    if (this.tcp !== null) return this.tcp;
    const dp = this.dp;
    let kickScheduled = false;
    const stack: TcpStack = new TcpStack(new DataplaneSegmentSink(dp), {
      // Our MSS follows the MTU of the interface that owns the local address.
      mss: (localIp) => (dp.interfaceForAddress(localIp)?.mtu ?? 1500) - IPV4_MIN_HEADER_LEN - TCP_MIN_HEADER_LEN,
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
    this.errorSources.push({ node: 'tcp4-session', counts: () => stack.errors, clear: () => clearRecord(stack.errors) });
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
    const address = parseIpv4(command.address);
    if (address === null) throw new Error(`${command.address} is not an IPv4 address`);
    // Two listeners on one port conflict when their addresses match or either is the wildcard.
    const conflicts = (h: HttpServerEntry) =>
      h.command.port === command.port && (h.command.address === command.address || address === 0 || parseIpv4(h.command.address) === 0);
    if (this.http.some(conflicts)) {
      throw new Error(`an HTTP server already listens on port ${command.port}`);
    }
    const tcp = this.ensureTcp();
    const limits: Partial<HttpLimits> = { ...this.httpLimits };
    if (command.headerTimeoutMs !== undefined) limits.headerTimeoutMs = command.headerTimeoutMs;
    if (command.idleTimeoutMs !== undefined) limits.idleTimeoutMs = command.idleTimeoutMs;
    const server = new HttpStaticServer({ wwwRoot: command.wwwRoot, cacheSizeBytes: command.cacheSizeBytes, limits });
    tcp.stack.listen(address, command.port, tcp.timed(server.accept));
    this.http.push({ server, command });
    this.errorSources.push({ node: 'http-static-server', counts: () => server.errors, clear: () => clearRecord(server.errors) });
    return server;
  }

  close(): void {
    for (const h of this.http) h.server.close();
    this.tcp?.close();
  }
}

function clearRecord(record: Record<string, number>): void {
  for (const k of Object.keys(record)) record[k] = 0;
}
