/**
 * The CLI socket: a Unix stream socket at the `cli-listen` path. A client sends one command
 * a line; each answer is the command's output followed by "\0", a status byte ('0' ok,
 * '1' error) and "\n".
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { CliContext } from './context.js';
import { executorOf, type LineExecutor } from './cli.js';
import type { CommandRegistry } from './registry.js';

export const RESPONSE_END = '\0';

/** True if something accepts connections on the socket path. */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

export class CliServer {
  private server: Server | null = null;
  private readonly clients = new Set<Socket>();

  constructor(
    readonly path: string,
    registry: CommandRegistry<CliContext> | LineExecutor,
    private readonly context: CliContext,
    private readonly onCommand: (line: string, ok: boolean) => void = () => {},
  ) {
    this.run = executorOf(registry);
  }

  private readonly run: LineExecutor;

  /** Listens, replacing a stale socket file left by a crash; fails if another process serves it. */
  async listen(): Promise<{ replacedStale: boolean }> {
    let replacedStale = false;
    const existing = lstatSync(this.path, { throwIfNoEntry: false });
    if (existing !== undefined) {
      if (!existing.isSocket()) {
        const e = new Error(`cli-listen ${this.path} exists and is not a socket; refusing to replace it (choose another path)`);
        (e as NodeJS.ErrnoException).code = 'EEXIST';
        throw e;
      }
      if (await socketInUse(this.path)) {
        const e = new Error(`CLI socket ${this.path} is in use by another running dataplane; stop it or choose another cli-listen path`);
        (e as NodeJS.ErrnoException).code = 'EADDRINUSE';
        throw e;
      }
      unlinkSync(this.path);
      replacedStale = true;
    }
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(this.path, 0o660);
    this.server = server;
    return { replacedStale };
  }

  private serve(socket: Socket): void {
    this.clients.add(socket);
    socket.setEncoding('utf8');
    let pending = '';
    let chain = Promise.resolve();
    const gone = new AbortController();
    const context: CliContext = { ...this.context, session: { close: () => socket.end(), signal: gone.signal } };
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).replace(/\r$/, '');
        pending = pending.slice(nl + 1);
        chain = chain.then(async () => {
          let ok = false;
          let output: string;
          try {
            ({ ok, output } = await this.run(line, context));
          } catch (err) {
            output = `internal error: ${(err as Error).message}`;
          }
          if (line.trim() !== '') this.onCommand(line, ok);
          if (!socket.destroyed) socket.write(`${output}${RESPONSE_END}${ok ? '0' : '1'}\n`);
        });
      }
      if (pending.length > 65536) {
        socket.end('command line too long\0' + '1\n');
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.clients.delete(socket);
      gone.abort();
    });
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    if (this.server !== null) {
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
      this.server = null;
    }
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
