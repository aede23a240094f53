import { sql } from 'kysely';
import { type EventType, isEventType } from '@signet/domain';
import type { Db } from '@signet/store';
import type { JobQueue, JobRef } from './queue.js';

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

export interface ConsumerStatus {
  readonly consumer: string;
  /** The first seq the dispatcher has not looked at. */
  readonly nextSeq: number;
  readonly pending: number;
  readonly oldestPendingSeq: number | null;
}

/**
 * The outbox dispatcher. The events table is the outbox: per consumer, a cursor in the database
 * says how far the log has been looked at. Each round reads the events past the slowest cursor,
 * records a job row for every (consumer, event) the consumer wants and moves the cursors — in one
 * transaction — and only then adds the jobs to the queue. So a crash or restart at any point
 * loses nothing (the rows are pending and are sent again) and doubles nothing (job ids are
 * `<consumer>-<seq>`, and outcomes can enter the log once).
 */
export class OutboxDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private lastResend = 0;
  private readonly byName: Map<string, Subscription>;

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
    const rows = this.options.consumers.map((c) => ({ consumer: c.name, next_seq: 0 }));
    if (rows.length > 0) await this.options.db.db.insertInto('outbox_cursors').values(rows).onConflict((oc) => oc.column('consumer').doNothing()).execute();
  }

  /** One round: dispatch everything new (page by page), then resend stale pending jobs now and then. */
  async round(): Promise<void> {
    while (!this.stopped && (await this.dispatchPage())) {}
    if (Date.now() - this.lastResend >= Math.min(this.options.resendAfterMs, 5000)) await this.resend(this.options.resendAfterMs);
  }

  /** Dispatches one page of new events; true when there may be more. */
  private async dispatchPage(): Promise<boolean> {
    const db = this.options.db.db;
    const batch = this.options.batch ?? 1000;
    const cursors = await db.selectFrom('outbox_cursors').select(['consumer', 'next_seq']).execute();
    const next = new Map(cursors.filter((c) => this.byName.has(c.consumer)).map((c) => [c.consumer, Number(c.next_seq)]));
    if (next.size === 0) return false;
    const from = Math.min(...next.values());
    const events = await db.selectFrom('events').select(['seq', 'type']).where('seq', '>=', from).where('seq', '<', from + batch).orderBy('seq').execute();
    if (events.length === 0) return false;
    const to = Number(events[events.length - 1]!.seq) + 1;
    const jobs: JobRef[] = [];
    for (const e of events) {
      const seq = Number(e.seq);
      const type = e.type;
      if (!isEventType(type)) continue;
      for (const [name, cursor] of next) {
        if (seq >= cursor && this.byName.get(name)!.types.has(type)) jobs.push({ consumer: name, seq });
      }
    }
    const now = new Date();
    const fresh = await db.transaction().execute(async (tx) => {
      const inserted = jobs.length === 0 ? [] : await tx
        .insertInto('outbox_jobs')
        .values(jobs.map((j) => ({ consumer: j.consumer, seq: j.seq, enqueued_at: now, done_at: null })))
        .onConflict((oc) => oc.columns(['consumer', 'seq']).doNothing())
        .returning(['consumer', 'seq'])
        .execute();
      await tx
        .updateTable('outbox_cursors')
        .set({ next_seq: sql`greatest(next_seq, ${to}::bigint)` as never })
        .where('consumer', 'in', [...next.keys()])
        .execute();
      return inserted.map((r) => ({ consumer: r.consumer, seq: Number(r.seq) }));
    });
    try {
      await this.options.queue.enqueue(fresh);
    } catch (error) {
      // The queue is away (Redis down): the rows stay pending and are sent again later.
      this.options.onError?.(error);
    }
    return events.length === batch;
  }

  /** Sends pending jobs older than `olderThanMs` to the queue again (ids keep this from doubling). */
  async resend(olderThanMs: number): Promise<number> {
    this.lastResend = Date.now();
    const db = this.options.db.db;
    const cutoff = new Date(Date.now() - olderThanMs);
    const rows = await db
      .selectFrom('outbox_jobs')
      .select(['consumer', 'seq'])
      .where('done_at', 'is', null)
      .where('enqueued_at', '<=', cutoff)
      .orderBy('seq')
      .limit(5000)
      .execute();
    const jobs = rows.filter((r) => this.byName.has(r.consumer)).map((r) => ({ consumer: r.consumer, seq: Number(r.seq) }));
    if (jobs.length === 0) return 0;
    await this.options.queue.enqueue(jobs, { resend: true });
    return jobs.length;
  }

  /** Marks a job done: its outcome is in the log, or there was nothing to do. */
  async done(job: JobRef): Promise<void> {
    await this.options.db.db.updateTable('outbox_jobs').set({ done_at: new Date() }).where('consumer', '=', job.consumer).where('seq', '=', job.seq).where('done_at', 'is', null).execute();
  }

  async status(): Promise<ConsumerStatus[]> {
    return (await outboxStatus(this.options.db)).filter((c) => this.byName.has(c.consumer));
  }
}

/** Every consumer's cursor and pending jobs, as the database has them (any process may ask). */
export async function outboxStatus(db: Db): Promise<ConsumerStatus[]> {
  const cursors = await db.db.selectFrom('outbox_cursors').select(['consumer', 'next_seq']).execute();
  const pending = await db.db
    .selectFrom('outbox_jobs')
    .select(['consumer', (eb) => eb.fn.countAll<number | string>().as('pending'), (eb) => eb.fn.min('seq').as('oldest')])
    .where('done_at', 'is', null)
    .groupBy('consumer')
    .execute();
  const byConsumer = new Map(pending.map((p) => [p.consumer, p]));
  return cursors
    .map((c) => {
      const p = byConsumer.get(c.consumer);
      return { consumer: c.consumer, nextSeq: Number(c.next_seq), pending: Number(p?.pending ?? 0), oldestPendingSeq: p?.oldest == null ? null : Number(p.oldest) };
    })
    .sort((a, b) => a.consumer.localeCompare(b.consumer));
}
