/**
 * The AcceptHandler of a cleartext (tcp://) listener: HTTP/1.1, or HTTP/2 with prior knowledge
 * (h2c, RFC 9113 §3.3) when the connection opens with the 24-byte HTTP/2 client preface. The
 * first bytes decide; they are handed on unchanged to whichever protocol it is. With
 * `redirect-to-https` the listener answers HTTP/1.1 with 301s and offers no h2c.
 */
import { ByteStreamDuplex } from './duplex.js';
import type { Http2StaticServer } from './h2.js';
import type { HttpStaticServer } from './server.js';
import type { AcceptHandler, ByteStream, StreamHandler } from '../stream/byte-stream.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Shared: a new connection allocates no buffer until a preface actually arrives in pieces. */
const EMPTY = Buffer.alloc(0);

export function cleartextAccept(http: HttpStaticServer, h2: Http2StaticServer | null, redirectPort: number | null = null): AcceptHandler {
  const http1 = redirectPort === null ? http.accept : http.acceptRedirectingTo(redirectPort);
  if (h2 === null || redirectPort !== null) return http1;
  return (stream) => new Sniffer(stream, http1, h2);
}

/**
 * The HTTP/1.1 connection exists from the start (its header timeout runs for a silent client);
 * when the preface arrives it is detached (onClose with nothing queued) and HTTP/2 takes over.
 */
class Sniffer implements StreamHandler {
  private next: StreamHandler | null = null;
  private readonly h1: StreamHandler;
  private head: Buffer = EMPTY;

  constructor(
    private readonly stream: ByteStream,
    http1: AcceptHandler,
    private readonly h2: Http2StaticServer,
  ) {
    this.h1 = http1(stream);
  }

  onData(buf: Buffer, off: number, len: number): void {
    if (this.next !== null) {
      this.next.onData(buf, off, len);
      return;
    }
    // Decide as soon as the bytes differ from the preface, or the whole preface has come.
    const have = this.head.length;
    const n = Math.min(len, PREFACE.length - have);
    let matches = true;
    for (let i = 0; i < n; i++) {
      if (buf[off + i] !== PREFACE[have + i]) {
        matches = false;
        break;
      }
    }
    if (!matches) {
      this.toHttp1(buf, off, len);
      return;
    }
    if (have + len < PREFACE.length) {
      this.head = Buffer.concat([this.head, buf.subarray(off, off + len)]);
      return;
    }
    this.h1.onClose();
    const duplex = new ByteStreamDuplex(this.stream);
    this.next = duplex;
    this.h2.attach(duplex);
    if (have > 0) duplex.onData(this.head, 0, have);
    duplex.onData(buf, off, len);
    this.head = EMPTY;
  }

  private toHttp1(buf: Buffer | null, off: number, len: number): void {
    const h = this.h1;
    this.next = h;
    if (this.head.length > 0) h.onData(this.head, 0, this.head.length);
    this.head = EMPTY;
    if (buf !== null) h.onData(buf, off, len);
  }

  onDrain(): void {
    this.next?.onDrain();
  }

  onEnd(): void {
    if (this.next === null) this.toHttp1(null, 0, 0);
    this.next!.onEnd();
  }

  onClose(): void {
    if (this.next === null) this.toHttp1(null, 0, 0);
    this.next!.onClose();
  }
}
