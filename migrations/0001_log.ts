import { type Kysely, sql } from 'kysely';

// Frozen: a migration, once released, is never edited; changes come as new files.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Leaf `seq` of the Merkle tree: the entry is the RFC 8785 bytes of the envelope, leaf_hash its
  // RFC 6962 leaf hash (level 0 of the tree, kept here rather than as a tree_nodes row). The other
  // columns are copies of envelope fields, for queries.
  await sql`
    CREATE TABLE events (
      seq         bigint PRIMARY KEY CHECK (seq >= 0),
      type        text NOT NULL,
      stream      text NOT NULL,
      actor       text NOT NULL,
      recorded_at timestamptz NOT NULL,
      entry       bytea NOT NULL,
      leaf_hash   bytea NOT NULL CHECK (length(leaf_hash) = 32)
    )`.execute(db);

  // Every complete subtree above the leaves (level L covers leaves [idx·2^L, (idx+1)·2^L)).
  // Tiles at level T are the nodes at level 8·T; proofs read O(log n) of them.
  await sql`
    CREATE TABLE tree_nodes (
      level smallint NOT NULL CHECK (level BETWEEN 1 AND 63),
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

  // The sequencer's write, in one round trip and one transaction: take the log lock, check the
  // head is the one the batch was computed on, then write the events, the tree nodes they
  // complete and the signed checkpoint. On a stale head nothing is written and the current head
  // is returned, for the caller to recompute on. (A VOLATILE function takes a new snapshot per
  // statement, so the head it reads is the one committed before the lock was granted.)
  await sql`
    CREATE FUNCTION signet_append(
      lock_key bigint, expected_size bigint, expected_root bytea, recorded timestamptz,
      types text[], streams text[], actors text[], entries bytea[], leaf_hashes bytea[],
      node_levels smallint[], node_idxs bigint[], node_hashes bytea[],
      new_size bigint, new_root bytea, note text)
    RETURNS TABLE (appended boolean, tree_size bigint, root_hash bytea, recorded_at timestamptz)
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      head checkpoints%ROWTYPE;
    BEGIN
      PERFORM pg_advisory_xact_lock(lock_key);
      SELECT * INTO head FROM checkpoints c ORDER BY c.tree_size DESC LIMIT 1;
      IF coalesce(head.tree_size, 0) <> expected_size OR (head.tree_size IS NOT NULL AND head.root_hash <> expected_root) THEN
        RETURN QUERY SELECT false, head.tree_size, head.root_hash, head.recorded_at;
        RETURN;
      END IF;
      IF new_size <> expected_size + cardinality(entries) THEN
        RAISE EXCEPTION 'signet_append: % entries do not take size % to %', cardinality(entries), expected_size, new_size;
      END IF;
      INSERT INTO events (seq, type, stream, actor, recorded_at, entry, leaf_hash)
        SELECT expected_size + u.ord - 1, u.type, u.stream, u.actor, recorded, u.entry, u.leaf_hash
        FROM unnest(types, streams, actors, entries, leaf_hashes) WITH ORDINALITY AS u(type, stream, actor, entry, leaf_hash, ord);
      INSERT INTO tree_nodes (level, idx, hash)
        SELECT * FROM unnest(node_levels, node_idxs, node_hashes);
      INSERT INTO checkpoints VALUES (new_size, new_root, note, recorded);
      RETURN QUERY SELECT true, new_size, new_root, recorded;
    END
    $$`.execute(db);

  // Append-only in the database itself, whoever connects.
  await sql`
    CREATE FUNCTION signet_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'signet: % on % is refused: the log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
    END
    $$`.execute(db);
  for (const table of ['events', 'tree_nodes', 'checkpoints']) {
    await sql
      .raw(
        `CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION signet_refuse_change()`,
      )
      .execute(db);
    await sql
      .raw(
        `CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION signet_refuse_change()`,
      )
      .execute(db);
  }
}

export async function down(): Promise<void> {
  throw new Error('the log schema cannot be rolled back: the log is append-only');
}
