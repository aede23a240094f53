import { constants, fstatSync, openSync, writeSync } from 'node:fs';

export interface LineWriterOptions {
  /** Bytes gathered before they are written at once (64 KiB). */
  readonly bufferBytes?: number;
  /** A line waits at most this long before it is written (10 ms). */
  readonly maxDelayMs?: number;
  /** Told how many lines were dropped while the reader was too far behind, once it reads again. */
  readonly onDropped?: (lines: number) => void;
}

/** How far a reader is let fall behind before new lines are dropped (and counted). */
const MAX_BACKLOG = 8 * 1024 * 1024;

/**
 * The same pipe as `fd`, opened again without blocking (Linux: /proc/self/fd), so that a reader
 * that falls behind makes writes fail with EAGAIN instead of stopping the event loop; the flags
 * of `fd` itself, shared with whoever started the process, are left alone. `fd` itself for a
 * file (its offset is shared with other writers of the descriptor), a socket, or another system.
 */
function nonBlocking(fd: number): number {
  if (process.platform !== 'linux') return fd;
  try {
    if (!fstatSync(fd).isFIFO()) return fd;
    return openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return fd;
  }
}

/** Waits without an event loop (at exit). */
const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Lines for stdout (or any descriptor), gathered into one buffer and written together: one
 * write(2) for the lines of up to 10 ms or 64 KiB, so that a line per request costs a copy into
 * memory, not a system call. Lines are written whole and in order. A reader that falls behind
 * never stops the process: what it cannot take yet waits (up to 8 MiB; lines beyond are dropped
 * and counted) and is tried again; at exit, everything waiting is written, waiting for the reader
 * (up to a few seconds), so a process that ends with a fatal line says why.
 */
export class LineWriter {
  private buffer: Buffer;
  private used = 0;
  /** Chunks the descriptor did not take yet, oldest first; the first from `offset`. */
  private readonly backlog: Buffer[] = [];
  private offset = 0;
  private backlogBytes = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly fd: number;
  private readonly maxDelayMs: number;
  private readonly onExit = () => this.flushAtExit();

  constructor(
    fd: number,
    private readonly options: LineWriterOptions = {},
  ) {
    this.fd = nonBlocking(fd);
    this.buffer = Buffer.allocUnsafe(options.bufferBytes ?? 64 * 1024);
    this.maxDelayMs = options.maxDelayMs ?? 10;
    process.on('exit', this.onExit);
  }

  /** A complete line, with its newline (pino's destination interface). */
  write(line: string): boolean {
    if (this.closed) return false;
    if (this.backlogBytes > MAX_BACKLOG) {
      this.dropped++;
      return false;
    }
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
    if (this.used + line.length * 3 > this.buffer.length) {
      this.flushSync();
      if (line.length * 3 > this.buffer.length) {
        this.queue(Buffer.from(line));
        this.drain();
        return true;
      }
    }
    this.used += this.buffer.write(line, this.used);
    this.schedule();
    return true;
  }

  /** Writes what is waiting, as far as the descriptor takes it now. */
  flushSync(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.closed) return;
    if (this.used > 0) {
      const chunk = this.buffer.subarray(0, this.used);
      if (this.backlog.length === 0) {
        const written = this.writeSome(chunk);
        // Whatever is left is copied: the buffer is filled again at once.
        if (written < chunk.length) this.queue(Buffer.from(chunk.subarray(written)));
      } else {
        this.queue(Buffer.from(chunk));
      }
      this.used = 0;
    }
    this.drain();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flushSync(), this.maxDelayMs);
    this.timer.unref();
  }

  private queue(chunk: Buffer): void {
    this.backlog.push(chunk);
    this.backlogBytes += chunk.length;
  }

  /** Writes backlogged chunks until the descriptor would block; then tries again later. */
  private drain(): void {
    while (this.backlog.length > 0 && !this.closed) {
      const head = this.backlog[0]!;
      const written = this.writeSome(head.subarray(this.offset));
      this.offset += written;
      this.backlogBytes -= written;
      if (this.offset < head.length) {
        if (!this.closed) this.schedule();
        return;
      }
      this.backlog.shift();
      this.offset = 0;
    }
    if (this.dropped > 0 && this.backlog.length === 0) {
      const dropped = this.dropped;
      this.dropped = 0;
      this.options.onDropped?.(dropped);
    }
  }

  /** Bytes the descriptor took now: all, some, or none when it would block. */
  private writeSome(bytes: Buffer): number {
    let offset = 0;
    try {
      while (offset < bytes.length) offset += writeSync(this.fd, bytes, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') {
        // EPIPE, EBADF …: nobody reads the lines any more.
        this.closed = true;
        process.off('exit', this.onExit);
      }
    }
    return offset;
  }

  /** At exit there is no later: everything waiting is written, waiting for the reader if it must. */
  private flushAtExit(): void {
    this.flushSync();
    for (let tries = 0; this.backlog.length > 0 && !this.closed && tries < 3000; tries++) {
      pause(1);
      this.drain();
    }
  }
}
