/** Client side of the CLI socket protocol (see cli-server.ts). */
import { createConnection, type Socket } from 'node:net';

export interface CliReply {
  ok: boolean;
  output: string;
}

export class CliClient {
  private buffer = '';
  private waiting: Array<(reply: CliReply) => void> = [];
  private closedError: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\0')) >= 0 && this.buffer.length >= end + 3) {
        const output = this.buffer.slice(0, end);
        const ok = this.buffer[end + 1] === '0';
        this.buffer = this.buffer.slice(end + 3);
        this.waiting.shift()?.({ ok, output });
      }
    });
    socket.on('close', () => {
      this.closedError = new Error('the dataplane closed the CLI connection');
      for (const w of this.waiting.splice(0)) w({ ok: false, output: this.closedError.message });
    });
  }

  static connect(path: string, timeoutMs = 5000): Promise<CliClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`timed out connecting to ${path}`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new CliClient(socket));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const hint =
          err.code === 'ENOENT'
            ? 'no such socket: is the dataplane running, and is this its cli-listen path?'
            : err.code === 'ECONNREFUSED'
              ? 'nothing listens there (a stale socket from a dataplane that stopped?)'
              : err.code === 'EACCES'
                ? 'permission denied: run as the dataplane user or root'
                : err.message;
        const e = new Error(`cannot connect to ${path}: ${hint}`);
        (e as NodeJS.ErrnoException).code = err.code;
        reject(e);
      });
    });
  }

  run(line: string): Promise<CliReply> {
    if (this.closedError !== null) return Promise.resolve({ ok: false, output: this.closedError.message });
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.socket.write(`${line.replace(/\n/g, ' ')}\n`);
    });
  }

  close(): void {
    this.socket.end();
  }
}
