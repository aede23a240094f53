import { type Kysely, sql } from 'kysely';
import { InfrastructureError } from '@signet/domain';
import type { Database } from './database.js';

/**
 * The tables that hold the log and its evidence; each refuses UPDATE, DELETE and TRUNCATE in the
 * database itself (migrations 0001, 0003, 0004). The outbox tables are not among them: cursors
 * and job rows move.
 */
export const APPEND_ONLY_TABLES = [
  'events',
  'tree_nodes',
  'checkpoints',
  'cosigned_checkpoints',
  'cosignatures',
] as const;

/** The trigger function of migrations/0001_log.ts, whose body must still be the one it gave. */
const REFUSE_FUNCTION = 'signet_refuse_change';
const REFUSE_BODY = `BEGIN RAISE EXCEPTION 'signet: % on % is refused: the log is append-only', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END`;

// pg_trigger.tgtype bits (PostgreSQL's include/catalog/pg_trigger.h).
const ROW = 1;
const BEFORE = 2;
const DELETE = 8;
const UPDATE = 16;
const TRUNCATE = 32;

interface TriggerRow {
  table: string;
  name: string;
  /** 'O' fires in origin and local mode (the default), 'A' always, 'R' only on replicas, 'D' never. */
  enabled: string;
  type: number;
  fn: string;
  body: string;
}

const squash = (text: string) => text.replace(/\s+/g, ' ').trim();

/**
 * What keeps the log tables from being append-only in the database, one sentence each: a
 * trigger missing, disabled (`ALTER TABLE … DISABLE TRIGGER`, tgenabled 'D', or made
 * replica-only), or its function replaced, and replication-role settings under which no trigger
 * fires. Empty when all is well. Same catalog on Postgres and PGlite.
 */
export async function appendOnlyProblems(db: Kysely<Database>): Promise<string[]> {
  const tables = sql.join(APPEND_ONLY_TABLES.map((t) => sql`to_regclass(${t})`));
  const { rows } = await sql<TriggerRow>`
    SELECT c.relname AS table, t.tgname AS name, t.tgenabled::text AS enabled, t.tgtype::int AS type, p.proname AS fn, p.prosrc AS body
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE t.tgrelid = ANY (ARRAY[${tables}]) AND NOT t.tgisinternal`.execute(db);
  const problems: string[] = [];
  const refusing = (row: TriggerRow) =>
    row.fn === REFUSE_FUNCTION && (row.enabled === 'O' || row.enabled === 'A') && (row.type & BEFORE) !== 0;
  for (const table of APPEND_ONLY_TABLES) {
    const mine = rows.filter((r) => r.table === table);
    const covers = (op: number, row: boolean) =>
      mine.some((r) => refusing(r) && (r.type & op) !== 0 && ((r.type & ROW) !== 0) === row);
    const missing = [
      ...(covers(UPDATE, true) ? [] : ['UPDATE']),
      ...(covers(DELETE, true) ? [] : ['DELETE']),
      ...(covers(TRUNCATE, false) ? [] : ['TRUNCATE']),
    ];
    if (missing.length === 0) continue;
    const off = mine
      .filter((r) => r.fn === REFUSE_FUNCTION && !refusing(r))
      .map((r) => `${r.name} is ${r.enabled === 'R' ? 'enabled on replicas only' : 'disabled'}`);
    problems.push(
      `${table}: nothing refuses ${missing.join(', ')}${off.length > 0 ? ` (${off.join('; ')})` : ' (the trigger is missing)'}`,
    );
  }
  const bodies = [...new Set(rows.filter((r) => r.fn === REFUSE_FUNCTION).map((r) => squash(r.body)))];
  if (bodies.some((b) => b !== REFUSE_BODY))
    problems.push(`the trigger function ${REFUSE_FUNCTION}() no longer refuses changes as migration 0001 made it`);
  // Under session_replication_role = replica, triggers enabled in origin mode do not fire.
  const { rows: roles } = await sql<{ own: string; defaults: number }>`
    SELECT current_setting('session_replication_role') AS own,
      (SELECT count(*)::int FROM pg_db_role_setting s, unnest(s.setconfig) AS setting
        WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database())) AND setting LIKE 'session_replication_role=%' AND setting <> 'session_replication_role=origin') AS defaults`.execute(
    db,
  );
  if (roles[0] && roles[0].own !== 'origin')
    problems.push(
      `this connection runs with session_replication_role = ${roles[0].own}, under which the triggers do not fire`,
    );
  if (roles[0] && roles[0].defaults > 0)
    problems.push(
      'a database or role default sets session_replication_role (ALTER DATABASE/ROLE … SET), under which the triggers do not fire',
    );
  return problems;
}

/** Throws APPEND_ONLY_DISABLED, naming each problem, unless every log table is append-only in the database. */
export async function assertAppendOnly(db: Kysely<Database>): Promise<void> {
  const problems = await appendOnlyProblems(db);
  if (problems.length === 0) return;
  throw new InfrastructureError(
    'APPEND_ONLY_DISABLED',
    `the log tables are not append-only in the database: ${problems.join('; ')}. Enable or re-create the triggers (ALTER TABLE … ENABLE TRIGGER ALL), find out who changed them, and audit the log (signet audit --from-checkpoint) before serving it again`,
  );
}
