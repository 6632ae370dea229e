/**
 * The byte stream between a transport (our TCP, or Node's `net` in tests) and an application
 * such as the HTTP server. The transport calls the StreamHandler; the application calls the
 * ByteStream. Chunks passed to write() are queued by reference, not copied: the caller must not
 * modify them afterwards (cached file contents are shared between connections this way).
 *
 * The contract sits below both sides (transports import it, applications import it) so that the
 * TCP stack never depends on the application that runs over it.
 */
export interface ByteStream {
  /** Queue bytes for sending, in order. */
  write(chunk: Buffer): void;
  /** Bytes queued and not yet acknowledged by the peer; use it for backpressure. */
  readonly queuedBytes: number;
  /** Send FIN after everything queued has been sent (a half close: reading goes on). */
  end(): void;
  /**
   * Optional full close (close(2) rather than shutdown(SHUT_WR)): FIN after everything queued,
   * and this side reads no more. Data the peer sends afterwards is lost, and the transport says
   * so with a RST (RFC 9293 §3.6.1), as it does when data is still held unread at the call.
   */
  close?(): void;
  /** Reset the connection now, discarding what is queued. */
  abort(): void;
  /** "a.b.c.d:port" of the peer, for logs. */
  readonly remote: string;
  /**
   * Optional flow control of the receiving side: stop calling onData (the transport holds the
   * bytes and, for our TCP, lets the receive window close) until resume(). Used by layers that
   * buffer what they read, such as TLS (duplex.ts).
   */
  pause?(): void;
  resume?(): void;
  /**
   * Optional: the application has nothing to send or answer for now (an idle keep-alive
   * connection). The transport may let go of storage it can make again when traffic resumes.
   */
  compact?(): void;
}

export interface StreamHandler {
  /** Bytes arrived, in order. buf[off .. off+len) is valid only during the call: copy what you keep. */
  onData(buf: Buffer, off: number, len: number): void;
  /** queuedBytes fell below the transport's low-water mark: write more. */
  onDrain(): void;
  /** The peer sent FIN: no more data will arrive. */
  onEnd(): void;
  /** The connection is gone (closed, reset or timed out); release everything. */
  onClose(): void;
}

/** What a listening application gives the transport for each accepted connection. */
export type AcceptHandler = (stream: ByteStream) => StreamHandler;
