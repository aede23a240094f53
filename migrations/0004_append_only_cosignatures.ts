import { type Kysely, sql } from 'kysely';

// Frozen: a migration, once released, is never edited; changes come as new files.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Cosignatures become evidence like the rest of the log: a witness that cosigns a size again
  // (a later timestamp) adds a line instead of replacing its earlier one, and the newest line per
  // witness is the one served. So a witness may have several rows per size, one per timestamp.
  await sql`ALTER TABLE cosignatures DROP CONSTRAINT cosignatures_pkey`.execute(db);
  await sql`ALTER TABLE cosignatures ADD PRIMARY KEY (tree_size, witness, signed_at)`.execute(db);

  // The same refusal as events, tree_nodes and checkpoints (0001), with the statement trigger
  // 0003 left out for cosigned_checkpoints.
  await sql`CREATE TRIGGER cosignatures_append_only BEFORE UPDATE OR DELETE ON cosignatures FOR EACH ROW EXECUTE FUNCTION signet_refuse_change()`.execute(
    db,
  );
  for (const table of ['cosigned_checkpoints', 'cosignatures']) {
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
