import { type Kysely, sql } from 'kysely';

// Frozen: a migration, once released, is never edited; changes come as new files.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Checkpoints that witnesses cosigned (C2SP tlog-cosignature), each as the log's signed note
  // without cosignatures. Kept here rather than looked up in `checkpoints`: the log also signs
  // checkpoints at sizes between batches (trust snapshots), and a witness may cosign those.
  // Once written, a size's note never changes: cosignatures are over exactly these bytes.
  await sql`
    CREATE TABLE cosigned_checkpoints (
      tree_size bigint PRIMARY KEY CHECK (tree_size >= 0),
      note      text NOT NULL
    )`.execute(db);
  await sql`CREATE TRIGGER cosigned_checkpoints_append_only BEFORE UPDATE OR DELETE ON cosigned_checkpoints FOR EACH ROW EXECUTE FUNCTION signet_refuse_change()`.execute(
    db,
  );

  // The newest cosignature of each witness per checkpoint: a witness that cosigns a size again
  // (a later timestamp) replaces its line. `line` is the whole signature line, "— name base64\n".
  await sql`
    CREATE TABLE cosignatures (
      tree_size   bigint NOT NULL REFERENCES cosigned_checkpoints (tree_size),
      witness     text NOT NULL,
      key_hash    bigint NOT NULL CHECK (key_hash BETWEEN 0 AND 4294967295),
      signed_at   bigint NOT NULL CHECK (signed_at >= 0),
      line        text NOT NULL,
      recorded_at timestamptz NOT NULL,
      PRIMARY KEY (tree_size, witness)
    )`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('the log schema cannot be rolled back: the log is append-only');
}
