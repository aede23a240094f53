import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, sql } from 'kysely';
import { Migrator, type MigrationProvider } from 'kysely/migration';
import { PostgresJSDialect } from 'kysely-postgres-js';
import postgres from 'postgres';
import { migrations } from '@signet/migrations';
import type { Database } from './database.js';

export interface DbConfig {
  /** Postgres when set; otherwise PGlite under `dataDir`. */
  readonly databaseUrl?: string | undefined;
  readonly dataDir: string;
  /** Postgres pool size. */
  readonly poolSize?: number;
  /** PGlite only: keep the database in memory (tests). */
  readonly inMemory?: boolean;
}

export interface Db {
  readonly db: Kysely<Database>;
  readonly kind: 'postgres' | 'pglite';
  /** A `bytea[]` query parameter: each driver wants its own form. */
  byteaArray(values: readonly Uint8Array[]): unknown;
  close(): Promise<void>;
}

const BYTEA_OID = 17;

export function pgliteDir(dataDir: string): string {
  return join(resolve(dataDir), 'pglite');
}

export async function connect(config: DbConfig): Promise<Db> {
  if (config.databaseUrl) {
    const client = postgres(config.databaseUrl, {
      max: config.poolSize ?? 10,
      onnotice: () => {},
      connection: { application_name: 'signet' },
    });
    const db = new Kysely<Database>({ dialect: new PostgresJSDialect({ postgres: client }) });
    const byteaArray = (values: readonly Uint8Array[]) => client.array(values.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)), BYTEA_OID);
    return { db, kind: 'postgres', byteaArray, close: () => db.destroy() };
  }
  let pglite: PGlite;
  if (config.inMemory) {
    pglite = await PGlite.create();
  } else {
    const dir = pgliteDir(config.dataDir);
    mkdirSync(dir, { recursive: true });
    pglite = await PGlite.create(dir);
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
  return { db, kind: 'pglite', byteaArray: (values) => values, close: () => db.destroy() };
}

const provider: MigrationProvider = { getMigrations: async () => migrations };

function migrator(db: Kysely<Database>): Migrator {
  return new Migrator({ db, provider, migrationTableName: 'signet_migrations', migrationLockTableName: 'signet_migrations_lock' });
}

/** Runs every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<Database>): Promise<void> {
  const { error, results } = await migrator(db).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Names of migrations not yet applied (for /readyz). */
export async function pendingMigrations(db: Kysely<Database>): Promise<string[]> {
  const all = await migrator(db).getMigrations();
  return all.filter((m) => !m.executedAt).map((m) => m.name);
}

export async function ping(db: Kysely<Database>): Promise<void> {
  await sql`SELECT 1`.execute(db);
}
