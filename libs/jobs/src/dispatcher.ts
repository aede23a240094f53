import { type EventType, isEventType } from '@signet/domain';
import {
  type ConsumerStatus,
  type Db,
  ensureOutboxCursors,
  eventTypes,
  markOutboxJobsDone,
  outboxCursors,
  outboxStatus,
  pendingOutboxJobs,
  recordOutboxJobs,
} from '@signet/store';
import { type JobQueue, type JobRef, jobsOf, pairKey } from './queue.js';

/** What the dispatcher needs of a consumer: its name and the event types it acts on. */
export interface Subscription {
  readonly name: string;
  readonly types: ReadonlySet<EventType>;
}

export interface DispatcherOptions {
  readonly db: Db;
  readonly queue: JobQueue;
  readonly consumers: readonly Subscription[];
  /** How often to look for new events when not woken. */
  readonly pollMs: number;
  /** A pending job not done after this long is sent to the queue again (a lost job, a Redis restart). */
  readonly resendAfterMs: number;
  /** Events looked at per round. */
  readonly batch?: number;
  readonly onError?: (error: unknown) => void;
}

export type { ConsumerStatus } from '@signet/store';

/**
 * The outbox dispatcher. The events table is the outbox: per consumer, a cursor in the database
 * says how far the log has been looked at. Each round reads the events past the slowest cursor,
 * records a job row for every (consumer, event) the consumer wants and moves the cursors — in one
 * transaction — and only then adds the jobs to the queue: per consumer, one job for the events
 * of the round (`jobsOf`). So a crash or restart at any point loses nothing (the rows are pending
 * and are sent again) and doubles nothing (a job's id names its seqs, a resend leaves out what
 * the queue still holds, and outcomes can enter the log once).
 */
export class OutboxDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private lastResend = 0;
  /** No cursor of this dispatcher's consumers is before this seq (as last read or moved here). */
  private from = 0;
  private readonly byName: Map<string, Subscription>;
  private readonly marks: { consumer: string; seq: number }[] = [];
  private marking: Promise<void> | null = null;

  constructor(private readonly options: DispatcherOptions) {
    this.byName = new Map(options.consumers.map((c) => [c.name, c]));
  }

  /** Starts following the log; everything still pending is sent to the queue first. */
  async start(): Promise<void> {
    await this.ensureCursors();
    await this.resend(0).catch((error) => this.options.onError?.(error));
    this.schedule(0);
  }

  /** Look now (this process just appended). */
  poke(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.round()
        .catch((error) => this.options.onError?.(error))
        .finally(() => {
          this.running = null;
          const again = this.again;
          this.again = false;
          this.schedule(again ? 0 : this.options.pollMs);
        });
    }, ms);
    this.timer.unref?.();
  }

  private async ensureCursors(): Promise<void> {
    await ensureOutboxCursors(
      this.options.db,
      this.options.consumers.map((c) => c.name),
    );
  }

  /** One round: dispatch everything new (page by page), then resend stale pending jobs now and then. */
  async round(): Promise<void> {
    while (!this.stopped && (await this.dispatchPage())) {}
    if (Date.now() - this.lastResend >= Math.min(this.options.resendAfterMs, 5000))
      await this.resend(this.options.resendAfterMs);
  }

  /** Dispatches one page of new events; true when there may be more. */
  private async dispatchPage(): Promise<boolean> {
    const db = this.options.db;
    const batch = this.options.batch ?? 1000;
    // The cursors and the events are read at once: the events from where this dispatcher last
    // left the cursors (they only move on), the cursors to see what another process moved since.
    const from = this.from;
    const [cursors, read] = await Promise.all([outboxCursors(db), eventTypes(db, from, batch)]);
    const next = new Map([...cursors].filter(([consumer]) => this.byName.has(consumer)));
    if (next.size === 0) return false;
    const slowest = Math.min(...next.values());
    this.from = Math.max(from, slowest);
    // What every cursor passed already (another process dispatched it) is left out; a cursor
    // behind what was read (not seen here before) has its events read again.
    const page = slowest < from ? await eventTypes(db, slowest, batch) : read;
    const events = page.filter((e) => e.seq >= slowest);
    if (events.length === 0) return page.length === batch;
    const to = events[events.length - 1]!.seq + 1;
    const pairs: { consumer: string; seq: number }[] = [];
    for (const e of events) {
      const type = e.type;
      if (!isEventType(type)) continue;
      for (const [name, cursor] of next) {
        if (e.seq >= cursor && this.byName.get(name)!.types.has(type)) pairs.push({ consumer: name, seq: e.seq });
      }
    }
    const fresh = await recordOutboxJobs(db, pairs, [...next.keys()], to, new Date());
    this.from = Math.max(this.from, to);
    try {
      await this.options.queue.enqueue(jobsOf(fresh));
    } catch (error) {
      // The queue is away (Redis down): the rows stay pending and are sent again later.
      this.options.onError?.(error);
    }
    return page.length === batch;
  }

  /**
   * Sends the pending (consumer, event) pairs older than `olderThanMs` to the queue again, but
   * those a job in the queue holds (waiting, delayed or running); returns how many were sent.
   */
  async resend(olderThanMs: number): Promise<number> {
    this.lastResend = Date.now();
    const rows = await pendingOutboxJobs(this.options.db, new Date(Date.now() - olderThanMs), 5000);
    let pairs = rows.filter((r) => this.byName.has(r.consumer));
    if (pairs.length === 0) return 0;
    const held = await this.options.queue.holding();
    pairs = pairs.filter((r) => !held.has(pairKey(r.consumer, r.seq)));
    if (pairs.length === 0) return 0;
    await this.options.queue.enqueue(jobsOf(pairs), { resend: true });
    return pairs.length;
  }

  /**
   * Marks a job's events done for its consumer (their outcomes are in the log, or there was
   * nothing to do). The marks of jobs finishing together are written in one statement; a mark
   * lost to a crash only makes the job run again, and finding its outcomes recorded, do nothing.
   */
  done(job: JobRef): Promise<void> {
    for (const seq of job.seqs) this.marks.push({ consumer: job.consumer, seq });
    this.marking ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      const jobs = this.marks.splice(0);
      this.marking = null;
      await markOutboxJobsDone(this.options.db, jobs, new Date());
    });
    return this.marking;
  }

  async status(): Promise<ConsumerStatus[]> {
    return (await outboxStatus(this.options.db)).filter((c) => this.byName.has(c.consumer));
  }
}

export { outboxStatus };
