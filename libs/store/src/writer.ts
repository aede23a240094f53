import { sql } from 'kysely';
import { type Clock, DomainError, InfrastructureError, type EventDraft, type EventEnvelope, type PreparedEvent, outcomeKey, prepareEvent } from '@signet/domain';
import { type Hash, type NoteSigner, appendLeaves, foldRange, hashesEqual, leafHash, rootNodes, signCheckpoint } from '@signet/tlog';
import type { Db } from './connect.js';
import { toBytes, toNumber } from './database.js';
import { readNodes, storedRootAt } from './reader.js';
import type { CheckpointWatermark } from './watermark.js';

/** One lock for the whole log: whoever holds it is the sequencer (across processes too). */
const SEQUENCER_LOCK = 0x5349474e4554; // "SIGNET"

export interface AppendOptions {
  /** Append only if the log has exactly this many events when the batch runs. */
  readonly expectedSize?: number;
  /**
   * The time the events were decided at: they are recorded with exactly this time, so a replay
   * that takes `recordedAt` as the decision's clock decides the same. Refused (LOG_SIZE_CHANGED)
   * if the log's time has already passed it.
   */
  readonly recordedAt?: Date;
}

export interface BatchStats {
  readonly events: number;
  readonly requests: number;
  readonly treeSize: number;
  readonly millis: number;
}

export interface LogWriterOptions {
  readonly db: Db;
  readonly origin: string;
  readonly signer: NoteSigner;
  readonly clock: Clock;
  /** Most events committed in one transaction. */
  readonly maxBatch?: number;
  readonly onBatch?: (stats: BatchStats) => void;
  /** The largest tree the log signed: a head read from the database must contain it, and each commit raises it. */
  readonly watermark?: CheckpointWatermark;
}

interface Pending {
  readonly events: readonly PreparedEvent[];
  readonly options: AppendOptions;
  readonly resolve: (events: EventEnvelope[]) => void;
  readonly reject: (error: unknown) => void;
}

interface Head {
  readonly size: number;
  readonly root: Hash;
  /** The signed checkpoint of this head. */
  readonly note: string;
  readonly recordedAt: number;
  /** Hashes of `rootNodes(size)`, left to right. */
  readonly frontier: readonly Hash[];
}

interface Outcome {
  readonly accepted: Pending[];
  readonly refused: Pending[];
  readonly events: EventEnvelope[][];
  readonly head: Head;
}

/** Tries before giving up when other writers keep moving the head. */
const MAX_ATTEMPTS = 100;

/**
 * The sequencer. Appends from any number of callers are queued and committed in batches (group
 * commit): each batch is one statement, one transaction, holding the log lock, that writes the
 * events, every tree node they complete and the new signed checkpoint — all of a batch or none
 * of it (migrations/0001_log.ts, signet_append).
 */
export class LogWriter {
  private readonly queue: Pending[] = [];
  private inflight: Promise<void> | null = null;
  private closed = false;
  /** The head as this process last saw or wrote it. */
  private head: Head | null = null;
  private readonly maxBatch: number;

  constructor(private readonly options: LogWriterOptions) {
    this.maxBatch = options.maxBatch ?? 1000;
  }

  /** Appends the drafts contiguously and resolves with their envelopes once committed. */
  append(drafts: readonly EventDraft[], options: AppendOptions = {}): Promise<EventEnvelope[]> {
    if (this.closed) return Promise.reject(new InfrastructureError('LOG_CLOSED', 'the log is shutting down and takes no more appends; retry against another instance'));
    if (drafts.length === 0) return Promise.resolve([]);
    if (drafts.length > this.maxBatch) return Promise.reject(new DomainError('BATCH_TOO_LARGE', `at most ${this.maxBatch} events can be appended at once`));
    let events: PreparedEvent[];
    try {
      // Refuse a malformed or oversized event now, so it cannot fail the batch it would join.
      events = drafts.map(prepareEvent);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ events, options, resolve, reject });
      this.pump();
    });
  }

  /** Stops taking appends, commits everything already queued, then resolves. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.inflight) await this.inflight;
  }

  private pump(): void {
    if (this.inflight || this.queue.length === 0) return;
    const batch: Pending[] = [];
    let events = 0;
    while (this.queue.length > 0 && (batch.length === 0 || events + this.queue[0]!.events.length <= this.maxBatch)) {
      const next = this.queue.shift()!;
      batch.push(next);
      events += next.events.length;
    }
    this.inflight = this.commit(batch).finally(() => {
      this.inflight = null;
      this.pump();
    });
  }

  private async commit(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let outcome: Outcome;
    try {
      outcome = await this.write(batch);
    } catch (error) {
      this.head = null;
      for (const p of batch) p.reject(error);
      return;
    }
    const { accepted, refused, events, head } = outcome;
    accepted.forEach((p, i) => p.resolve(events[i]!));
    for (const p of refused) {
      p.reject(new DomainError('LOG_SIZE_CHANGED', `the log moved on since the decision (size ${p.options.expectedSize ?? '?'}); decide again on the current state`));
    }
    this.options.onBatch?.({ events: events.reduce((n, e) => n + e.length, 0), requests: accepted.length, treeSize: head.size, millis: performance.now() - started });
  }

  /**
   * Computes the batch on the head this process last saw (the common case: it is the only
   * writer) and sends it in one statement, which checks that head under the log lock. If
   * another writer moved the head, nothing was written: re-read and recompute.
   */
  private async write(batch: Pending[]): Promise<Outcome> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const cached = this.head !== null;
      const head = this.head ?? (this.head = await this.readHead());
      const plan = this.plan(head, batch);
      // A refusal must rest on the database's head, not on what this process last saw.
      if (cached && plan.refused.length > 0) {
        this.head = null;
        continue;
      }
      if (plan.entries.length === 0) return { ...plan, head };
      const { grown, recordedAt } = plan;
      const db = this.options.db;
      // Level 0 (the leaf hashes) goes into the events rows; the rest into tree_nodes.
      const inner = grown.newNodes.filter((n) => n.level > 0);
      const result = await sql<{ appended: boolean; tree_size: number | string | bigint | null; root_hash: Uint8Array | null; recorded_at: Date | null }>`
        SELECT * FROM signet_append(
          ${SEQUENCER_LOCK}::bigint, ${head.size}::bigint, ${head.root}::bytea, ${recordedAt}::timestamptz,
          ${plan.types}::text[], ${plan.streams}::text[], ${plan.actors}::text[], ${plan.entries}::bytea[], ${plan.leaves}::bytea[], ${plan.outcomes}::text[],
          ${inner.map((n) => n.level)}::smallint[], ${inner.map((n) => String(n.index))}::bigint[], ${inner.map((n) => n.hash)}::bytea[],
          ${grown.size}::bigint, ${grown.root}::bytea, ${plan.note}::text)`.execute(db.db);
      const row = result.rows[0]!;
      if (row.appended) {
        const next = { size: grown.size, root: grown.root, note: plan.note, recordedAt: recordedAt.getTime(), frontier: grown.frontier };
        this.head = next;
        // Committed on the head checked below, so it extends the watermark. The file is written
        // in the background: a read of the head that serves its note waits for it.
        this.options.watermark?.raise(next);
        return { accepted: plan.accepted, refused: plan.refused, events: plan.events, head: next };
      }
      this.head = null;
    }
    throw new InfrastructureError('LOG_BUSY', 'other writers kept moving the log head; retry the append');
  }

  /** Everything about a batch that can be computed before the database is asked. */
  private plan(head: Head, batch: Pending[]) {
    // The log's time never runs backwards, even if the host clock does. Requests that were
    // decided at a time are recorded at it (the latest of them, when a batch holds several).
    const decidedAt = batch.reduce((t, p) => Math.max(t, p.options.recordedAt?.getTime() ?? -Infinity), -Infinity);
    const recordedAt = new Date(Math.max(Number.isFinite(decidedAt) ? decidedAt : this.options.clock.now().getTime(), head.recordedAt));
    const accepted: Pending[] = [];
    const refused: Pending[] = [];
    const events: EventEnvelope[][] = [];
    const types: string[] = [];
    const streams: string[] = [];
    const actors: string[] = [];
    const entries: Uint8Array[] = [];
    const leaves: Hash[] = [];
    const outcomes: (string | null)[] = [];
    let size = head.size;
    // Appends decided on a given size go first: an unconditional append queued beside them
    // would otherwise move the log under them and send them back to be decided again.
    const ordered = [...batch.filter((p) => p.options.expectedSize !== undefined), ...batch.filter((p) => p.options.expectedSize === undefined)];
    for (const p of ordered) {
      const at = p.options.recordedAt?.getTime();
      if ((p.options.expectedSize !== undefined && p.options.expectedSize !== size) || (at !== undefined && at !== recordedAt.getTime())) {
        refused.push(p);
        continue;
      }
      const sealed = p.events.map((e) => e.seal(size++, recordedAt));
      accepted.push(p);
      events.push(sealed.map((s) => s.envelope));
      for (const { envelope, entry } of sealed) {
        types.push(envelope.type);
        streams.push(envelope.stream);
        actors.push(envelope.actor);
        entries.push(entry);
        leaves.push(leafHash(entry));
        outcomes.push(envelope.actor === 'log' ? outcomeKey(envelope.type, envelope.data) : null);
      }
    }
    const grown = appendLeaves(head.size, head.frontier, leaves);
    const note = entries.length === 0 ? '' : signCheckpoint({ origin: this.options.origin, size: grown.size, root: grown.root, extensions: [] }, this.options.signer);
    return { recordedAt, accepted, refused, events, types, streams, actors, entries, leaves, outcomes, grown, note };
  }

  /**
   * The head and its right frontier, read from the database (no lock needed: it is checked on
   * write), and checked against the watermark: a rolled-back log is never extended.
   */
  private async readHead(): Promise<Head> {
    const db = this.options.db.db;
    const mark = this.options.watermark?.current() ?? null;
    const row = await db.selectFrom('checkpoints').select(['tree_size', 'root_hash', 'note', 'recorded_at']).orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
    const head = row ? { size: toNumber(row.tree_size), root: toBytes(row.root_hash), note: row.note, recordedAt: new Date(row.recorded_at).getTime() } : null;
    await this.options.watermark?.check(head, (size) => storedRootAt(db, size), mark);
    if (!head) return { size: 0, root: foldRange([]), note: '', recordedAt: 0, frontier: [] };
    const ids = rootNodes(head.size);
    const found = await readNodes(db, ids);
    const frontier = ids.map((id) => {
      const h = found.get(`${id.level}/${id.index}`);
      if (!h) throw new Error(`the stored tree is missing node ${id.level}/${id.index} of size ${head.size}`);
      return h;
    });
    if (!hashesEqual(foldRange(frontier), head.root)) throw new Error(`the stored tree does not match the checkpoint of size ${head.size}`);
    return { ...head, frontier };
  }
}
