import { type Insertable, sql, type Kysely } from 'kysely';
import { type Clock, DomainError, type EventDraft, type EventEnvelope, sealEvent } from '@signet/domain';
import { type Hash, type NoteSigner, appendLeaves, foldRange, hashesEqual, leafHash, rootNodes, signCheckpoint } from '@signet/tlog';
import { type Database, toBytes, toNumber } from './database.js';
import { readNodes } from './reader.js';

/** One lock for the whole log: whoever holds it is the sequencer (across processes too). */
const SEQUENCER_LOCK = 0x5349474e4554; // "SIGNET"
const EVENT_CHUNK = 1000;
const NODE_CHUNK = 2000;

export interface AppendOptions {
  /** Append only if the log has exactly this many events when the batch runs. */
  readonly expectedSize?: number;
}

export interface BatchStats {
  readonly events: number;
  readonly requests: number;
  readonly treeSize: number;
  readonly millis: number;
}

export interface LogWriterOptions {
  readonly db: Kysely<Database>;
  readonly origin: string;
  readonly signer: NoteSigner;
  readonly clock: Clock;
  /** Most events committed in one transaction. */
  readonly maxBatch?: number;
  readonly onBatch?: (stats: BatchStats) => void;
}

interface Pending {
  readonly drafts: readonly EventDraft[];
  readonly options: AppendOptions;
  readonly resolve: (events: EventEnvelope[]) => void;
  readonly reject: (error: unknown) => void;
}

interface Head {
  readonly size: number;
  readonly root: Hash;
  readonly recordedAt: number;
}

/**
 * The sequencer. Appends from any number of callers are queued and committed in batches (group
 * commit): each batch is one transaction holding the log lock that writes the events, every
 * tree node they complete and the new signed checkpoint — all of a batch or none of it.
 */
export class LogWriter {
  private readonly queue: Pending[] = [];
  private inflight: Promise<void> | null = null;
  private closed = false;
  private frontier: { size: number; root: Hash; hashes: Hash[] } | null = null;
  private readonly maxBatch: number;

  constructor(private readonly options: LogWriterOptions) {
    this.maxBatch = options.maxBatch ?? 1000;
  }

  /** Appends the drafts contiguously and resolves with their envelopes once committed. */
  append(drafts: readonly EventDraft[], options: AppendOptions = {}): Promise<EventEnvelope[]> {
    if (this.closed) return Promise.reject(new DomainError('LOG_CLOSED', 'the log is shutting down and takes no more appends; retry against another instance'));
    if (drafts.length === 0) return Promise.resolve([]);
    if (drafts.length > this.maxBatch) return Promise.reject(new DomainError('BATCH_TOO_LARGE', `at most ${this.maxBatch} events can be appended at once`));
    try {
      // Refuse a malformed or oversized event now, so it cannot fail the batch it would join.
      for (const d of drafts) sealEvent(d, Number.MAX_SAFE_INTEGER, this.options.clock.now());
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ drafts, options, resolve, reject });
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
    while (this.queue.length > 0 && (batch.length === 0 || events + this.queue[0]!.drafts.length <= this.maxBatch)) {
      const next = this.queue.shift()!;
      batch.push(next);
      events += next.drafts.length;
    }
    this.inflight = this.commit(batch).finally(() => {
      this.inflight = null;
      this.pump();
    });
  }

  private async commit(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let outcome: { accepted: Pending[]; refused: Pending[]; events: EventEnvelope[][]; head: Head };
    try {
      outcome = await this.options.db.transaction().execute((trx) => this.write(trx, batch));
    } catch (error) {
      this.frontier = null;
      for (const p of batch) p.reject(error);
      return;
    }
    const { accepted, refused, events, head } = outcome;
    accepted.forEach((p, i) => p.resolve(events[i]!));
    for (const p of refused) {
      p.reject(new DomainError('LOG_SIZE_CHANGED', `the log no longer has ${p.options.expectedSize} events; decide again on the current state`));
    }
    this.options.onBatch?.({ events: events.reduce((n, e) => n + e.length, 0), requests: accepted.length, treeSize: head.size, millis: performance.now() - started });
  }

  private async write(trx: Kysely<Database>, batch: Pending[]) {
    await sql`SELECT pg_advisory_xact_lock(${SEQUENCER_LOCK})`.execute(trx);
    const row = await trx.selectFrom('checkpoints').select(['tree_size', 'root_hash', 'recorded_at']).orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
    const head: Head = row
      ? { size: toNumber(row.tree_size), root: toBytes(row.root_hash), recordedAt: new Date(row.recorded_at).getTime() }
      : { size: 0, root: foldRange([]), recordedAt: 0 };
    const frontier = await this.frontierAt(trx, head);

    // The log's time never runs backwards, even if the host clock does.
    const recordedAt = new Date(Math.max(this.options.clock.now().getTime(), head.recordedAt));
    const accepted: Pending[] = [];
    const refused: Pending[] = [];
    const events: EventEnvelope[][] = [];
    const rows: Insertable<Database['events']>[] = [];
    const leaves: Hash[] = [];
    let size = head.size;
    for (const p of batch) {
      if (p.options.expectedSize !== undefined && p.options.expectedSize !== size) {
        refused.push(p);
        continue;
      }
      const sealed = p.drafts.map((d) => sealEvent(d, size++, recordedAt));
      accepted.push(p);
      events.push(sealed.map((s) => s.envelope));
      for (const { envelope, entry } of sealed) {
        rows.push({ seq: envelope.seq, type: envelope.type, stream: envelope.stream, actor: envelope.actor, recorded_at: recordedAt, entry });
        leaves.push(leafHash(entry));
      }
    }
    if (leaves.length === 0) return { accepted, refused, events, head };

    const grown = appendLeaves(head.size, frontier, leaves);
    const note = signCheckpoint({ origin: this.options.origin, size: grown.size, root: grown.root, extensions: [] }, this.options.signer);
    for (let i = 0; i < rows.length; i += EVENT_CHUNK) await trx.insertInto('events').values(rows.slice(i, i + EVENT_CHUNK)).execute();
    const nodes = grown.newNodes.map((n) => ({ level: n.level, idx: n.index, hash: n.hash }));
    for (let i = 0; i < nodes.length; i += NODE_CHUNK) await trx.insertInto('tree_nodes').values(nodes.slice(i, i + NODE_CHUNK)).execute();
    await trx.insertInto('checkpoints').values({ tree_size: grown.size, root_hash: grown.root, note, recorded_at: recordedAt }).execute();

    this.frontier = { size: grown.size, root: grown.root, hashes: grown.frontier };
    return { accepted, refused, events, head: { size: grown.size, root: grown.root, recordedAt: recordedAt.getTime() } };
  }

  /** The right frontier of the tree at the head: from memory when this process wrote the head. */
  private async frontierAt(trx: Kysely<Database>, head: Head): Promise<Hash[]> {
    const cached = this.frontier;
    if (cached && cached.size === head.size && hashesEqual(cached.root, head.root)) return cached.hashes;
    this.frontier = null;
    const ids = rootNodes(head.size);
    const found = await readNodes(trx, ids);
    const hashes = ids.map((id) => {
      const h = found.get(`${id.level}/${id.index}`);
      if (!h) throw new Error(`the stored tree is missing node ${id.level}/${id.index} of size ${head.size}`);
      return h;
    });
    if (!hashesEqual(foldRange(hashes), head.root)) throw new Error(`the stored tree does not match the checkpoint of size ${head.size}`);
    return hashes;
  }
}
