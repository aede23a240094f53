import { type Kysely, sql } from 'kysely';

// A stream's history (one key, one member, one package) without scanning the log.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX events_stream_seq ON events (stream, seq)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX events_stream_seq`.execute(db);
}
