/**
 * One HTTP/1.1 connection of the static server: incoming bytes are scanned for complete request
 * heads (limits enforced while the head is still arriving), each request is handed to the server
 * and its response sent in strict request order (pipelining); a response is a head Buffer and a
 * body Buffer written by reference, or a file streamed in chunks with backpressure. Input beyond
 * what can be parsed pauses the transport; buffered input and streamed chunks are charged to the
 * memory budget. The server's sweep (server.ts) keeps the connection's timeouts.
 */
import type { FileHandle } from 'node:fs/promises';
import type { HttpLimits, HttpMemory } from './options.js';
import { RequestHeadScanner, parseRequestHead, type ParseResult } from './parser.js';
import { SendFloor } from './send-floor.js';
import type { ByteStream, StreamHandler } from '../stream/byte-stream.js';
import type { DenseMember } from '../stream/dense-set.js';
import { clearArray } from '../util/array.js';

/** What a connection needs of the server it belongs to (HttpStaticServer). */
export interface ConnectionServer {
  readonly limits: HttpLimits;
  readonly memory: HttpMemory | undefined;
  /** Unparsed input a transport without pause() may leave buffered (pipeline-overflow beyond). */
  readonly maxBufferedInput: number;
  /** Queued output at which parsing pauses. */
  readonly pauseBytes: number;
  /** Read size when streaming a file. */
  readonly streamChunk: number;
  /** A file is read ahead while the stream has less than this queued. */
  readonly streamHighWater: number;
  /** The server's counters the connection adds its responses to. */
  bytesSent: number;
  /** Responses by status class (index = status / 100). */
  readonly responses: number[];
  readonly now: () => number;
  /** `now` as a connection keeps it: whole ms since the server's epoch. */
  since(now: number): number;
  /** Counts an error reason (HTTP_ERROR_REASONS). */
  count(reason: string): void;
  /** Answers one parsed request (or parse failure) on `c`. */
  handle(c: Conn, req: ParseResult, now: number): void;
  /** `c` has closed: forget it. */
  connectionClosed(c: Conn): void;
}

/** A connection's state (Conn.state). Open: requests are read and answered. */
export const OPEN = 0;
/** No more requests will be read; queued responses are still sent, then FIN. */
export const CLOSING = 1;
/** end() was called. */
export const ENDED = 2;
export const CLOSED = 3;

/** One response, in the connection's queue until its turn comes. */
export class Job {
  ready = false;
  status = 0;
  head: Buffer | null = null;
  body: Buffer | null = null;
  /** Streaming state: the file, next position, end (exclusive). */
  fh: FileHandle | null = null;
  pos = 0;
  end = 0;
  reading = false;
  close = false;
}

export class Conn implements StreamHandler, DenseMember {
  denseSlot = -1;
  state = OPEN;
  ibuf: Buffer | null = null;
  istart = 0;
  iend = 0;
  readonly scanner: RequestHeadScanner;
  readonly queue: Job[] = [];
  skipBody = 0;
  headStart: number;
  gotHeadBytes = false;
  idleSince = 0;
  endedAt = 0;
  lastQueued = 0;
  lastProgress: number;
  peerEnded = false;
  /** The last request asked to close the connection and carried no body. */
  clientCloses = false;
  /** The transport is paused: unparsed input reached inputPauseBytes while parsing was blocked. */
  inputPaused = false;
  /** Bytes written to the stream so far (written − queuedBytes = what the peer has taken). */
  written = 0;
  readonly floor = new SendFloor();
  /** Streamed file chunks not yet acknowledged, charged as 'send': [end position in `written`, size] pairs. */
  private readonly sendMarks: number[] = [];
  private sendHead = 0;
  /** redirect-to-https: the HTTPS port every GET/HEAD is sent to, or null. */
  redirectPort: number | null = null;
  private processing = false;
  private pumping = false;

  constructor(
    readonly server: ConnectionServer,
    readonly stream: ByteStream,
    now: number,
  ) {
    this.scanner = new RequestHeadScanner(server.limits);
    // Times on a Conn are ms since the server's epoch: small integers (a field holding epoch ms
    // is a 16-byte HeapNumber per connection).
    this.headStart = server.since(now);
    this.lastProgress = this.headStart;
  }

  // ---- StreamHandler

  onData(buf: Buffer, off: number, len: number): void {
    if (this.state !== OPEN || len === 0) return;
    if (this.iend > this.istart) {
      this.append(buf, off, len);
      this.processBuffered();
      return;
    }
    const end = off + len;
    const p = this.consume(buf, off, end);
    if (p < end && this.state === OPEN) {
      this.istart = this.iend = 0;
      this.append(buf, p, end - p);
      this.flow();
    }
  }

  onDrain(): void {
    this.settleSend();
    const job = this.queue[0];
    if (job !== undefined && job.fh !== null && job.ready && job.head === null) this.streamMore(job);
    if (this.state === OPEN && this.iend > this.istart) this.processBuffered();
  }

  onEnd(): void {
    this.peerEnded = true;
    if (this.state === OPEN) {
      this.state = CLOSING;
      this.dropInput();
    }
    if (this.state === CLOSING && this.queue.length === 0) this.finish();
  }

  onClose(): void {
    if (this.state === CLOSED) return;
    if (this.queue.length > 0) this.server.count('closed-mid-response');
    this.state = CLOSED;
    this.dropInput();
    this.releaseSend();
    for (const job of this.queue) if (job.fh !== null && !job.reading) closeQuietly(job);
    this.queue.length = 0;
    this.server.connectionClosed(this);
  }

  // ---- backpressure and memory

  /**
   * Backpressure to the transport: while parsing is blocked (responses backed up) and unparsed
   * input reaches inputPauseBytes, pause the stream (our TCP then holds what arrives and its
   * window closes); resume once parsing can go on. Transports without pause() are bounded by
   * maxBufferedInput (pipeline-overflow) instead.
   */
  private flow(): void {
    const pending = this.iend - this.istart;
    const mem = this.server.memory;
    if (!this.inputPaused) {
      if (
        this.state === OPEN &&
        pending > 0 &&
        this.stream.pause !== undefined &&
        this.paused() &&
        (pending >= this.server.limits.inputPauseBytes || (mem !== undefined && mem.tight(this.stream)))
      ) {
        this.inputPaused = true;
        this.stream.pause();
      }
    } else if (this.state !== OPEN || (!this.paused() && pending < this.server.limits.inputPauseBytes)) {
      this.inputPaused = false;
      if (this.state !== CLOSED) this.stream.resume?.();
    }
  }

  /** Forgets the input buffer (and its charge). */
  private dropInput(): void {
    if (this.ibuf !== null) this.server.memory?.release('pipelined', this.ibuf.length, this.stream);
    this.ibuf = null;
    this.istart = this.iend = 0;
  }

  /** Releases the charge of streamed chunks the peer has acknowledged. */
  settleSend(): void {
    const marks = this.sendMarks;
    if (this.sendHead === marks.length) return;
    const acked = this.written - this.stream.queuedBytes;
    let n = 0;
    while (this.sendHead < marks.length && marks[this.sendHead] <= acked) {
      n += marks[this.sendHead + 1];
      this.sendHead += 2;
    }
    if (this.sendHead === marks.length) {
      clearArray(marks);
      this.sendHead = 0;
    }
    if (n > 0) this.server.memory?.release('send', n, this.stream);
  }

  private releaseSend(): void {
    const marks = this.sendMarks;
    let n = 0;
    for (let i = this.sendHead; i < marks.length; i += 2) n += marks[i + 1];
    clearArray(marks);
    this.sendHead = 0;
    if (n > 0) this.server.memory?.release('send', n, this.stream);
  }

  // ---- input

  private append(buf: Buffer, off: number, len: number): void {
    let ib = this.ibuf;
    const have = this.iend - this.istart;
    if (ib === null || this.iend + len > ib.length) {
      const need = have + len;
      if (need > this.server.maxBufferedInput) {
        this.server.count('pipeline-overflow');
        this.abort();
        return;
      }
      if (ib !== null && need <= ib.length) {
        ib.copy(ib, 0, this.istart, this.iend);
      } else {
        const nb = Buffer.allocUnsafe(Math.max(4096, need + (need >> 1)));
        if (ib !== null) ib.copy(nb, 0, this.istart, this.iend);
        const mem = this.server.memory;
        if (mem !== undefined) {
          if (ib !== null) mem.release('pipelined', ib.length, this.stream);
          mem.charge('pipelined', nb.length, this.stream);
        }
        this.ibuf = ib = nb;
      }
      this.istart = 0;
      this.iend = have;
    }
    buf.copy(ib, this.iend, off, off + len);
    this.iend += len;
  }

  processBuffered(): void {
    if (this.processing || this.state !== OPEN || this.ibuf === null) return;
    const p = this.consume(this.ibuf, this.istart, this.iend);
    if (this.ibuf === null) return;
    this.istart = p;
    if (p >= this.iend) {
      this.istart = this.iend = 0;
      if (this.ibuf.length > 8192) this.dropInput(); // a big buffer is not kept once empty
    }
    this.flow();
  }

  private paused(): boolean {
    return this.queue.length >= this.server.limits.maxPipelineDepth || this.stream.queuedBytes >= this.server.pauseBytes;
  }

  /** Parses and dispatches as many requests as buf[start, end) holds; returns where it stopped. */
  private consume(buf: Buffer, start: number, end: number): number {
    this.processing = true;
    const now = this.server.now();
    const t = this.server.since(now);
    let p = start;
    try {
      while (p < end && this.state === OPEN) {
        if (this.skipBody > 0) {
          const n = Math.min(this.skipBody, end - p);
          p += n;
          this.skipBody -= n;
          if (this.skipBody === 0) this.headStart = 0;
          continue;
        }
        if (this.paused()) break;
        if (!this.gotHeadBytes) {
          while (p < end && (buf[p] === 13 || buf[p] === 10)) p++;
          if (p === end) break;
          if (this.headStart === 0) this.headStart = t;
          this.gotHeadBytes = true;
        }
        const n = this.scanner.scan(buf, p, end);
        if (n === 0) break;
        let req: ParseResult;
        if (n < 0) {
          req = this.scanner.failure!;
          p = end;
        } else {
          req = parseRequestHead(buf, p, n);
          p += n;
        }
        this.scanner.reset();
        this.gotHeadBytes = false;
        this.headStart = 0;
        this.idleSince = 0;
        this.server.handle(this, req, now);
        if (this.skipBody > 0 && this.headStart === 0) this.headStart = t;
      }
    } finally {
      this.processing = false;
    }
    return p;
  }

  // ---- output

  /** Writes a response now if nothing is ahead of it, else queues it. */
  respond(job: Job): void {
    if (this.queue.length === 0 && job.ready && job.fh === null) {
      this.writeJob(job);
      if (job.close) this.finish();
      return;
    }
    this.queue.push(job);
    if (job.ready && this.queue.length === 1) this.pump();
  }

  private writeJob(job: Job): void {
    const s = this.server;
    const head = job.head!;
    this.stream.write(head);
    let n = head.length;
    if (job.body !== null) {
      this.stream.write(job.body);
      n += job.body.length;
      job.body = null;
    }
    job.head = null;
    s.bytesSent += n;
    this.written += n;
    s.responses[(job.status / 100) | 0]++;
  }

  /** Sends every ready response at the head of the queue, in order. */
  pump(): void {
    if (this.pumping || this.state === CLOSED) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && this.state !== CLOSED && this.state !== ENDED) {
        const job = this.queue[0]!;
        if (!job.ready) break;
        if (job.head !== null) this.writeJob(job);
        if (job.fh !== null) {
          this.streamMore(job);
          if (job.fh !== null) break;
        }
        this.queue.shift();
        if (job.close) {
          this.finish();
          break;
        }
      }
    } finally {
      this.pumping = false;
    }
    if (this.queue.length === 0) {
      if (this.state === CLOSING) this.finish();
      else if (this.state === OPEN && this.iend > this.istart) this.processBuffered();
    }
    if (this.inputPaused) this.flow();
  }

  private streamMore(job: Job): void {
    const s = this.server;
    if (job.reading || job.fh === null || this.state === CLOSED) return;
    if (job.pos >= job.end) {
      closeQuietly(job);
      this.pump();
      return;
    }
    this.settleSend();
    const queued = this.stream.queuedBytes;
    if (queued >= s.streamHighWater) return; // onDrain resumes
    // Memory is short: one chunk in flight at a time (the sweep's safety net resumes us).
    if (queued > 0 && s.memory?.tight(this.stream) === true) return;
    const n = Math.min(s.streamChunk, job.end - job.pos);
    const chunk = Buffer.allocUnsafeSlow(n);
    const fh = job.fh;
    job.reading = true;
    fh.read(chunk, 0, n, job.pos).then(
      ({ bytesRead }) => {
        job.reading = false;
        if (this.state === CLOSED || this.state === ENDED) {
          closeQuietly(job);
          return;
        }
        if (bytesRead === 0) {
          // the file shrank under us: the promised Content-Length cannot be met
          s.count('io-error');
          closeQuietly(job);
          this.abort();
          return;
        }
        this.stream.write(bytesRead === n ? chunk : chunk.subarray(0, bytesRead));
        s.bytesSent += bytesRead;
        this.written += bytesRead;
        // The chunk's memory is pinned until the peer has acknowledged its last byte.
        s.memory?.charge('send', n, this.stream);
        this.sendMarks.push(this.written, n);
        job.pos += bytesRead;
        this.streamMore(job);
      },
      () => {
        job.reading = false;
        s.count('io-error');
        closeQuietly(job);
        this.abort();
      },
    );
  }

  /** No more responses: FIN after what is queued. */
  finish(): void {
    if (this.state === ENDED || this.state === CLOSED) return;
    this.state = ENDED;
    this.endedAt = this.server.since(this.server.now());
    // The client asked to close and nothing it sent is unread: a full close, so that bytes it
    // still sends get a RST (RFC 9293 §3.6.1) instead of an ACK for data nobody reads. A close
    // the server decides lingers instead (RFC 9112 §9.6): a half close, and input read and
    // dropped, so that a RST cannot destroy a response the client has not read yet.
    const full = this.clientCloses && this.iend === this.istart && this.skipBody === 0 && !this.peerEnded;
    this.dropInput();
    for (const job of this.queue) if (job.fh !== null && !job.reading) closeQuietly(job);
    this.queue.length = 0;
    if (full && this.stream.close !== undefined) this.stream.close();
    else this.stream.end();
  }

  abort(): void {
    if (this.state === CLOSED) return;
    this.stream.abort();
    this.onClose();
  }

  /** Graceful shutdown: read no more requests; FIN once the responses already queued are sent. */
  drain(): void {
    if (this.state === OPEN) {
      this.state = CLOSING;
      this.dropInput();
    }
    if (this.state === CLOSING && this.queue.length === 0) this.finish();
  }
}

function closeQuietly(job: Job): void {
  const fh = job.fh;
  job.fh = null;
  if (fh !== null) fh.close().catch(() => undefined);
}
