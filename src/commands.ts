/** Commands that the services beyond the dataplane (TCP, HTTP) contribute to the CLI. */
import type { Command } from './cli/cli.js';
import { CommandError } from './cli/registry.js';
import { HTTP_LISTENER_ADD_SYNTAX, HTTP_STATIC_SERVER_SYNTAX, parseHttpListenerAddCommand, parseHttpStaticServerCommand } from './http/command.js';
import { formatHttpStaticServer, formatHttpStaticServerCache } from './http/show.js';
import { HTTP_STATIC_SERVER_NODE } from './http/status.js';
import type { Services } from './services.js';
import { isIp6Handle } from './dataplane/ip6-peers.js';
import { formatTcpMemory } from './tcp/memory-show.js';

export function serviceCommands(services: Services): Command[] {
  return [
    {
      path: 'http static server',
      help: HTTP_STATIC_SERVER_SYNTAX,
      run(args) {
        try {
          const command = parseHttpStaticServerCommand([...args.words]);
          services.startHttp(command);
          return undefined;
        } catch (err) {
          throw new CommandError((err as Error).message);
        }
      },
    },
    {
      path: 'http static listener add',
      help: HTTP_LISTENER_ADD_SYNTAX,
      run(args) {
        try {
          services.addListener(parseHttpListenerAddCommand([...args.words]));
          return undefined;
        } catch (err) {
          throw new CommandError((err as Error).message);
        }
      },
    },
    {
      path: 'show http static server',
      help: 'show http static server: listeners, and for TLS the certificate (subject, SANs, not after, fingerprint)',
      run(args) {
        args.end();
        if (services.http.length === 0) return 'no HTTP static server is running';
        return services.http.map((h) => formatHttpStaticServer(h)).join('\n\n');
      },
    },
    {
      path: 'show http static server cache',
      help: 'show http static server cache [verbose]',
      run(args) {
        const verbose = args.accept('verbose');
        args.end();
        if (services.http.length === 0) return 'no HTTP static server is running';
        return services.http.map((h) => formatHttpStaticServerCache(h.server, verbose)).join('\n\n');
      },
    },
    {
      path: 'show tcp stats',
      help: 'show tcp stats',
      run(args) {
        args.end();
        const stack = services.tcp?.stack;
        if (stack === undefined) return 'TCP is not running (no listener configured)';
        return Object.entries(stack.counters)
          .map(([name, value]) => `${String(value).padStart(12)}  ${name.replace(/([A-Z])/g, ' $1').toLowerCase()}`)
          .join('\n');
      },
    },
    {
      path: 'show tcp memory',
      help: 'show tcp memory: the budget for buffered bytes, what is buffered by kind, per-source limits, refusals',
      run(args) {
        args.end();
        const stack = services.tcp?.stack;
        if (stack === undefined) return 'TCP is not running (no listener configured)';
        const l = services.http[0]?.server.limits ?? services.httpLimits;
        const rate = l.minSendBytes === 0 || l.minSendBytes === undefined ? 'off' : `${l.minSendBytes} bytes per ${(l.minSendWindowMs ?? 0) / 1000} s`;
        // With workers the refusals happen there: the main thread adds every worker's counters.
        const peer = services.peerErrors;
        const errors: Record<string, number> = { ...stack.errors };
        for (const [k, v] of Object.entries(peer?.['tcp4-session'] ?? {})) errors[k] = (errors[k] ?? 0) + v;
        const slow = services.http.reduce((n, h) => n + (h.server.errors['send-rate-too-low'] ?? 0), 0) + (peer?.[HTTP_STATIC_SERVER_NODE]?.['send-rate-too-low'] ?? 0);
        return formatTcpMemory(stack.mem, services.memoryOrigin, errors, [`minimum send rate ${rate}; readers dropped below it ${slow} (send-rate-too-low)`]);
      },
    },
    {
      path: 'show session',
      help: 'show session [verbose]',
      run(args) {
        const verbose = args.accept('verbose');
        args.end();
        const stack = services.tcp?.stack;
        if (stack === undefined) return 'no TCP sessions (no TCP listener configured)';
        const lines: string[] = [];
        // IPv6 endpoints in brackets ([2001:db8::1]:80): the TCP stack knows them by their handles.
        const peers = services.dp.ip6Peers;
        const endpoint = (ip: number, port: number, text: string) => (isIp6Handle(ip) ? `[${peers.format(ip) ?? '?'}]:${port}` : text);
        for (const h of services.http) {
          for (const l of h.listeners) {
            const v6 = l.command.family === 6;
            lines.push(`[T] ${v6 ? `[${l.command.address}]` : l.command.address}:${l.command.port}->${v6 ? '[::]' : '0.0.0.0'}:0 LISTEN${l.tls !== null ? ' (tls)' : ''}`);
          }
        }
        let count = 0;
        for (const s of stack.sessions()) {
          count++;
          const local = endpoint(s.localIp, s.localPort, s.local);
          const remote = endpoint(s.remoteIp, s.remotePort, s.remote);
          let line = `[T] ${local}->${remote} ${s.state.padEnd(12)} sendq ${s.sendQueue} recvq ${s.recvQueue}`;
          if (verbose) line += ` srtt ${s.srtt.toFixed(1)}ms rto ${s.rto.toFixed(0)}ms cwnd ${s.cwnd} snd_wnd ${s.sndWnd} rcv_wnd ${s.rcvWnd} mss ${s.mss}`;
          if (verbose && s.congestion !== undefined) line += ` ${s.congestion}`;
          lines.push(line);
        }
        lines.push(`active sessions ${count}`);
        return lines.join('\n');
      },
    },
  ];
}
