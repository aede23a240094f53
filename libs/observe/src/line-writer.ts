import { writeSync } from 'node:fs';

export interface LineWriterOptions {
  /** Written at once when this many characters are waiting. */
  readonly maxBuffered?: number;
  /** A line waits at most this long before it is written. */
  readonly maxDelayMs?: number;
}

/** Lines a reader that does not read (EAGAIN) is let fall behind by before new lines are dropped. */
const MAX_PENDING = 8 * 1024 * 1024;

/**
 * Lines for a file descriptor (stdout), gathered and written together: one write(2) for the lines
 * of up to `maxDelayMs` (10 ms) or `maxBuffered` characters (64 Ki), so that a line per request
 * costs a push, not a system call. Writes are synchronous, as Node's own stdout is on pipes and
 * files: lines are written in order, and what is waiting is written at exit, so a process that
 * ends with a fatal line says why. A descriptor that would block (EAGAIN) keeps its lines for the
 * next try; one that is gone (EPIPE) takes no more.
 */
export class LineWriter {
  private readonly lines: string[] = [];
  private buffered = 0;
  private timer: NodeJS.Timeout | null = null;
  private pending: Buffer | null = null;
  private closed = false;
  private readonly maxBuffered: number;
  private readonly maxDelayMs: number;
  private readonly onExit = () => this.flushSync();

  constructor(
    private readonly fd: number,
    options: LineWriterOptions = {},
  ) {
    this.maxBuffered = options.maxBuffered ?? 64 * 1024;
    this.maxDelayMs = options.maxDelayMs ?? 10;
    process.on('exit', this.onExit);
  }

  /** A complete line, with its newline (pino's destination interface). */
  write(line: string): boolean {
    if (this.closed || (this.pending && this.pending.length > MAX_PENDING)) return false;
    this.lines.push(line);
    this.buffered += line.length;
    if (this.buffered >= this.maxBuffered) this.flushSync();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flushSync(), this.maxDelayMs);
      this.timer.unref();
    }
    return true;
  }

  /** Writes everything waiting now. */
  flushSync(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.closed) return;
    if (this.lines.length > 0) {
      const text = Buffer.from(this.lines.join(''));
      this.lines.length = 0;
      this.buffered = 0;
      this.pending = this.pending ? Buffer.concat([this.pending, text]) : text;
    }
    let offset = 0;
    const pending = this.pending;
    if (!pending) return;
    try {
      while (offset < pending.length) offset += writeSync(this.fd, pending, offset);
      this.pending = null;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        // The reader is behind: keep what is left, and try again shortly.
        this.pending = pending.subarray(offset);
        this.timer = setTimeout(() => this.flushSync(), this.maxDelayMs);
        this.timer.unref();
      } else {
        // EPIPE, EBADF …: nobody reads the lines any more.
        this.pending = null;
        this.closed = true;
        process.off('exit', this.onExit);
      }
    }
  }
}
