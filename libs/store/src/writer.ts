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
import type { Db } from './connect.js';
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

/** A tree head as the writer knows it: one of the log's, or the one a sealed batch will leave. */
export type TreeHead = Head;

/**
 * Events given their seqs and time, hashed into the tree and the checkpoint signed, on a head
 * that is the log's or another batch's not yet committed: the statement, ready to send.
 */
export interface SealedBatch {
  /** The head it extends. */
  readonly base: TreeHead;
  /** The head it leaves. */
  readonly next: TreeHead;
  readonly envelopes: readonly EventEnvelope[];
  readonly requests: number;
  readonly types: readonly string[];
  readonly streams: readonly string[];
  readonly actors: readonly string[];
  readonly entries: Buffer;
  readonly lengths: readonly number[];
  readonly leaves: Buffer;
  readonly outcomes: readonly (string | null)[];
  readonly nodeLevels: readonly number[];
  readonly nodeIndexes: readonly string[];
  readonly nodeHashes: Buffer;
  readonly recordedAt: Date;
}

/** Tries before giving up when other writers keep moving the head (an unconditional append only). */
const MAX_ATTEMPTS = 100;

function sizeChanged(size: number, expected: number | undefined): DomainError {
  return new DomainError(
    'LOG_SIZE_CHANGED',
    `the log moved on since the decision (size ${size}, expected ${expected ?? '?'}); decide again on the current state`,
  );
}

function sameHead(a: Head, b: Head): boolean {
  return a === b || (a.size === b.size && (a.size === 0 || hashesEqual(a.root, b.root)));
}

/**
 * The log's one transactional append. `append` writes a batch of events, every tree node they
 * complete and the new signed checkpoint in one statement and one transaction holding the log
 * lock (migrations/0005_packed_append.ts, signet_append_packed) — all of it or none. Batching many requests into
 * one append is the sequencer's job (libs/service); here, appends of this process run one at a
 * time, each on the head this process last wrote (re-read only when another process moved it).
 *
 * The sequencer seals a batch (`seal`) while the one before it is still being written, on the
 * head that one will leave, and sends it (`commit`) once that one committed: the statement then
 * checks, under the lock, that the log's head is the one the batch extends.
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
   * Whether a statement runs beside this thread (a Postgres server), so that sealing the next
   * batch overlaps it; not on PGlite, whose statements run on this thread.
   */
  get overlaps(): boolean {
    return this.options.db.kind === 'postgres';
  }

  private refuseBatch(drafts: readonly EventDraft[]): Error | null {
    if (this.closed)
      return new InfrastructureError(
        'LOG_CLOSED',
        'the log is shutting down and takes no more appends; retry against another instance',
      );
    if (drafts.length > this.maxBatch)
      return new DomainError('BATCH_TOO_LARGE', `at most ${this.maxBatch} events can be appended at once`);
    return null;
  }

  /**
   * Appends the drafts contiguously and resolves with their envelopes once committed. With
   * `expectedSize`, only on a log of exactly that size (LOG_SIZE_CHANGED otherwise, nothing
   * written); without, at the head, whatever it is.
   */
  append(drafts: readonly EventDraft[], options: AppendOptions = {}): Promise<EventEnvelope[]> {
    const refused = this.refuseBatch(drafts);
    if (refused) return Promise.reject(refused);
    if (drafts.length === 0) return Promise.resolve([]);
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

  /**
   * Seals the drafts (at least one) on `on` — the head a batch sealed before and not yet
   * committed will leave — or, without it, on the log's head, which must be of `expectedSize`
   * (LOG_SIZE_CHANGED otherwise). Nothing is written: `commit` sends it.
   */
  async seal(
    drafts: readonly EventDraft[],
    options: { readonly expectedSize: number; readonly recordedAt: Date; readonly requests?: number },
    on?: TreeHead,
  ): Promise<SealedBatch> {
    const refused = this.refuseBatch(drafts);
    if (refused) throw refused;
    const prepared = drafts.map(prepareEvent);
    let head = on ?? this.head;
    const moved = (h: Head) => h.size !== options.expectedSize || options.recordedAt.getTime() < h.recordedAt;
    if (on && moved(on)) throw sizeChanged(on.size, options.expectedSize);
    if (!head || moved(head)) {
      // A refusal must rest on the database's head, not on what this process last saw.
      head = this.head = await this.readHead();
      if (moved(head)) throw sizeChanged(head.size, options.expectedSize);
    }
    return this.sealOn(head, prepared, options.recordedAt, options.requests ?? 1);
  }

  /**
   * Writes a sealed batch, after the appends before it: its envelopes once committed;
   * LOG_SIZE_CHANGED, nothing written, when the log's head is not the one it extends (the batch
   * it was sealed after failed, or another process appended).
   */
  commit(batch: SealedBatch): Promise<readonly EventEnvelope[]> {
    if (this.closed) return Promise.reject(this.refuseBatch([]));
    const run = this.tail.then(() => this.commitNow(batch));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Stops taking appends and resolves once the one in flight settled. */
  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
  }

  private async commitNow(batch: SealedBatch): Promise<readonly EventEnvelope[]> {
    const started = performance.now();
    try {
      if (!this.head || !sameHead(this.head, batch.base)) {
        this.head = await this.readHead();
        if (!sameHead(this.head, batch.base)) throw sizeChanged(this.head.size, batch.base.size);
      }
      if (!(await this.execute(batch)))
        throw new DomainError(
          'LOG_SIZE_CHANGED',
          `another process appended to the log first (expected size ${batch.base.size}); decide again on the current state`,
        );
      this.committed(batch, started);
      return batch.envelopes;
    } catch (error) {
      this.head = null;
      throw error;
    }
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
          throw sizeChanged(head.size, options.expectedSize);
        }
        // The log's time never runs backwards, even if the host clock does.
        const recordedAt =
          options.recordedAt ?? new Date(Math.max(this.options.clock.now().getTime(), head.recordedAt));
        const batch = this.sealOn(head, prepared, recordedAt, options.requests ?? 1);
        if (await this.execute(batch)) {
          this.committed(batch, started);
          return batch.envelopes as EventEnvelope[];
        }
        this.head = null;
      }
    } catch (error) {
      this.head = null;
      throw error;
    }
    throw new InfrastructureError('LOG_BUSY', 'other writers kept moving the log head; retry the append');
  }

  /** The batch's envelopes, leaves, tree nodes and signed checkpoint on `head`: computed, not written. */
  private sealOn(head: Head, prepared: readonly PreparedEvent[], recordedAt: Date, requests: number): SealedBatch {
    const n = prepared.length;
    const envelopes = new Array<EventEnvelope>(n);
    const types = new Array<string>(n);
    const streams = new Array<string>(n);
    const actors = new Array<string>(n);
    const entries = new Array<Uint8Array>(n);
    const lengths = new Array<number>(n);
    const leaves = new Array<Hash>(n);
    const outcomes = new Array<string | null>(n);
    for (let i = 0; i < n; i++) {
      const { envelope, entry } = prepared[i]!.seal(head.size + i, recordedAt);
      envelopes[i] = envelope;
      types[i] = envelope.type;
      streams[i] = envelope.stream;
      actors[i] = envelope.actor;
      entries[i] = entry;
      lengths[i] = entry.length;
      leaves[i] = leafHash(entry);
      outcomes[i] = envelope.actor === 'log' ? outcomeKey(envelope.type, envelope.data) : null;
    }
    const grown = appendLeaves(head.size, head.frontier, leaves);
    const note = signCheckpoint(
      { origin: this.options.origin, size: grown.size, root: grown.root, extensions: [] },
      this.options.signer,
    );
    // Level 0 (the leaf hashes) goes into the events rows; the rest into tree_nodes. Byte strings
    // go packed, one bytea each (binary on the wire; see migrations/0005_packed_append.ts).
    const inner = grown.newNodes.filter((node) => node.level > 0);
    return {
      base: head,
      next: { size: grown.size, root: grown.root, note, recordedAt: recordedAt.getTime(), frontier: grown.frontier },
      envelopes,
      requests,
      types,
      streams,
      actors,
      entries: Buffer.concat(entries),
      lengths,
      leaves: Buffer.concat(leaves),
      outcomes,
      nodeLevels: inner.map((node) => node.level),
      nodeIndexes: inner.map((node) => String(node.index)),
      nodeHashes: Buffer.concat(inner.map((node) => node.hash)),
      recordedAt,
    };
  }

  /** The one statement: true when committed, false when another writer moved the head first. */
  private async execute(b: SealedBatch): Promise<boolean> {
    const { base, next } = b;
    const result = await sql<{ appended: boolean }>`
      SELECT * FROM signet_append_packed(
        ${SEQUENCER_LOCK}::bigint, ${base.size}::bigint, ${base.root}::bytea, ${b.recordedAt}::timestamptz,
        ${b.types}::text[], ${b.streams}::text[], ${b.actors}::text[], ${b.entries}::bytea, ${b.lengths}::integer[],
        ${b.leaves}::bytea, ${b.outcomes}::text[],
        ${b.nodeLevels}::smallint[], ${b.nodeIndexes}::bigint[], ${b.nodeHashes}::bytea,
        ${next.size}::bigint, ${next.root}::bytea, ${next.note}::text)`.execute(this.options.db.db);
    return result.rows[0]!.appended;
  }

  /** The batch is in the log: its head is this process's, and the watermark's. */
  private committed(batch: SealedBatch, started: number): void {
    this.head = batch.next;
    // Committed on the head checked when it was read, so it extends the watermark. The file is
    // written in the background: a read of the head that serves its note waits for it.
    this.options.watermark?.raise(batch.next);
    this.options.onBatch?.({
      events: batch.envelopes.length,
      requests: batch.requests,
      treeSize: batch.next.size,
      millis: performance.now() - started,
    });
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
