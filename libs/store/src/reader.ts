import { sql, type Kysely } from 'kysely';
import { DomainError, parseEntry, type EventEnvelope } from '@signet/domain';
import {
  EMPTY_ROOT,
  MAX_TILE_LEVEL,
  type TileCoord,
  type Hash,
  type NodeId,
  TILE_WIDTH,
  assembleProof,
  consistencyProofPlan,
  encodeEntryBundle,
  foldRange,
  inclusionProofPlan,
  planNodes,
  rootNodes,
  tileNodes,
} from '@signet/tlog';
import { PREPARED } from './connect.js';
import { type Database, toBytes, toNumber } from './database.js';
import type { CheckpointWatermark } from './watermark.js';

const key = (id: NodeId) => `${id.level}/${id.index}`;
const CACHED_LEVEL = 4;
const MAX_CACHED_NODES = 200_000;

/** One round trip for any set of stored nodes: leaf hashes live in `events`, the rest in `tree_nodes`. */
export async function readNodes(db: Kysely<Database>, ids: readonly NodeId[]): Promise<Map<string, Hash>> {
  const found = new Map<string, Hash>();
  if (ids.length === 0) return found;
  const levels: number[] = [];
  const indexes: number[] = [];
  const leaves: number[] = [];
  for (const id of ids) {
    if (id.level === 0) leaves.push(id.index);
    else {
      levels.push(id.level);
      indexes.push(id.index);
    }
  }
  // One statement text whatever the nodes, prepared once per connection: a list of row values
  // (`(level, idx) IN (…)`) is planned again on every read, longer the more nodes it names (about
  // half of a proof's time in a log of a million events, measured).
  const rows = await sql<{ level: number; idx: number | string | bigint; hash: Uint8Array }>`${sql.raw(PREPARED)}
    SELECT t.level, t.idx, t.hash
      FROM unnest(${levels}::smallint[], ${indexes}::bigint[]) AS u(level, idx)
      JOIN tree_nodes t ON t.level = u.level AND t.idx = u.idx
    UNION ALL
    SELECT 0::smallint, e.seq, e.leaf_hash FROM events e WHERE e.seq = ANY(${leaves}::bigint[])`.execute(db);
  for (const r of rows.rows) found.set(`${r.level}/${toNumber(r.idx)}`, toBytes(r.hash));
  return found;
}

/**
 * The root at `size` from the stored nodes themselves, never from a cache: what checks the
 * database against a checkpoint signed earlier must see the rows as they are now.
 */
export async function storedRootAt(db: Kysely<Database>, size: number): Promise<Hash> {
  if (size === 0) return EMPTY_ROOT;
  const ids = rootNodes(size);
  const nodes = await readNodes(db, ids);
  return foldRange(ids.map((id) => nodes.get(key(id)) ?? beyond(`size ${size}`)));
}

/**
 * The latest signed checkpoint (null before genesis), checked against `watermark` — the mark as it
 * stood before the read: this process raises it as soon as its own appends commit, so a read
 * already on its way may return a smaller head without any rollback (LOG_ROLLED_BACK otherwise).
 */
export async function readCheckedHead(db: Kysely<Database>, watermark?: CheckpointWatermark): Promise<LogHead | null> {
  const mark = watermark?.current() ?? null;
  const row = await db.selectFrom('checkpoints').selectAll().orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
  const head = row
    ? {
        size: toNumber(row.tree_size),
        root: toBytes(row.root_hash),
        note: row.note,
        recordedAt: new Date(row.recorded_at),
      }
    : null;
  await watermark?.check(head, (size) => storedRootAt(db, size), mark);
  return head;
}

export interface LogHead {
  readonly size: number;
  readonly root: Hash;
  readonly note: string;
  readonly recordedAt: Date;
}

export interface InclusionProof {
  readonly index: number;
  readonly treeSize: number;
  readonly leafHash: Hash;
  readonly rootHash: Hash;
  readonly proof: Hash[];
}

export interface ConsistencyProof {
  readonly from: number;
  readonly to: number;
  readonly fromRoot: Hash;
  readonly toRoot: Hash;
  readonly proof: Hash[];
}

function beyond(what: string): never {
  throw new DomainError('NOT_IN_LOG', `${what} is beyond the current tree`);
}

/**
 * Read side of the log. Everything is served from stored nodes and entries; a node that is
 * not stored means the request reaches past the tree.
 */
export class LogReader {
  /**
   * Upper tree nodes never change once complete and are shared by most proofs: keep them, so a
   * proof in a tree of a million leaves reads about as many rows as one in a thousand.
   */
  private readonly upper = new Map<string, Hash>();

  /** With a watermark, every head read is checked against the largest tree the log signed (LOG_ROLLED_BACK). */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly watermark?: CheckpointWatermark,
  ) {}

  /** Stored nodes by id, from the cache of upper nodes where possible. */
  private async nodes(ids: readonly NodeId[]): Promise<Map<string, Hash>> {
    const found = new Map<string, Hash>();
    const missing: NodeId[] = [];
    for (const id of ids) {
      const hit = id.level >= CACHED_LEVEL ? this.upper.get(key(id)) : undefined;
      if (hit) found.set(key(id), hit);
      else missing.push(id);
    }
    for (const [k, h] of await readNodes(this.db, missing)) {
      found.set(k, h);
      if (Number(k.slice(0, k.indexOf('/'))) >= CACHED_LEVEL) {
        if (this.upper.size >= MAX_CACHED_NODES) this.upper.clear();
        this.upper.set(k, h);
      }
    }
    return found;
  }

  /**
   * The latest signed checkpoint, or null before genesis. Refused (LOG_ROLLED_BACK) when it does
   * not contain the largest tree the log signed or served; a larger one is recorded as that (on
   * disk) before it is returned, since the note may then be served.
   */
  async head(): Promise<LogHead | null> {
    const head = await this.checkedHead();
    if (head) await this.watermark?.durable(head.size);
    return head;
  }

  /** The head's size, checked against the watermark like `head` (but not waiting for its file: no note leaves with it). */
  async size(): Promise<number> {
    return (await this.checkedHead())?.size ?? 0;
  }

  private checkedHead(): Promise<LogHead | null> {
    return readCheckedHead(this.db, this.watermark);
  }

  /** Tile (level, index) of the given width; null when the tree does not have it yet. */
  async tile(level: number, index: number, width: number): Promise<Uint8Array | null> {
    const first = tileNodes(level, index, 1)[0]!.index;
    const rows =
      level === 0
        ? await this.db
            .selectFrom('events')
            .select('leaf_hash as hash')
            .where('seq', '>=', first)
            .where('seq', '<', first + width)
            .orderBy('seq')
            .execute()
        : await this.db
            .selectFrom('tree_nodes')
            .select('hash')
            .where('level', '=', level * 8)
            .where('idx', '>=', first)
            .where('idx', '<', first + width)
            .orderBy('idx')
            .execute();
    if (rows.length < width) return null;
    return Buffer.concat(rows.map((r) => toBytes(r.hash)));
  }

  /** Entry bundle `index` of the given width; null when the log does not have it yet. */
  async entryBundle(index: number, width: number): Promise<Uint8Array | null> {
    const entries = await this.entries(index * TILE_WIDTH, index * TILE_WIDTH + width);
    return entries.length < width ? null : encodeEntryBundle(entries);
  }

  /** Leaf bytes of seqs [from, to). */
  async entries(from: number, to: number): Promise<Uint8Array[]> {
    const rows = await this.db
      .selectFrom('events')
      .select('entry')
      .where('seq', '>=', from)
      .where('seq', '<', to)
      .orderBy('seq')
      .execute();
    return rows.map((r) => toBytes(r.entry));
  }

  async entry(seq: number): Promise<Uint8Array | null> {
    const row = await this.db.selectFrom('events').select('entry').where('seq', '=', seq).executeTakeFirst();
    return row ? toBytes(row.entry) : null;
  }

  async event(seq: number): Promise<EventEnvelope | null> {
    const entry = await this.entry(seq);
    return entry ? parseEntry(entry, seq) : null;
  }

  /** RFC 6962 root of the first `size` leaves, from O(log n) stored nodes. */
  async rootAt(size: number): Promise<Hash> {
    if (size === 0) return EMPTY_ROOT;
    const ids = rootNodes(size);
    const nodes = await this.nodes(ids);
    return foldRange(ids.map((id) => nodes.get(key(id)) ?? beyond(`size ${size}`)));
  }

  async inclusionProof(index: number, size: number): Promise<InclusionProof> {
    if (index >= size) throw new DomainError('BAD_RANGE', `leaf ${index} is not in a tree of size ${size}`);
    const plan = inclusionProofPlan(index, size);
    const leafId = { level: 0, index };
    const rootIds = rootNodes(size);
    const nodes = await this.nodes([...planNodes(plan), leafId, ...rootIds]);
    const lookup = (id: NodeId) => nodes.get(key(id));
    const leaf = lookup(leafId) ?? beyond(`leaf ${index}`);
    const rootHash = foldRange(rootIds.map((id) => lookup(id) ?? beyond(`size ${size}`)));
    return { index, treeSize: size, leafHash: leaf, rootHash, proof: assembleProof(plan, lookup) };
  }

  async consistencyProof(from: number, to: number): Promise<ConsistencyProof> {
    if (from > to) throw new DomainError('BAD_RANGE', `size ${from} is larger than size ${to}`);
    const plan = consistencyProofPlan(from, to);
    const fromIds = rootNodes(from);
    const toIds = rootNodes(to);
    const nodes = await this.nodes([...planNodes(plan), ...fromIds, ...toIds]);
    const lookup = (id: NodeId) => nodes.get(key(id));
    const fold = (ids: NodeId[]) => foldRange(ids.map((id) => lookup(id) ?? beyond(`size ${to}`)));
    return { from, to, fromRoot: fold(fromIds), toRoot: fold(toIds), proof: assembleProof(plan, lookup) };
  }

  /** Signed checkpoints stored for sizes in [from, to], oldest first. */
  async checkpoints(from = 0, to = Number.MAX_SAFE_INTEGER, limit = 1000): Promise<{ size: number; note: string }[]> {
    const rows = await this.db
      .selectFrom('checkpoints')
      .select(['tree_size', 'note'])
      .where('tree_size', '>=', from)
      .where('tree_size', '<=', to)
      .orderBy('tree_size')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ size: toNumber(r.tree_size), note: r.note }));
  }

  /** The events with seq in [from, to), parsed, in order; read in chunks so memory stays flat. */
  async *scan(from: number, to: number, chunk = 2000): AsyncGenerator<EventEnvelope> {
    for (let at = from; at < to; at += chunk) {
      const rows = await this.db
        .selectFrom('events')
        .select(['seq', 'entry'])
        .where('seq', '>=', at)
        .where('seq', '<', Math.min(to, at + chunk))
        .orderBy('seq')
        .execute();
      for (const r of rows) yield parseEntry(toBytes(r.entry), toNumber(r.seq));
      if (rows.length === 0) break;
    }
  }
}

/**
 * Full tiles and full entry bundles never change once they exist, so a bounded LRU of them
 * serves the hot read path without touching the database.
 */
export class ImmutableTileCache {
  private readonly entries = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(
    private readonly reader: LogReader,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** The tile's bytes, or null when the log does not have it (yet). */
  async get(tile: TileCoord): Promise<Uint8Array | null> {
    const full = tile.width === TILE_WIDTH;
    const key = `${tile.level}/${tile.index}`;
    if (full) {
      const hit = this.entries.get(key);
      if (hit) {
        this.entries.delete(key);
        this.entries.set(key, hit);
        return hit;
      }
    }
    if (tile.level !== 'entries' && tile.level > MAX_TILE_LEVEL) return null;
    const bytes =
      tile.level === 'entries'
        ? await this.reader.entryBundle(tile.index, tile.width)
        : await this.reader.tile(tile.level, tile.index, tile.width);
    if (bytes && full) {
      this.entries.set(key, bytes);
      this.bytes += bytes.length;
      for (const [k, v] of this.entries) {
        if (this.bytes <= this.maxBytes) break;
        this.entries.delete(k);
        this.bytes -= v.length;
      }
    }
    return bytes;
  }
}
