import {
  type Attempt,
  type JobHandler,
  type JobQueue,
  type JobRef,
  PermanentJobError,
  type Periodic,
  type JobPolicy,
  backoffDelay,
  jobId,
} from './queue.js';

interface Entry {
  readonly job: JobRef;
  attempt: number;
  timer: NodeJS.Timeout | null;
  failed: boolean;
}

/**
 * The queue inside the process, for the embedded default (no Redis): the same ids, retries with
 * backoff, delays and periodic tasks. Jobs live in memory; what is pending is kept by the outbox
 * in the database, which sends it again after a restart.
 */
export class InProcessQueue implements JobQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly ready: Entry[] = [];
  private readonly intervals: NodeJS.Timeout[] = [];
  private handler: JobHandler | null = null;
  private running = 0;
  private closed = false;
  private idle: (() => void) | null = null;

  constructor(
    private readonly retry: (consumer: string) => JobPolicy,
    private readonly concurrency = 8,
    private readonly onError: (job: JobRef, error: unknown) => void = () => {},
  ) {}

  async notReady(): Promise<string | null> {
    return this.closed ? 'the queue is closed' : null;
  }

  async enqueue(jobs: readonly JobRef[], options: { resend?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    for (const job of jobs) {
      const id = jobId(job);
      const existing = this.entries.get(id);
      if (existing && !(existing.failed && options.resend)) continue;
      const entry: Entry = { job, attempt: 0, timer: null, failed: false };
      this.entries.set(id, entry);
      this.push(entry);
    }
    this.pump();
  }

  async start(handler: JobHandler, periodic: readonly Periodic[]): Promise<void> {
    this.handler = handler;
    for (const p of periodic) {
      let busy = false;
      const timer = setInterval(() => {
        if (busy || this.closed) return;
        busy = true;
        p.run()
          .catch(() => {})
          .finally(() => (busy = false));
      }, p.everyMs);
      timer.unref();
      this.intervals.push(timer);
    }
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.intervals) clearInterval(t);
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
    this.ready.length = 0;
    if (this.running > 0) await new Promise<void>((resolve) => (this.idle = resolve));
  }

  private later(entry: Entry, ms: number): void {
    entry.timer = setTimeout(
      () => {
        entry.timer = null;
        this.push(entry);
        this.pump();
      },
      Math.min(ms, 2 ** 31 - 1),
    );
    entry.timer.unref();
  }

  /** Into the ready list after the jobs of its priority or a higher one (stable, as BullMQ's). */
  private push(entry: Entry): void {
    const priority = this.retry(entry.job.consumer).priority;
    let at = this.ready.length;
    while (at > 0 && this.retry(this.ready[at - 1]!.job.consumer).priority > priority) at--;
    this.ready.splice(at, 0, entry);
  }

  private pump(): void {
    while (this.handler && !this.closed && this.running < this.concurrency && this.ready.length > 0) {
      const entry = this.ready.shift()!;
      void this.run(entry, this.handler);
    }
  }

  private async run(entry: Entry, handler: JobHandler): Promise<void> {
    this.running++;
    const policy = this.retry(entry.job.consumer);
    entry.attempt++;
    const attempt: Attempt = { number: entry.attempt, of: policy.attempts, final: entry.attempt >= policy.attempts };
    try {
      const result = await handler(entry.job, attempt);
      if (result?.retryInMs !== undefined) {
        entry.attempt = 0;
        this.later(entry, result.retryInMs);
      } else {
        // Completed: its id stays known for a while (as BullMQ keeps completed jobs), so a
        // resend from the outbox racing with the completion does not run it again.
        const timer = setTimeout(() => this.entries.delete(jobId(entry.job)), 60_000);
        timer.unref();
      }
    } catch (error) {
      this.onError(entry.job, error);
      if (attempt.final || error instanceof PermanentJobError) entry.failed = true;
      else if (!this.closed) this.later(entry, backoffDelay(policy, entry.attempt));
    } finally {
      this.running--;
      if (this.running === 0 && this.idle) this.idle();
      this.pump();
    }
  }
}
