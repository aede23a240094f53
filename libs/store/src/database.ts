import type { ColumnType } from 'kysely';

// The schema, written once (migrations/). bigint comes back as number, bigint or string
// depending on the driver: the store converts at its boundary (see `toNumber`).

type BigIntColumn = ColumnType<number | bigint | string, number | bigint, never>;
type Bytes = ColumnType<Uint8Array, Uint8Array, never>;

export interface EventsTable {
  seq: BigIntColumn;
  type: string;
  stream: string;
  actor: string;
  recorded_at: ColumnType<Date, Date, never>;
  entry: Bytes;
  /** RFC 6962 leaf hash of `entry`: level 0 of the tree. */
  leaf_hash: Bytes;
  /** `outcomeKey` of a worker's outcome event; unique. */
  outcome_key: ColumnType<string | null, string | null, never>;
}

export interface OutboxCursorsTable {
  consumer: string;
  next_seq: ColumnType<number | bigint | string, number | bigint, number | bigint>;
}

export interface OutboxJobsTable {
  consumer: string;
  seq: ColumnType<number | bigint | string, number | bigint, never>;
  enqueued_at: ColumnType<Date, Date, Date>;
  done_at: ColumnType<Date | null, Date | null, Date | null>;
}

export interface TreeNodesTable {
  level: number;
  idx: BigIntColumn;
  hash: Bytes;
}

export interface CheckpointsTable {
  tree_size: BigIntColumn;
  root_hash: Bytes;
  note: string;
  recorded_at: ColumnType<Date, Date, never>;
}

/** A checkpoint that witnesses cosigned: the log's signed note, without cosignatures (0003). */
export interface CosignedCheckpointsTable {
  tree_size: BigIntColumn;
  note: string;
}

/** Every cosignature of each witness for each cosigned checkpoint, one row per timestamp (0003, append-only since 0004). */
export interface CosignaturesTable {
  tree_size: BigIntColumn;
  witness: string;
  key_hash: ColumnType<number | bigint | string, number, number>;
  /** The cosignature's own timestamp (POSIX seconds). */
  signed_at: ColumnType<number | bigint | string, number, number>;
  line: string;
  recorded_at: ColumnType<Date, Date, Date>;
}

export interface Database {
  events: EventsTable;
  tree_nodes: TreeNodesTable;
  checkpoints: CheckpointsTable;
  outbox_cursors: OutboxCursorsTable;
  outbox_jobs: OutboxJobsTable;
  cosigned_checkpoints: CosignedCheckpointsTable;
  cosignatures: CosignaturesTable;
}

export function toNumber(value: number | bigint | string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`database integer ${value} is out of range`);
  return n;
}

export function toBytes(value: Uint8Array): Uint8Array {
  return value instanceof Uint8Array ? value : new Uint8Array(value);
}
