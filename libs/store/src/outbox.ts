import { sql } from 'kysely';
import type { Db } from './connect.js';
import { toNumber } from './database.js';

// The outbox's tables (migrations/0002): a cursor per consumer, and a row per (consumer, event)
// to act on, pending until done. Every bigint read here goes through toNumber.

/** One (consumer, event) to act on. */
export interface OutboxJob {
  readonly consumer: string;
  readonly seq: number;
}

export interface ConsumerStatus {
  readonly consumer: string;
  /** The first seq the dispatcher has not looked at. */
  readonly nextSeq: number;
  readonly pending: number;
  readonly oldestPendingSeq: number | null;
}

/** Creates the cursors of consumers seen for the first time, at the start of the log. */
export async function ensureOutboxCursors(db: Db, consumers: readonly string[]): Promise<void> {
  if (consumers.length === 0) return;
  const rows = consumers.map((consumer) => ({ consumer, next_seq: 0 }));
  await db.db
    .insertInto('outbox_cursors')
    .values(rows)
    .onConflict((oc) => oc.column('consumer').doNothing())
    .execute();
}

/** Every consumer's cursor: the first seq it has not looked at. */
export async function outboxCursors(db: Db): Promise<Map<string, number>> {
  const rows = await db.db.selectFrom('outbox_cursors').select(['consumer', 'next_seq']).execute();
  return new Map(rows.map((r) => [r.consumer, toNumber(r.next_seq)]));
}

/** The seq and type of the events in [from, from + limit), in order. */
export async function eventTypes(db: Db, from: number, limit: number): Promise<{ seq: number; type: string }[]> {
  const rows = await db.db
    .selectFrom('events')
    .select(['seq', 'type'])
    .where('seq', '>=', from)
    .where('seq', '<', from + limit)
    .orderBy('seq')
    .execute();
  return rows.map((r) => ({ seq: toNumber(r.seq), type: r.type }));
}

/**
 * At once (one statement, so one transaction and one round trip): records `jobs` as pending (a
 * job already recorded is left as it is) and moves the cursors of `consumers` to at least `to`.
 * Returns the jobs recorded now.
 */
export async function recordOutboxJobs(
  db: Db,
  jobs: readonly OutboxJob[],
  consumers: readonly string[],
  to: number,
  now: Date,
): Promise<OutboxJob[]> {
  const move =
    consumers.length === 0
      ? sql`select null`
      : sql`update outbox_cursors set next_seq = greatest(next_seq, ${to}::bigint)
            where consumer in (${sql.join(consumers)}) returning consumer`;
  const record =
    jobs.length === 0
      ? sql`select null::text as consumer, null::bigint as seq where false`
      : sql`insert into outbox_jobs (consumer, seq, enqueued_at, done_at)
            values ${sql.join(jobs.map((j) => sql`(${j.consumer}, ${j.seq}::bigint, ${now}, null)`))}
            on conflict (consumer, seq) do nothing returning consumer, seq`;
  const { rows } = await sql<{ consumer: string; seq: number | string | bigint }>`
    with moved as (${move}), recorded as (${record}) select consumer, seq from recorded`.execute(db.db);
  return rows.map((r) => ({ consumer: r.consumer, seq: toNumber(r.seq) }));
}

/** Pending jobs recorded (or last sent) at or before `cutoff`, oldest first. */
export async function pendingOutboxJobs(db: Db, cutoff: Date, limit: number): Promise<OutboxJob[]> {
  const rows = await db.db
    .selectFrom('outbox_jobs')
    .select(['consumer', 'seq'])
    .where('done_at', 'is', null)
    .where('enqueued_at', '<=', cutoff)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ consumer: r.consumer, seq: toNumber(r.seq) }));
}

/** Marks jobs done, in one statement. */
export async function markOutboxJobsDone(db: Db, jobs: readonly OutboxJob[], at: Date): Promise<void> {
  if (jobs.length === 0) return;
  const pairs = sql.join(jobs.map((j) => sql`(${j.consumer}::text, ${j.seq}::bigint)`));
  await db.db
    .updateTable('outbox_jobs')
    .set({ done_at: at })
    .where(sql<boolean>`(consumer, seq) in (${pairs})`)
    .where('done_at', 'is', null)
    .execute();
}

/** Every consumer's cursor and pending jobs, as the database has them (any process may ask). */
export async function outboxStatus(db: Db): Promise<ConsumerStatus[]> {
  const cursors = await outboxCursors(db);
  const pending = await db.db
    .selectFrom('outbox_jobs')
    .select([
      'consumer',
      (eb) => eb.fn.countAll<number | string>().as('pending'),
      (eb) => eb.fn.min('seq').as('oldest'),
    ])
    .where('done_at', 'is', null)
    .groupBy('consumer')
    .execute();
  const byConsumer = new Map(pending.map((p) => [p.consumer, p]));
  return [...cursors]
    .map(([consumer, nextSeq]) => {
      const p = byConsumer.get(consumer);
      const oldest = p?.oldest == null ? null : toNumber(p.oldest as number | string | bigint);
      return { consumer, nextSeq, pending: p ? toNumber(p.pending) : 0, oldestPendingSeq: oldest };
    })
    .sort((a, b) => a.consumer.localeCompare(b.consumer));
}
