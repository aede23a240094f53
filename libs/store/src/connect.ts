import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect, sql } from 'kysely';
import { Migrator, type MigrationProvider } from 'kysely/migration';
import pg from 'pg';
import { migrations } from '@signet/migrations';
import type { Database } from './database.js';
import { guardDialect } from './unavailable.js';

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
  close(): Promise<void>;
}

/** How long to wait for a connection (new, or free in the pool) before the request fails as DATABASE_UNAVAILABLE. */
const CONNECT_TIMEOUT_MS = 5000;

/**
 * A statement whose text starts with this is prepared once per Postgres connection: the server
 * parses and plans it the first time, and each later run only binds and executes (for the
 * append, a few hundred microseconds less each time). For statements whose text is fixed (the
 * parameters vary, not the SQL). Where the server loses such a statement (a pooler that does not
 * keep prepared statements per client, such as PgBouncer before 1.21 in transaction mode; DISCARD
 * ALL), the statement runs again unprepared and that connection prepares none from then on.
 */
export const PREPARED = '/* prepared */ ';

/**
 * The server lost or cannot reuse a statement this connection prepared: 26000 (it does not exist:
 * a pooler that hands out server connections per transaction, or DISCARD ALL) and 0A000 (a cached
 * plan whose result type changed under it: a migration while this process ran).
 */
const LOST_PREPARED = new Set(['26000', '0A000']);

/** node-postgres's client, naming the statements marked PREPARED on this connection. */
class PreparingClient extends pg.Client {
  private readonly names = new Map<string, string>();
  /** Set once the server lost one of its statements: from then on this connection prepares none. */
  private unprepared = false;

  // Kysely runs every statement as query(text, values). The result is passed through as it is,
  // whichever of node-postgres's overloads was called.
  // biome-ignore lint/suspicious/noExplicitAny: the overloads' results differ; each is returned unchanged
  override query(...args: unknown[]): any {
    const [text, values] = args;
    if (
      !this.unprepared &&
      args.length === 2 &&
      typeof text === 'string' &&
      text.startsWith(PREPARED) &&
      Array.isArray(values)
    ) {
      let name = this.names.get(text);
      if (name === undefined) {
        name = `signet_${this.names.size + 1}`;
        this.names.set(text, name);
      }
      return (super.query({ name, text, values }) as Promise<unknown>).catch((error: unknown) => {
        if (!LOST_PREPARED.has(String((error as { code?: unknown }).code))) throw error;
        // Nothing ran (the statement failed before it executed): run it again as a plain one.
        this.unprepared = true;
        return super.query(text, values);
      });
    }
    return (super.query as (...rest: unknown[]) => unknown)(...args);
  }
}

export function pgliteDir(dataDir: string): string {
  return join(resolve(dataDir), 'pglite');
}

export async function connect(config: DbConfig): Promise<Db> {
  if (config.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: config.databaseUrl,
      max: config.poolSize ?? 10,
      application_name: 'signet',
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
      Client: PreparingClient,
    });
    // node-postgres reports a connection that breaks (its backend terminated, the server
    // restarted) as an 'error' event on the client and, while the client is idle, on the pool;
    // an 'error' event nobody listens to ends the process. The query it broke fails by itself
    // (DATABASE_UNAVAILABLE, see unavailable.ts) and the pool drops the client, so the event
    // itself needs nothing more than a listener.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<Database>({ dialect: guardDialect(new PostgresDialect({ pool })) });
    return { db, kind: 'postgres', close: () => db.destroy() };
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
  return { db, kind: 'pglite', close: () => db.destroy() };
}

const provider: MigrationProvider = { getMigrations: async () => migrations };

function migrator(db: Kysely<Database>): Migrator {
  return new Migrator({
    db,
    provider,
    migrationTableName: 'signet_migrations',
    migrationLockTableName: 'signet_migrations_lock',
  });
}

/** Runs every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<Database>): Promise<void> {
  const { error, results } = await migrator(db).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(
      `migration ${failed?.migrationName ?? '?'} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
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
