/**
 * Runs an AcceptHandler (e.g. HttpStaticServer.accept) over Node's `net` module, i.e. the kernel's
 * TCP: used by the tests (real curl over loopback) and the bench's reference runs. The production
 * path uses the dataplane's own TCP through the same ByteStream contract.
 *
 * Writes made in the same tick are corked together, so a response head and its body leave in one
 * writev. The server must be created with allowHalfOpen so that a peer's FIN (onEnd) does not
 * close our side before the queued responses are written; `listenNet` does that.
 */
import net from 'node:net';
import type { AcceptHandler, ByteStream, StreamHandler } from '../stream/byte-stream.js';

/** How attachSocket may treat a socket that is not a kernel TCP socket (a TLSSocket over our TCP). */
export interface AttachOptions {
  /** The peer, when the socket cannot tell (a TLSSocket over a Duplex has no address). */
  remote?: string;
  /** Reset the connection underneath (resetAndDestroy() works only on a kernel TCP socket). */
  abort?: () => void;
  /**
   * When the writes corked in this tick are flushed. Default process.nextTick. The TLS listener
   * flushes them as soon as the input that caused them has been handled, so that the encrypted
   * answer reaches our TCP inside the same vector (and leaves with its ACK in the same batch)
   * instead of in a later kick of its own.
   */
  flushSoon?: (flush: () => void) => void;
}

class SocketStream implements ByteStream {
  private corked = false;
  readonly remote: string;
  private readonly flushNow = (): void => this.uncork();

  constructor(
    private readonly socket: net.Socket,
    private readonly options: AttachOptions = {},
  ) {
    this.remote = options.remote ?? `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
  }

  write(chunk: Buffer): void {
    const s = this.socket;
    if (s.destroyed || s.writableEnded) return;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      if (this.options.flushSoon !== undefined) this.options.flushSoon(this.flushNow);
      else process.nextTick(uncork, this);
    }
    s.write(chunk);
  }

  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** Stops reading: the kernel's receive buffer fills and its window closes. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    const s = this.socket;
    if (s.destroyed || s.writableEnded) return;
    if (this.corked) this.uncork();
    s.end();
  }

  abort(): void {
    const s = this.socket;
    if (s.destroyed) return;
    if (this.options.abort !== undefined) {
      this.options.abort();
      s.destroy();
    } else if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
    else s.destroy();
  }

  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }
}

function uncork(s: SocketStream): void {
  s.uncork();
}

/** Connects one accepted socket to the application. */
export function attachSocket(socket: net.Socket, accept: AcceptHandler, options: AttachOptions = {}): StreamHandler {
  if (options.abort === undefined) socket.setNoDelay(true);
  const stream = new SocketStream(socket, options);
  const handler = accept(stream);
  let closed = false;
  socket.on('data', (buf: Buffer) => handler.onData(buf, 0, buf.length));
  socket.on('drain', () => handler.onDrain());
  socket.on('end', () => handler.onEnd());
  socket.on('error', () => undefined); // 'close' follows
  socket.on('close', () => {
    if (closed) return;
    closed = true;
    handler.onClose();
  });
  return handler;
}

/** Serves `accept` on an existing net.Server (create it with `{ allowHalfOpen: true }`). */
export function attachToNetServer(server: net.Server, accept: AcceptHandler): void {
  server.on('connection', (socket: net.Socket) => attachSocket(socket, accept));
}

export interface NetListener {
  readonly server: net.Server;
  readonly address: string;
  readonly port: number;
  /** Stops listening and destroys every open socket. */
  close(): Promise<void>;
}

/** Listens on host:port (port 0 = any free port) and serves `accept` on every connection. */
export async function listenNet(accept: AcceptHandler, port: number, host = '127.0.0.1'): Promise<NetListener> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    attachSocket(socket, accept);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  return {
    server,
    address: addr.address,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
