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
  pairKey,
  runPeriodically,
} from './queue.js';

interface Entry {
  readonly job: JobRef;
  attempt: number;
  timer: NodeJS.Timeout | null;
  failed: boolean;
  completed: boolean;
}

/**
 * The queue inside the process, for the embedded default (no Redis): the same ids, retries with
 * backoff, delays and periodic tasks. Jobs live in memory; what is pending is kept by the outbox
 * in the database, which sends it again after a restart.
 */
export class InProcessQueue implements JobQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly ready = new ReadyList();
  private stopPeriodic: () => void = () => {};
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
      const entry: Entry = { job, attempt: 0, timer: null, failed: false, completed: false };
      this.entries.set(id, entry);
      this.push(entry);
    }
    this.pump();
  }

  async holding(): Promise<ReadonlySet<string>> {
    const held = new Set<string>();
    for (const { job, failed, completed } of this.entries.values())
      if (!failed && !completed) for (const seq of job.seqs) held.add(pairKey(job.consumer, seq));
    return held;
  }

  async start(handler: JobHandler, periodic: readonly Periodic[]): Promise<void> {
    this.handler = handler;
    this.stopPeriodic = runPeriodically(periodic);
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopPeriodic();
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
    this.ready.clear();
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
    this.ready.push(entry, this.retry(entry.job.consumer).priority);
  }

  private pump(): void {
    while (this.handler && !this.closed && this.running < this.concurrency && this.ready.size > 0) {
      void this.run(this.ready.take()!, this.handler);
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
        entry.completed = true;
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

/**
 * Ready jobs, first by priority (lower first), then in the order they became ready: one FIFO per
 * priority, so a backlog of thousands costs O(1) a job, not a scan and a splice of the list.
 */
class ReadyList {
  private readonly queues = new Map<number, { items: Entry[]; head: number }>();
  /** The priorities that have a queue, ascending (a handful: one per kind of consumer). */
  private priorities: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(entry: Entry, priority: number): void {
    let queue = this.queues.get(priority);
    if (!queue) {
      queue = { items: [], head: 0 };
      this.queues.set(priority, queue);
      this.priorities = [...this.priorities, priority].sort((a, b) => a - b);
    }
    queue.items.push(entry);
    this.count++;
  }

  take(): Entry | undefined {
    for (const priority of this.priorities) {
      const queue = this.queues.get(priority)!;
      if (queue.head === queue.items.length) continue;
      const entry = queue.items[queue.head++]!;
      if (queue.head === queue.items.length) {
        queue.items = [];
        queue.head = 0;
      } else if (queue.head >= 1024 && queue.head * 2 >= queue.items.length) {
        queue.items = queue.items.slice(queue.head);
        queue.head = 0;
      }
      this.count--;
      return entry;
    }
    return undefined;
  }

  clear(): void {
    this.queues.clear();
    this.priorities = [];
    this.count = 0;
  }
}
