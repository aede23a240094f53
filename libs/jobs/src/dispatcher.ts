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
  /**
   * The committed event at a seq, when this process has it at hand (it appended or folded it
   * lately; the projection's `recent`): a round takes the events this process just appended from
   * here instead of reading them back, and reads the database for the others'.
   */
  readonly recent?: (seq: number) => { readonly seq: number; readonly type: string } | undefined;
  readonly onError?: (error: unknown) => void;
}

export type { ConsumerStatus } from '@signet/store';

/**
 * The outbox dispatcher. The events table is the outbox: per consumer, a cursor in the database
 * says how far the log has been looked at. Each round takes the events past the slowest cursor
 * (handed over by this process's appends, else read from the log), records a job row for every
 * (consumer, event) the consumer wants and moves the cursors — in one statement — and only then
 * adds the jobs to the queue: per consumer, one job for the events of the round (`jobsOf`). So
 * a crash or restart at any point loses nothing (the rows are pending and are sent again) and
 * doubles nothing (a job's id names its seqs, a resend leaves out what the queue still holds,
 * and outcomes can enter the log once).
 */
export class OutboxDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private lastResend = 0;
  /** No cursor of this dispatcher's consumers is before this seq (as last read or moved here). */
  private from = 0;
  /** The cursors were read once: `from` stands on them. */
  private cursorsRead = false;
  private lastRead = 0;
  /** The jobs of the rounds so far, sent to the queue one round after the other. */
  private sending: Promise<void> = Promise.resolve();
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
    await this.sending;
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

  /**
   * One round: dispatch everything new (page by page) — what this process appended as it hands
   * it over, and what the log has, read at most every `pollMs` while this process keeps
   * appending — then resend stale pending jobs now and then.
   */
  async round(): Promise<void> {
    while (!this.stopped && (await this.dispatchLocal())) {}
    if (Date.now() - this.lastRead >= this.options.pollMs) while (!this.stopped && (await this.dispatchPage())) {}
    if (Date.now() - this.lastResend >= Math.min(this.options.resendAfterMs, 5000))
      await this.resend(this.options.resendAfterMs);
  }

  /**
   * The events from `this.from` on that this process has at hand, in order without a gap: what
   * it just appended. Known cursors are at or past `this.from` (they only move on), and an event
   * that another process dispatched already is recorded once (the rows' key), so these need no
   * read of the cursors or the log.
   */
  private local(batch: number): { seq: number; type: string }[] {
    const recent = this.options.recent;
    const events: { seq: number; type: string }[] = [];
    if (!recent || !this.cursorsRead) return events;
    for (let seq = this.from; events.length < batch; seq++) {
      const e = recent(seq);
      if (!e) break;
      events.push({ seq, type: e.type });
    }
    return events;
  }

  /** Dispatches a page of the events this process has at hand; true when there were some. */
  private async dispatchLocal(): Promise<boolean> {
    const local = this.local(this.options.batch ?? 1000);
    if (local.length === 0) return false;
    await this.dispatch(local, new Map([...this.byName.keys()].map((name) => [name, this.from])));
    return true;
  }

  /** Dispatches one page of new events read from the log; true when there may be more. */
  private async dispatchPage(): Promise<boolean> {
    const db = this.options.db;
    const batch = this.options.batch ?? 1000;
    this.lastRead = Date.now();
    // The cursors and the events are read at once: the events from where this dispatcher last
    // left the cursors (they only move on), the cursors to see what another process moved since.
    const from = this.from;
    const [cursors, read] = await Promise.all([outboxCursors(db), eventTypes(db, from, batch)]);
    const next = new Map([...cursors].filter(([consumer]) => this.byName.has(consumer)));
    if (next.size === 0) return false;
    this.cursorsRead = true;
    const slowest = Math.min(...next.values());
    this.from = Math.max(from, slowest);
    // What every cursor passed already (another process dispatched it) is left out; a cursor
    // behind what was read (not seen here before) has its events read again.
    const page = slowest < from ? await eventTypes(db, slowest, batch) : read;
    const events = page.filter((e) => e.seq >= slowest);
    if (events.length === 0) return page.length === batch;
    await this.dispatch(events, next);
    return page.length === batch;
  }

  /**
   * Records the jobs of `events` for the consumers whose cursor (in `next`) is not past them,
   * moves those cursors past the events, and sends the jobs recorded now to the queue.
   */
  private async dispatch(events: readonly { seq: number; type: string }[], next: Map<string, number>): Promise<void> {
    const to = events[events.length - 1]!.seq + 1;
    const pairs: { consumer: string; seq: number }[] = [];
    for (const e of events) {
      const type = e.type;
      if (!isEventType(type)) continue;
      for (const [name, cursor] of next) {
        if (e.seq >= cursor && this.byName.get(name)!.types.has(type)) pairs.push({ consumer: name, seq: e.seq });
      }
    }
    const fresh = await recordOutboxJobs(this.options.db, pairs, [...next.keys()], to, new Date());
    this.from = Math.max(this.from, to);
    // Sent in order, while the next round goes on (a round need not wait for Redis's answer).
    const jobs = jobsOf(fresh);
    if (jobs.length === 0) return;
    this.sending = this.sending.then(() =>
      this.options.queue.enqueue(jobs).catch((error) => {
        // The queue is away (Redis down): the rows stay pending and are sent again later.
        this.options.onError?.(error);
      }),
    );
  }

  /**
   * Sends the pending (consumer, event) pairs older than `olderThanMs` to the queue again, but
   * those a job in the queue holds (waiting, delayed or running); returns how many were sent.
   */
  async resend(olderThanMs: number): Promise<number> {
    this.lastResend = Date.now();
    await this.sending; // what this process is sending is not to be sent again beside it
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
