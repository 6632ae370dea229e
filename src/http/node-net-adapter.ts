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
  /**
   * Bytes queued below the socket (a TLSSocket over our TCP hands its ciphertext on at once, so its
   * own writableLength stays ~0 while the Duplex and TCP hold it): counted in queuedBytes so the
   * HTTP server's backpressure sees them.
   */
  queuedBelow?: () => number;
  /**
   * Registers the callback to run when the transport below drains (the socket's own 'drain' never
   * fires if its writableLength never reached its high-water mark).
   */
  onDrainBelow?: (drained: () => void) => void;
  /**
   * The application is idle (ByteStream.compact) and the socket holds nothing: the transport below
   * may shrink (a TLSSocket over our TCP: the TCP connection's compact, once the Duplex is empty).
   */
  compactBelow?: () => void;
}

/** With queuedBelow: plaintext handed to the socket while what sits below it is under this. */
const BELOW_HIGH = 256 * 1024;
/** ... in pieces of at most this (a cached 8 MB body is not encrypted in one go). */
const RELEASE_PIECE = 64 * 1024;
const EMPTY = Buffer.alloc(0);

class SocketStream implements ByteStream {
  private corked = false;
  /** Chunks not yet handed to the socket (queuedBelow only): held[heldHead] from heldOff on. */
  private readonly held: Buffer[] = [];
  private heldHead = 0;
  private heldOff = 0;
  private heldBytes = 0;
  private ending = false;
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
    if (s.destroyed || s.writableEnded || this.ending) return;
    if (this.options.queuedBelow !== undefined) {
      // Held by reference; handed to the socket only as far as the transport below has room.
      if (chunk.length > 0) {
        this.held.push(chunk);
        this.heldBytes += chunk.length;
      }
      this.release();
      return;
    }
    this.cork();
    s.write(chunk);
  }

  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    if (this.options.flushSoon !== undefined) this.options.flushSoon(this.flushNow);
    else process.nextTick(uncork, this);
  }

  /** Hands held chunks (in pieces of at most RELEASE_PIECE) to the socket while below is under BELOW_HIGH. */
  release(): void {
    const below = this.options.queuedBelow!;
    const s = this.socket;
    if (s.destroyed) {
      this.dropHeld();
      return;
    }
    const held = this.held;
    while (this.heldHead < held.length && s.writableLength + below() < BELOW_HIGH) {
      const c = held[this.heldHead]!;
      const n = c.length - this.heldOff < RELEASE_PIECE ? c.length - this.heldOff : RELEASE_PIECE;
      const piece = this.heldOff === 0 && n === c.length ? c : c.subarray(this.heldOff, this.heldOff + n);
      this.heldOff += n;
      this.heldBytes -= n;
      if (this.heldOff === c.length) {
        held[this.heldHead++] = EMPTY;
        this.heldOff = 0;
      }
      this.cork();
      s.write(piece);
    }
    if (this.heldHead === held.length) {
      held.length = 0;
      this.heldHead = 0;
      if (this.ending && !s.writableEnded) {
        if (this.corked) this.uncork();
        s.end();
      }
    } else if (this.heldHead > 1024) {
      held.splice(0, this.heldHead);
      this.heldHead = 0;
    }
  }

  private dropHeld(): void {
    this.held.length = 0;
    this.heldHead = this.heldOff = this.heldBytes = 0;
  }

  get queuedBytes(): number {
    const below = this.options.queuedBelow;
    return below === undefined ? this.socket.writableLength : this.heldBytes + this.socket.writableLength + below();
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
    if (s.destroyed || s.writableEnded || this.ending) return;
    if (this.heldBytes > 0) {
      this.ending = true; // release() ends the socket once the held chunks are out
      return;
    }
    if (this.corked) this.uncork();
    s.end();
  }

  compact(): void {
    if (this.heldBytes === 0 && this.socket.writableLength === 0) this.options.compactBelow?.();
  }

  abort(): void {
    const s = this.socket;
    this.dropHeld();
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
  socket.on('drain', () => {
    if (options.queuedBelow !== undefined) stream.release();
    handler.onDrain();
  });
  options.onDrainBelow?.(() => {
    if (closed) return;
    stream.release();
    handler.onDrain();
  });
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
