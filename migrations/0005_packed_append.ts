import { type Kysely, sql } from 'kysely';

// Frozen: a migration, once released, is never edited; changes come as new files.

export async function up(db: Kysely<unknown>): Promise<void> {
  // signet_append as in 0002, with the batch's byte strings packed: the entries one after another
  // in one bytea (entry i is `entry_lengths[i]` bytes), the leaf and node hashes 32 bytes each in
  // one bytea apiece. A bytea parameter travels in binary, where a bytea[] travels as hex text
  // that the server parses back, twice the bytes and most of the statement's time.
  await sql`
    CREATE FUNCTION signet_append_packed(
      lock_key bigint, expected_size bigint, expected_root bytea, recorded timestamptz,
      types text[], streams text[], actors text[], entries bytea, entry_lengths integer[], leaf_hashes bytea,
      outcome_keys text[], node_levels smallint[], node_idxs bigint[], node_hashes bytea,
      new_size bigint, new_root bytea, note text)
    RETURNS TABLE (appended boolean, tree_size bigint, root_hash bytea, recorded_at timestamptz)
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      head checkpoints%ROWTYPE;
      n integer := cardinality(entry_lengths);
    BEGIN
      PERFORM pg_advisory_xact_lock(lock_key);
      SELECT * INTO head FROM checkpoints c ORDER BY c.tree_size DESC LIMIT 1;
      IF coalesce(head.tree_size, 0) <> expected_size OR (head.tree_size IS NOT NULL AND head.root_hash <> expected_root) THEN
        RETURN QUERY SELECT false, head.tree_size, head.root_hash, head.recorded_at;
        RETURN;
      END IF;
      IF new_size <> expected_size + n OR cardinality(types) <> n OR cardinality(streams) <> n
        OR cardinality(actors) <> n OR cardinality(outcome_keys) <> n OR length(leaf_hashes) <> 32 * n
        OR length(node_hashes) <> 32 * cardinality(node_levels) OR cardinality(node_idxs) <> cardinality(node_levels)
        OR length(entries) <> (SELECT coalesce(sum(l), 0) FROM unnest(entry_lengths) AS l) THEN
        RAISE EXCEPTION 'signet_append_packed: the batch is inconsistent (% entries from size % to %)', n, expected_size, new_size;
      END IF;
      INSERT INTO events (seq, type, stream, actor, recorded_at, entry, leaf_hash, outcome_key)
        SELECT expected_size + u.ord - 1, u.type, u.stream, u.actor, recorded,
               substring(entries FROM (u.ends - u.len + 1)::integer FOR u.len),
               substring(leaf_hashes FROM (32 * (u.ord - 1) + 1)::integer FOR 32), u.outcome_key
        FROM (
          SELECT v.*, sum(v.len) OVER (ORDER BY v.ord) AS ends
          FROM unnest(types, streams, actors, entry_lengths, outcome_keys) WITH ORDINALITY AS v(type, stream, actor, len, outcome_key, ord)
        ) AS u;
      INSERT INTO tree_nodes (level, idx, hash)
        SELECT u.level, u.idx, substring(node_hashes FROM (32 * (u.ord - 1) + 1)::integer FOR 32)
        FROM unnest(node_levels, node_idxs) WITH ORDINALITY AS u(level, idx, ord);
      INSERT INTO checkpoints VALUES (new_size, new_root, note, recorded);
      RETURN QUERY SELECT true, new_size, new_root, recorded;
    END
    $$`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('the log schema cannot be rolled back: the log is append-only');
}
