import { sql } from 'kysely';
import {
  type Clock,
  DomainError,
  InfrastructureError,
  type EventDraft,
  type EventEnvelope,
  type PreparedEvent,
  outcomeKey,
  prepareEvent,
} from '@signet/domain';
import {
  type Hash,
  type NoteSigner,
  appendLeaves,
  foldRange,
  hashesEqual,
  leafHash,
  rootNodes,
  signCheckpoint,
} from '@signet/tlog';
import { type Db, PREPARED } from './connect.js';
import { readCheckedHead, readNodes } from './reader.js';
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
  /** How many requests the batch answers (for the batch metrics). */
  readonly requests?: number;
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

interface Head {
  readonly size: number;
  readonly root: Hash;
  /** The signed checkpoint of this head. */
  readonly note: string;
  readonly recordedAt: number;
  /** Hashes of `rootNodes(size)`, left to right. */
  readonly frontier: readonly Hash[];
}

/** Tries before giving up when other writers keep moving the head (an unconditional append only). */
const MAX_ATTEMPTS = 100;

/**
 * The log's one transactional append. `append` writes a batch of events, every tree node they
 * complete and the new signed checkpoint in one statement and one transaction holding the log
 * lock (migrations/0005_packed_append.ts, signet_append_packed) — all of it or none. Batching many requests into
 * one append is the sequencer's job (libs/service); here, appends of this process run one at a
 * time, each on the head this process last wrote (re-read only when another process moved it).
 */
export class LogWriter {
  private closed = false;
  /** The append in flight, if any: the next one starts when it settles. */
  private tail: Promise<unknown> = Promise.resolve();
  /** The head as this process last saw or wrote it. */
  private head: Head | null = null;
  private readonly maxBatch: number;

  constructor(private readonly options: LogWriterOptions) {
    this.maxBatch = options.maxBatch ?? 1000;
  }

  /** Most events one append takes. */
  get maxEvents(): number {
    return this.maxBatch;
  }

  /**
   * Appends the drafts contiguously and resolves with their envelopes once committed. With
   * `expectedSize`, only on a log of exactly that size (LOG_SIZE_CHANGED otherwise, nothing
   * written); without, at the head, whatever it is.
   */
  append(drafts: readonly EventDraft[], options: AppendOptions = {}): Promise<EventEnvelope[]> {
    if (this.closed)
      return Promise.reject(
        new InfrastructureError(
          'LOG_CLOSED',
          'the log is shutting down and takes no more appends; retry against another instance',
        ),
      );
    if (drafts.length === 0) return Promise.resolve([]);
    if (drafts.length > this.maxBatch)
      return Promise.reject(
        new DomainError('BATCH_TOO_LARGE', `at most ${this.maxBatch} events can be appended at once`),
      );
    let events: PreparedEvent[];
    try {
      events = drafts.map(prepareEvent);
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.tail.then(() => this.write(events, options));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Stops taking appends and resolves once the one in flight settled. */
  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
  }

  private async write(prepared: readonly PreparedEvent[], options: AppendOptions): Promise<EventEnvelope[]> {
    const started = performance.now();
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const cached = this.head !== null;
        const head = this.head ?? (this.head = await this.readHead());
        const moved =
          (options.expectedSize !== undefined && options.expectedSize !== head.size) ||
          (options.recordedAt !== undefined && options.recordedAt.getTime() < head.recordedAt);
        if (moved) {
          // A refusal must rest on the database's head, not on what this process last saw.
          this.head = null;
          if (cached) continue;
          throw new DomainError(
            'LOG_SIZE_CHANGED',
            `the log moved on since the decision (size ${head.size}, expected ${options.expectedSize ?? '?'}); decide again on the current state`,
          );
        }
        const written = await this.tryWrite(head, prepared, options);
        if (written) {
          this.options.onBatch?.({
            events: written.length,
            requests: options.requests ?? 1,
            treeSize: this.head!.size,
            millis: performance.now() - started,
          });
          return written;
        }
        this.head = null;
      }
    } catch (error) {
      this.head = null;
      throw error;
    }
    throw new InfrastructureError('LOG_BUSY', 'other writers kept moving the log head; retry the append');
  }

  /** One statement on `head`: the envelopes when committed, null when another writer moved the head first. */
  private async tryWrite(
    head: Head,
    prepared: readonly PreparedEvent[],
    options: AppendOptions,
  ): Promise<EventEnvelope[] | null> {
    // The log's time never runs backwards, even if the host clock does.
    const recordedAt = options.recordedAt ?? new Date(Math.max(this.options.clock.now().getTime(), head.recordedAt));
    const iso = recordedAt.toISOString();
    // The batch's leaves sealed one after another into one buffer: the packed bytea sent as is.
    const lengths = prepared.map((p, i) => p.sealedLength(head.size + i, iso));
    const entries = Buffer.allocUnsafe(lengths.reduce((sum, n) => sum + n, 0));
    const envelopes: EventEnvelope[] = [];
    const types: string[] = [];
    const streams: string[] = [];
    const actors: string[] = [];
    const leaves: Hash[] = [];
    const outcomes: (string | null)[] = [];
    let offset = 0;
    for (let i = 0; i < prepared.length; i++) {
      const envelope = prepared[i]!.sealInto(head.size + i, iso, entries, offset);
      envelopes.push(envelope);
      types.push(envelope.type);
      streams.push(envelope.stream);
      actors.push(envelope.actor);
      leaves.push(leafHash(entries.subarray(offset, offset + lengths[i]!)));
      outcomes.push(envelope.actor === 'log' ? outcomeKey(envelope.type, envelope.data) : null);
      offset += lengths[i]!;
    }
    const grown = appendLeaves(head.size, head.frontier, leaves);
    const note = signCheckpoint(
      { origin: this.options.origin, size: grown.size, root: grown.root, extensions: [] },
      this.options.signer,
    );
    // Level 0 (the leaf hashes) goes into the events rows; the rest into tree_nodes. Byte strings
    // go packed, one bytea each (binary on the wire; see migrations/0005_packed_append.ts).
    const inner = grown.newNodes.filter((n) => n.level > 0);
    const result = await sql<{ appended: boolean }>`${sql.raw(PREPARED)}
      SELECT * FROM signet_append_packed(
        ${SEQUENCER_LOCK}::bigint, ${head.size}::bigint, ${head.root}::bytea, ${recordedAt}::timestamptz,
        ${types}::text[], ${streams}::text[], ${actors}::text[], ${entries}::bytea, ${lengths}::integer[],
        ${Buffer.concat(leaves)}::bytea, ${outcomes}::text[],
        ${inner.map((n) => n.level)}::smallint[], ${inner.map((n) => String(n.index))}::bigint[],
        ${Buffer.concat(inner.map((n) => n.hash))}::bytea,
        ${grown.size}::bigint, ${grown.root}::bytea, ${note}::text)`.execute(this.options.db.db);
    if (!result.rows[0]!.appended) return null;
    const next = {
      size: grown.size,
      root: grown.root,
      note,
      recordedAt: recordedAt.getTime(),
      frontier: grown.frontier,
    };
    this.head = next;
    // Committed on the head checked when it was read, so it extends the watermark. The file is
    // written in the background: a read of the head that serves its note waits for it.
    this.options.watermark?.raise(next);
    return envelopes;
  }

  /**
   * The head and its right frontier, read from the database (no lock needed: it is checked on
   * write), and checked against the watermark: a rolled-back log is never extended.
   */
  private async readHead(): Promise<Head> {
    const db = this.options.db.db;
    const checked = await readCheckedHead(db, this.options.watermark);
    const head = checked && { ...checked, recordedAt: checked.recordedAt.getTime() };
    if (!head) return { size: 0, root: foldRange([]), note: '', recordedAt: 0, frontier: [] };
    const ids = rootNodes(head.size);
    const found = await readNodes(db, ids);
    const frontier = ids.map((id) => {
      const h = found.get(`${id.level}/${id.index}`);
      if (!h) throw new Error(`the stored tree is missing node ${id.level}/${id.index} of size ${head.size}`);
      return h;
    });
    if (!hashesEqual(foldRange(frontier), head.root))
      throw new Error(`the stored tree does not match the checkpoint of size ${head.size}`);
    return { ...head, frontier };
  }
}
