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
  /**
   * The events were decided on the state the appends in flight will leave, not on a state in the
   * log: this is `sentHead` as it was then. They are appended right behind those appends, on
   * exactly the head they make, or not at all (LOG_SIZE_CHANGED: decide again). The log's size
   * alone would not tell: if those appends fail, others of the same length may take their place.
   */
  readonly behind?: object;
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

/** An append decided behind others that cannot be written right behind them. */
function notBehind(): Promise<never> {
  return Promise.reject(
    new DomainError(
      'LOG_SIZE_CHANGED',
      'the appends this one was decided behind were not written as decided; decide again on the current state',
    ),
  );
}

/** A batch made ready on a head: its envelopes, the head it makes and the statement's columns. */
interface Composed {
  readonly head: Head;
  readonly next: Head;
  readonly recordedAt: Date;
  readonly envelopes: EventEnvelope[];
  readonly types: string[];
  readonly streams: string[];
  readonly actors: string[];
  /** The leaves one after another, `lengths[i]` bytes each. */
  readonly entries: Buffer;
  readonly lengths: number[];
  /** The leaf hashes, 32 bytes each. */
  readonly leaves: Buffer;
  readonly outcomes: (string | null)[];
  /** The tree nodes above the leaves the batch completes: levels, indexes and hashes (32 bytes each). */
  readonly levels: number[];
  readonly indexes: string[];
  readonly nodes: Buffer;
}

/**
 * The log's one transactional append. `append` writes a batch of events, every tree node they
 * complete and the new signed checkpoint in one statement and one transaction holding the log
 * lock (migrations/0005_packed_append.ts, signet_append_packed) — all of it or none. Batching many
 * requests into one append is the sequencer's job (libs/service); here, each append is made on the
 * head this process last wrote (re-read only when another process moved it).
 *
 * On Postgres an append may be sent while the one before it is still being written: it is made on
 * the head that one will leave, and the database, which takes the log lock for each in turn,
 * writes it only on that head (so only if the one before committed). Whatever finds another head
 * is made again on the database's head once the appends before it settled, as an append that
 * found another process's events is.
 */
export class LogWriter {
  private closed = false;
  /** Settles once every append made so far settled. */
  private tail: Promise<unknown> = Promise.resolve();
  /** The head as this process last saw or wrote it. */
  private head: Head | null = null;
  /**
   * The head once every statement sent so far commits: the next append is made on it and sent at
   * once. Null when unknown (one failed, or the head must be read), and on PGlite, whose one
   * connection runs statements one at a time in this thread anyway.
   */
  private predicted: Head | null = null;
  /** How many appends were made: the last one made is the only one a later append is sent behind. */
  private made = 0;
  private readonly maxBatch: number;
  private readonly pipelines: boolean;

  constructor(private readonly options: LogWriterOptions) {
    this.maxBatch = options.maxBatch ?? 1000;
    this.pipelines = options.db.kind === 'postgres';
  }

  /** Most events one append takes. */
  get maxEvents(): number {
    return this.maxBatch;
  }

  /** Whether an append is sent while the one before it is being written (Postgres). */
  get pipelined(): boolean {
    return this.pipelines;
  }

  /**
   * Appends the drafts contiguously and resolves with their envelopes once committed. With
   * `expectedSize`, only on a log of exactly that size (LOG_SIZE_CHANGED otherwise, nothing
   * written); without, at the head, whatever it is. Appends commit in the order they are made.
   */
  append(drafts: readonly EventDraft[], options: AppendOptions = {}): Promise<EventEnvelope[]> {
    const refused = this.refuses(drafts.length);
    if (refused) return refused;
    let events: PreparedEvent[];
    try {
      events = drafts.map(prepareEvent);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.appendPrepared(events, options);
  }

  /**
   * `append` for events already checked and encoded (`prepareEvent`): the sequencer prepares each
   * decision's events as it takes it, so that one too large is refused alone, not with its group.
   */
  appendPrepared(events: readonly PreparedEvent[], options: AppendOptions = {}): Promise<EventEnvelope[]> {
    const refused = this.refuses(events.length);
    if (refused) return refused;
    if (events.length === 0) return Promise.resolve([]);
    const before = this.tail;
    const index = ++this.made;
    let run: Promise<EventEnvelope[]>;
    if (options.behind !== undefined)
      run =
        options.behind === this.predicted
          ? this.sendBehind(this.predicted, before, index, events, options)
          : notBehind();
    else if (this.predicted) run = this.sendBehind(this.predicted, before, index, events, options);
    else run = before.then(() => this.write(index, events, options));
    // Settles once those before it did too, whichever answer comes back first.
    const settled = run.catch(() => undefined);
    this.tail = before.then(() => settled);
    return run;
  }

  /** The refusal of an append of `count` events before anything is made: closed, or too many. */
  private refuses(count: number): Promise<never> | null {
    if (this.closed)
      return Promise.reject(
        new InfrastructureError(
          'LOG_CLOSED',
          'the log is shutting down and takes no more appends; retry against another instance',
        ),
      );
    if (count > this.maxBatch)
      return Promise.reject(
        new DomainError('BATCH_TOO_LARGE', `at most ${this.maxBatch} events can be appended at once`),
      );
    return null;
  }

  /**
   * The head the appends sent so far will leave, when an append made now is sent at once on it
   * (null otherwise). Opaque: an append decided on the state they leave passes it as `behind`.
   */
  get sentHead(): object | null {
    return this.predicted;
  }

  /** Stops taking appends and resolves once those in flight settled. */
  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
  }

  /**
   * Sends the batch at once, made on the head the appends in flight will leave. Not written there
   * (one before it failed, or another process appended): made again on the database's head once
   * those before it settled, unless its events were decided behind those (`behind`).
   */
  private sendBehind(
    head: Head,
    before: Promise<unknown>,
    index: number,
    prepared: readonly PreparedEvent[],
    options: AppendOptions,
  ): Promise<EventEnvelope[]> {
    const notWritten = () => {
      this.predicted = null;
      return options.behind !== undefined ? notBehind() : before.then(() => this.write(index, prepared, options));
    };
    if (this.moved(head, options)) return notWritten();
    const started = performance.now();
    let batch: Composed;
    try {
      batch = this.compose(head, prepared, options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.predicted = batch.next;
    return this.send(batch).then(
      (written) => (written ? this.committed(batch, options, started) : notWritten()),
      (error: unknown) => {
        this.predicted = null;
        this.head = null;
        throw error;
      },
    );
  }

  private moved(head: Head, options: AppendOptions): boolean {
    return (
      (options.expectedSize !== undefined && options.expectedSize !== head.size) ||
      (options.recordedAt !== undefined && options.recordedAt.getTime() < head.recordedAt)
    );
  }

  /** The append made `index`-th, on the head this process knows (read when unknown), again while others move it. */
  private async write(
    index: number,
    prepared: readonly PreparedEvent[],
    options: AppendOptions,
  ): Promise<EventEnvelope[]> {
    const started = performance.now();
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const cached = this.head !== null;
        const head = this.head ?? (this.head = await this.readHead());
        if (this.moved(head, options)) {
          // A refusal must rest on the database's head, not on what this process last saw.
          this.head = null;
          if (cached) continue;
          throw new DomainError(
            'LOG_SIZE_CHANGED',
            `the log moved on since the decision (size ${head.size}, expected ${options.expectedSize ?? '?'}); decide again on the current state`,
          );
        }
        const batch = this.compose(head, prepared, options);
        // The next append is made on the head this one leaves and sent behind it, unless one was
        // made since (it waits for this one, and appends commit in the order they are made).
        if (this.pipelines && index === this.made) this.predicted = batch.next;
        if (await this.send(batch)) return this.committed(batch, options, started);
        this.head = null;
        this.predicted = null;
      }
    } catch (error) {
      this.head = null;
      this.predicted = null;
      throw error;
    }
    throw new InfrastructureError('LOG_BUSY', 'other writers kept moving the log head; retry the append');
  }

  /** The batch's leaves, tree nodes and checkpoint on `head`, ready to send. */
  private compose(head: Head, prepared: readonly PreparedEvent[], options: AppendOptions): Composed {
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
    // Level 0 (the leaf hashes) goes into the events rows; the rest into tree_nodes.
    const inner = grown.newNodes.filter((n) => n.level > 0);
    const next: Head = {
      size: grown.size,
      root: grown.root,
      note,
      recordedAt: recordedAt.getTime(),
      frontier: grown.frontier,
    };
    return {
      head,
      next,
      recordedAt,
      envelopes,
      types,
      streams,
      actors,
      entries,
      lengths,
      leaves: Buffer.concat(leaves),
      outcomes,
      levels: inner.map((n) => n.level),
      indexes: inner.map((n) => String(n.index)),
      nodes: Buffer.concat(inner.map((n) => n.hash)),
    };
  }

  /** One statement: true once committed, false when the database's head was not the batch's. */
  private async send(batch: Composed): Promise<boolean> {
    const { head, next, recordedAt } = batch;
    // Byte strings go packed, one bytea each (binary on the wire; see migrations/0005_packed_append.ts).
    const result = await sql<{ appended: boolean }>`${sql.raw(PREPARED)}
      SELECT * FROM signet_append_packed(
        ${SEQUENCER_LOCK}::bigint, ${head.size}::bigint, ${head.root}::bytea, ${recordedAt}::timestamptz,
        ${batch.types}::text[], ${batch.streams}::text[], ${batch.actors}::text[], ${batch.entries}::bytea,
        ${batch.lengths}::integer[], ${batch.leaves}::bytea, ${batch.outcomes}::text[],
        ${batch.levels}::smallint[], ${batch.indexes}::bigint[], ${batch.nodes}::bytea,
        ${next.size}::bigint, ${next.root}::bytea, ${next.note}::text)`.execute(this.options.db.db);
    return result.rows[0]!.appended;
  }

  /** A batch is in the log: its head is the newest this process knows of, and it extends the watermark. */
  private committed(batch: Composed, options: AppendOptions, started: number): EventEnvelope[] {
    const { next } = batch;
    // Appends commit in order, but their answers may come back out of it.
    if (!this.head || this.head.size < next.size) this.head = next;
    // Committed on the head checked when it was read, so it extends the watermark. The file is
    // written in the background: a read of the head that serves its note waits for it.
    this.options.watermark?.raise(next);
    this.options.onBatch?.({
      events: batch.envelopes.length,
      requests: options.requests ?? 1,
      treeSize: next.size,
      millis: performance.now() - started,
    });
    return batch.envelopes;
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
