import { type Kysely, sql } from 'kysely';

// Frozen: a migration, once released, is never edited; changes come as new files.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Leaf `seq` of the Merkle tree: the entry is the RFC 8785 bytes of the envelope. The other
  // columns are copies of envelope fields, for queries.
  await sql`
    CREATE TABLE events (
      seq         bigint PRIMARY KEY CHECK (seq >= 0),
      type        text NOT NULL,
      stream      text NOT NULL,
      actor       text NOT NULL,
      recorded_at timestamptz NOT NULL,
      entry       bytea NOT NULL
    )`.execute(db);

  // Every complete subtree (level L covers leaves [idx·2^L, (idx+1)·2^L)). Tiles at level T are
  // the nodes at level 8·T; proofs read O(log n) of them.
  await sql`
    CREATE TABLE tree_nodes (
      level smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
      idx   bigint NOT NULL CHECK (idx >= 0),
      hash  bytea NOT NULL CHECK (length(hash) = 32),
      PRIMARY KEY (level, idx)
    )`.execute(db);

  // One signed checkpoint per committed batch; the largest is the log's head.
  await sql`
    CREATE TABLE checkpoints (
      tree_size   bigint PRIMARY KEY CHECK (tree_size >= 0),
      root_hash   bytea NOT NULL CHECK (length(root_hash) = 32),
      note        text NOT NULL,
      recorded_at timestamptz NOT NULL
    )`.execute(db);

  // Append-only in the database itself, whoever connects.
  await sql`
    CREATE FUNCTION signet_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'signet: % on % is refused: the log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
    END
    $$`.execute(db);
  for (const table of ['events', 'tree_nodes', 'checkpoints']) {
    await sql.raw(`CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION signet_refuse_change()`).execute(db);
    await sql.raw(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION signet_refuse_change()`).execute(db);
  }
}

export async function down(): Promise<void> {
  throw new Error('the log schema cannot be rolled back: the log is append-only');
}
