import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '@signet/domain';
import {
  APPEND_ONLY_TABLES,
  CHECKPOINT_FILE,
  CosignatureStore,
  type Database,
  type Db,
  type SignetLog,
  appendOnlyProblems,
  connect,
  openLog,
} from '@signet/store';
import { encodeSignerKey, parseSignerKey, sha256, signCheckpoint } from '@signet/tlog';
import { BACKENDS, type Backend, newBackend, tempDir } from '../../../test/support/backends.js';
import { checkLogIntegrity } from '../../../test/support/integrity.js';
import { rollBackStatements } from '../../../test/support/rollback.js';
import { foreignDraft } from '../../../test/support/drafts.js';

// The log's integrity beyond its own code: every log table append-only in the database (checked
// at start and on demand), cosignatures kept like the rest of the evidence, and a database whose
// tail was cut (or cut and regrown) noticed against the checkpoint kept in the data directory.

const draft = (i: number) =>
  foreignDraft({ type: 'TestRecorded', v: 1, stream: `test/${i % 3}`, actor: 'log', data: { i }, evidence: null });

async function count(db: Kysely<Database>, table: 'events' | 'cosignatures'): Promise<number> {
  const r = await db.selectFrom(table).select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

async function run(db: Kysely<Database>, statements: readonly string[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const s of statements) await sql.raw(s).execute(trx);
  });
}

describe.each(BACKENDS)('log integrity on %s', (name) => {
  let backend: Backend;
  let log: SignetLog | null = null;
  const clock = new ManualClock('2026-11-24T10:00:00Z');
  const open = async (config = backend.config) => (log = await openLog(config, { clock }));
  const close = async () => {
    await log?.close();
    log = null;
  };
  /** The database without the log (PGlite takes one opener at a time, so the log is closed first). */
  async function withDatabase<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    await close();
    const db: Db = await connect({ databaseUrl: backend.config.databaseUrl, dataDir: backend.config.dataDir });
    try {
      return await fn(db.db);
    } finally {
      await db.close();
    }
  }

  beforeAll(async () => {
    backend = await newBackend(name);
    log = await openLog(backend.config, { init: true, clock });
    await log.writer.append([draft(1), draft(2)]);
    await log.writer.append([draft(3)]);
  });
  afterAll(async () => {
    await close();
    await backend.cleanup();
  });

  it('keeps every cosignature (a witness cosigning a size again adds a line), serves the newest of each witness, and refuses UPDATE, DELETE and TRUNCATE on them', async () => {
    const db = log!.db.db;
    const head = (await log!.reader.head())!;
    const store = new CosignatureStore(db);
    const line = (w: string, t: number) => ({ witness: w, keyHash: 7, timestamp: t, line: `— ${w} line-at-${t}\n` });
    expect(await store.record(head.size, head.note, [line('w1', 100), line('w2', 50)], clock.now())).toHaveLength(2);
    expect(await store.record(head.size, head.note, [line('w1', 200)], clock.now())).toHaveLength(1);
    // Not newer than the witness's newest: nothing is added.
    expect(
      await store.record(head.size, head.note, [line('w1', 150), line('w1', 200), line('w2', 50)], clock.now()),
    ).toEqual([]);
    expect(await count(db, 'cosignatures')).toBe(3);
    expect(await store.lines(head.size, head.note)).toEqual(['— w1 line-at-200\n', '— w2 line-at-50\n']);
    expect(await store.latest()).toEqual({
      size: head.size,
      note: head.note,
      lines: ['— w1 line-at-200\n', '— w2 line-at-50\n'],
    });

    for (const table of ['cosignatures', 'cosigned_checkpoints']) {
      await expect(sql.raw(`DELETE FROM ${table}`).execute(db)).rejects.toThrow(/append-only/);
      await expect(sql.raw(`TRUNCATE ${table} CASCADE`).execute(db)).rejects.toThrow(/append-only/);
    }
    await expect(sql`UPDATE cosignatures SET line = 'forged' WHERE witness = 'w1'`.execute(db)).rejects.toThrow(
      /append-only/,
    );
    await expect(sql`UPDATE cosigned_checkpoints SET note = 'forged'`.execute(db)).rejects.toThrow(/append-only/);
    expect(await count(db, 'cosignatures')).toBe(3);
    expect(await store.lines(head.size, head.note)).toEqual(['— w1 line-at-200\n', '— w2 line-at-50\n']);
  });

  it('finds every log table append-only, and names each way one stops being so', async () => {
    const db = log!.db.db;
    expect(await appendOnlyProblems(db)).toEqual([]);
    const cases: [string, string, string, RegExp][] = [
      [
        'disabled',
        'ALTER TABLE events DISABLE TRIGGER events_append_only',
        'ALTER TABLE events ENABLE TRIGGER events_append_only',
        /^events: nothing refuses UPDATE, DELETE \(events_append_only is disabled\)$/,
      ],
      [
        'all user triggers disabled',
        'ALTER TABLE cosignatures DISABLE TRIGGER USER',
        'ALTER TABLE cosignatures ENABLE TRIGGER USER',
        /^cosignatures: nothing refuses UPDATE, DELETE, TRUNCATE/,
      ],
      [
        'replica only',
        'ALTER TABLE tree_nodes ENABLE REPLICA TRIGGER tree_nodes_no_truncate',
        'ALTER TABLE tree_nodes ENABLE TRIGGER tree_nodes_no_truncate',
        /^tree_nodes: nothing refuses TRUNCATE \(tree_nodes_no_truncate is enabled on replicas only\)$/,
      ],
      [
        'dropped',
        'DROP TRIGGER checkpoints_append_only ON checkpoints',
        'CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints FOR EACH ROW EXECUTE FUNCTION signet_refuse_change()',
        /^checkpoints: nothing refuses UPDATE, DELETE \(the trigger is missing\)$/,
      ],
      [
        'truncate dropped',
        'DROP TRIGGER cosigned_checkpoints_no_truncate ON cosigned_checkpoints',
        'CREATE TRIGGER cosigned_checkpoints_no_truncate BEFORE TRUNCATE ON cosigned_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION signet_refuse_change()',
        /^cosigned_checkpoints: nothing refuses TRUNCATE/,
      ],
      [
        'function replaced',
        `CREATE OR REPLACE FUNCTION signet_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$`,
        `CREATE OR REPLACE FUNCTION signet_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'signet: % on % is refused: the log is append-only', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$`,
        /no longer refuses changes/,
      ],
      [
        'a database default replication role',
        `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET session_replication_role = replica', current_database()); END $$`,
        `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET session_replication_role', current_database()); END $$`,
        /a database or role default sets session_replication_role/,
      ],
    ];
    for (const [what, breakIt, repair, problem] of cases) {
      await sql.raw(breakIt).execute(db);
      const problems = await appendOnlyProblems(db);
      await sql.raw(repair).execute(db);
      expect([what, problems.length, problems[0]]).toEqual([what, 1, expect.stringMatching(problem)]);
    }
    for (const table of APPEND_ONLY_TABLES) {
      await sql.raw(`ALTER TABLE ${table} DISABLE TRIGGER USER`).execute(db);
      const problems = await appendOnlyProblems(db);
      await sql.raw(`ALTER TABLE ${table} ENABLE TRIGGER USER`).execute(db);
      expect(problems).toEqual([
        expect.stringMatching(new RegExp(`^${table}: nothing refuses UPDATE, DELETE, TRUNCATE \\(.*disabled\\)$`)),
      ]);
    }
    expect(await appendOnlyProblems(db)).toEqual([]);
    await expect(sql`UPDATE events SET type = 'Forged' WHERE seq = 0`.execute(db)).rejects.toThrow(/append-only/);
  });

  it('refuses to open (APPEND_ONLY_DISABLED) while a log table’s trigger is disabled, and appends nothing', async () => {
    const before = await count(log!.db.db, 'events');
    for (const table of ['events', 'cosignatures']) {
      await withDatabase((db) => sql.raw(`ALTER TABLE ${table} DISABLE TRIGGER USER`).execute(db));
      const refused = await openLog(backend.config, { clock, init: true }).then(
        async (l) => {
          await l.close();
          return null;
        },
        (error: unknown) => error,
      );
      expect([table, refused]).toMatchObject([
        table,
        { code: 'APPEND_ONLY_DISABLED', message: expect.stringContaining(`${table}: nothing refuses`) },
      ]);
      await withDatabase(async (db) => {
        expect(await count(db, 'events')).toBe(before);
        await sql.raw(`ALTER TABLE ${table} ENABLE TRIGGER USER`).execute(db);
      });
    }
    await open();
    expect(await log!.reader.size()).toBe(before);
  });

  it('keeps the largest signed checkpoint in <dataDir>/checkpoint, replaced atomically as the head grows', async () => {
    const file = join(backend.config.dataDir, CHECKPOINT_FILE);
    for (let i = 0; i < 3; i++) {
      await log!.writer.append([draft(10 + i)]);
      const head = (await log!.reader.head())!;
      expect(readFileSync(file, 'utf8')).toBe(head.note);
      expect(log!.watermark.size).toBe(head.size);
    }
    expect(readdirSync(backend.config.dataDir).filter((f) => f.startsWith(`${CHECKPOINT_FILE}.`))).toEqual([]);
  });

  it('refuses to open a log whose tail a superuser deleted (LOG_ROLLED_BACK), and appends nothing', async () => {
    const size = await log!.reader.size();
    const file = join(backend.config.dataDir, CHECKPOINT_FILE);
    const signed = readFileSync(file, 'utf8');
    await withDatabase((db) => run(db, rollBackStatements(size - 2)));
    await expect(openLog(backend.config, { clock, init: true })).rejects.toMatchObject({
      code: 'LOG_ROLLED_BACK',
      message: expect.stringContaining(`smaller than the tree of ${size} this log already signed`),
    });
    await withDatabase(async (db) => expect(await count(db, 'events')).toBe(size - 2));
    expect(readFileSync(file, 'utf8')).toBe(signed);
  });

  it('refuses a tail regrown to the same size, or beyond, with other events (another root)', async () => {
    const signedSize = Number(readFileSync(join(backend.config.dataDir, CHECKPOINT_FILE), 'utf8').split('\n')[1]);
    // Regrown by a process that has the log key but not the data directory (so not its checkpoint).
    const elsewhere = tempDir();
    const logKey = readFileSync(join(backend.config.dataDir, 'log.key'), 'utf8').trim();
    const config = { ...backend.config, logKey, dataDir: elsewhere.path };
    try {
      if (name === 'pglite') {
        // The database lives in the data directory: give the other process a copy.
        await close();
        copyDatabase(backend.config.dataDir, elsewhere.path);
      } else {
        await close();
      }
      const other = await openLog(config, { clock });
      await other.writer.append([draft(100), draft(101)]);
      expect(await other.reader.size()).toBe(signedSize);
      await other.close();
      if (name === 'pglite') copyDatabase(elsewhere.path, backend.config.dataDir);
      await expect(openLog(backend.config, { clock })).rejects.toMatchObject({
        code: 'LOG_ROLLED_BACK',
        message: expect.stringContaining(`at size ${signedSize} has another root`),
      });

      const again = await openLog(config, { clock });
      await again.writer.append([draft(102)]);
      await again.close();
      if (name === 'pglite') copyDatabase(elsewhere.path, backend.config.dataDir);
      await expect(openLog(backend.config, { clock })).rejects.toMatchObject({
        code: 'LOG_ROLLED_BACK',
        message: expect.stringContaining(`at size ${signedSize} has another root`),
      });
      await withDatabase(async (db) => expect(await count(db, 'events')).toBe(signedSize + 1));
    } finally {
      elsewhere.remove();
    }
  });

  it('a log whose database is cut back while it runs refuses to read its head or append, and appends nothing', async () => {
    // Start over from what the database holds now: the operator moved the checkpoint file away.
    const file = join(backend.config.dataDir, CHECKPOINT_FILE);
    rmSync(file);
    await open();
    expect(existsSync(file)).toBe(true);
    await log!.writer.append([draft(200)]);
    const size = await log!.reader.size();
    expect(log!.watermark.size).toBe(size);
    const superuser =
      name === 'postgres'
        ? await connect({ databaseUrl: backend.config.databaseUrl, dataDir: backend.config.dataDir })
        : null;
    try {
      // PGlite has one connection: the superuser's statements go through the log's own.
      await run(superuser?.db ?? log!.db.db, rollBackStatements(size - 1));
      await expect(log!.reader.head()).rejects.toMatchObject({ code: 'LOG_ROLLED_BACK' });
      await expect(log!.writer.append([draft(201)])).rejects.toMatchObject({ code: 'LOG_ROLLED_BACK' });
      await expect(log!.writer.append([draft(202)], { expectedSize: size - 1 })).rejects.toMatchObject({
        code: 'LOG_ROLLED_BACK',
      });
      expect(await count(log!.db.db, 'events')).toBe(size - 1);
    } finally {
      await superuser?.close();
    }
    await close();
  });

  it('refuses a checkpoint file that is not this log’s (BAD_CHECKPOINT_FILE)', async () => {
    const file = join(backend.config.dataDir, CHECKPOINT_FILE);
    const other = encodeSignerKey('signet.test/log', sha256('another key'));
    writeFileSync(
      file,
      signCheckpoint(
        { origin: 'signet.test/log', size: 1, root: sha256('x'), extensions: [] },
        parseSignerKey(other).signer,
      ),
    );
    await expect(openLog(backend.config, { clock })).rejects.toMatchObject({
      code: 'BAD_CHECKPOINT_FILE',
      message: expect.stringContaining(file),
    });
    writeFileSync(file, 'half a chec');
    await expect(openLog(backend.config, { clock })).rejects.toMatchObject({ code: 'BAD_CHECKPOINT_FILE' });
    // Without the file, the database's head is taken as it is (and the file written again).
    rmSync(file);
    await open();
    await checkLogIntegrity(log!);
    expect(readFileSync(file, 'utf8')).toBe((await log!.reader.head())!.note);
  });
});

/** PGlite keeps its database in the data directory: copy it (closed) from one to the other. */
function copyDatabase(from: string, to: string): void {
  rmSync(join(to, 'pglite'), { recursive: true, force: true });
  cpSync(join(from, 'pglite'), join(to, 'pglite'), { recursive: true });
}
