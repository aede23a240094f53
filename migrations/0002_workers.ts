import { type Kysely, sql } from 'kysely';

// Frozen: a migration, once released, is never edited; changes come as new files.

export async function up(db: Kysely<unknown>): Promise<void> {
  // A worker's outcome event (announcement posted, snapshot taken, key activated, alert raised)
  // carries a key that may occur once in the log: a job retried after a crash, or dispatched
  // twice, cannot append its outcome twice, whatever the process believed.
  await sql`ALTER TABLE events ADD COLUMN outcome_key text`.execute(db);
  await sql`CREATE UNIQUE INDEX events_outcome_key ON events (outcome_key) WHERE outcome_key IS NOT NULL`.execute(db);

  // The outbox: the events table itself. Each consumer's cursor is the first seq it has not
  // looked at; every event a consumer wants becomes a job row, done once its outcome is in the
  // log (or there was nothing to do). Pending rows are sent to the queue again after a Redis
  // outage or a lost job; the queue's job id (consumer and seq) keeps that from doubling work.
  await sql`
    CREATE TABLE outbox_cursors (
      consumer text PRIMARY KEY,
      next_seq bigint NOT NULL CHECK (next_seq >= 0)
    )`.execute(db);
  await sql`
    CREATE TABLE outbox_jobs (
      consumer    text NOT NULL,
      seq         bigint NOT NULL,
      enqueued_at timestamptz NOT NULL,
      done_at     timestamptz,
      PRIMARY KEY (consumer, seq)
    )`.execute(db);
  await sql`CREATE INDEX outbox_jobs_pending ON outbox_jobs (enqueued_at) WHERE done_at IS NULL`.execute(db);

  // signet_append as in 0001, also writing each event's outcome key.
  await sql`DROP FUNCTION signet_append(bigint, bigint, bytea, timestamptz, text[], text[], text[], bytea[], bytea[], smallint[], bigint[], bytea[], bigint, bytea, text)`.execute(
    db,
  );
  await sql`
    CREATE FUNCTION signet_append(
      lock_key bigint, expected_size bigint, expected_root bytea, recorded timestamptz,
      types text[], streams text[], actors text[], entries bytea[], leaf_hashes bytea[], outcome_keys text[],
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
      INSERT INTO events (seq, type, stream, actor, recorded_at, entry, leaf_hash, outcome_key)
        SELECT expected_size + u.ord - 1, u.type, u.stream, u.actor, recorded, u.entry, u.leaf_hash, u.outcome_key
        FROM unnest(types, streams, actors, entries, leaf_hashes, outcome_keys) WITH ORDINALITY AS u(type, stream, actor, entry, leaf_hash, outcome_key, ord);
      INSERT INTO tree_nodes (level, idx, hash)
        SELECT * FROM unnest(node_levels, node_idxs, node_hashes);
      INSERT INTO checkpoints VALUES (new_size, new_root, note, recorded);
      RETURN QUERY SELECT true, new_size, new_root, recorded;
    END
    $$`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('the log schema cannot be rolled back: the log is append-only');
}
