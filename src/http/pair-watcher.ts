/**
 * Watches a certificate/key pair for changes. A kubelet-updated Secret is a symlink swap in the
 * mount directory (`tls.crt -> ..data/tls.crt`, `..data -> ..2026_…` replaced by rename), so the
 * directories are watched (fs.watch, inotify), not the files; a change is reported after a short
 * quiet period so that the two files of one update are read together. A poll of the files'
 * identity (inode, size, mtime, ctime, after following symlinks) backs the watch up, for file
 * systems and swaps inotify does not report.
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';

export interface PairWatcherOptions {
  /** Quiet period after an event before onChange. Default 100 ms. */
  debounceMs?: number;
  /** Identity poll period; 0 = no poll. Default 1000 ms. */
  pollMs?: number;
}

/** The identity of the files as they are now ("" for a missing file). */
export function pairSignature(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const st = statSync(f);
        return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      } catch {
        return '';
      }
    })
    .join('|');
}

export class PairWatcher {
  private readonly watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;
  private signature: string;
  private closed = false;

  constructor(
    private readonly files: readonly string[],
    private readonly onChange: () => void,
    options: PairWatcherOptions = {},
  ) {
    const debounceMs = options.debounceMs ?? 100;
    const pollMs = options.pollMs ?? 1000;
    this.signature = pairSignature(files);
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      try {
        const w = watch(dir, { persistent: false }, () => this.schedule(debounceMs));
        w.on('error', () => undefined); // the directory went away: the poll goes on
        this.watchers.push(w);
      } catch {
        // not watchable (missing, or no inotify): the poll covers it
      }
    }
    if (pollMs > 0) {
      this.poll = setInterval(() => this.check(), pollMs);
      this.poll.unref();
    }
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.fire();
    }, ms);
    this.debounce.unref();
  }

  /** Compares the files' identity with the last one seen; reports a change. */
  check(): void {
    if (this.closed || this.debounce !== null) return;
    if (pairSignature(this.files) !== this.signature) this.fire();
  }

  private fire(): void {
    if (this.closed) return;
    this.signature = pairSignature(this.files);
    try {
      this.onChange();
    } catch {
      // The listener logs and counts what it refuses; nothing may escape a timer callback.
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
    if (this.debounce !== null) clearTimeout(this.debounce);
    if (this.poll !== null) clearInterval(this.poll);
  }
}
