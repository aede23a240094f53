import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, PREPARED, connect } from '@signet/store';
import { type ThrowawayPostgres, tempDir, throwawayPostgres } from '../../../test/support/backends.js';
import { freePort } from '../../../test/support/workers.js';

// The store on a Postgres that goes away: whatever the driver says, the caller gets one error,
// DATABASE_UNAVAILABLE, and the next query gets a new connection. (The built server under faults:
// test/database-faults.int.test.ts.)

const unavailable = { code: 'DATABASE_UNAVAILABLE', retryAfterSeconds: 2 };

describe('a lost Postgres connection, at the store', () => {
  const dir = tempDir();
  let pgdb: ThrowawayPostgres;
  let db: Db;
  let admin: pg.Client;

  beforeAll(async () => {
    pgdb = await throwawayPostgres();
    db = await connect({ databaseUrl: pgdb.url, dataDir: dir.path, poolSize: 2 });
    admin = new pg.Client({ connectionString: new URL('/postgres', pgdb.url).toString() });
    await admin.connect();
  });

  afterAll(async () => {
    await db?.close();
    await admin?.end();
    await pgdb?.drop();
    dir.remove();
  });

  const terminate = (pid: number) => admin.query('select pg_terminate_backend($1)', [pid]);

  it('a transaction whose backend is terminated between two statements: DATABASE_UNAVAILABLE, then the next query works', async () => {
    const tx = db.db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
      await terminate(rows[0]!.pid);
      // The backend's FATAL and the end of its socket arrive while the connection is held by
      // the transaction, between statements.
      await new Promise((r) => setTimeout(r, 200));
      await sql`select 1`.execute(trx);
    });
    await expect(tx).rejects.toMatchObject(unavailable);
    expect((await sql<{ n: number }>`select 3 as n`.execute(db.db)).rows).toEqual([{ n: 3 }]);
  });

  it('a statement whose backend is terminated while it runs: DATABASE_UNAVAILABLE', async () => {
    const sleeping = sql`select pg_sleep(5)`.execute(db.db).then(
      () => null,
      (error: unknown) => error,
    );
    // Whichever pooled connection the sleep took: end every one of this database's backends.
    await new Promise((r) => setTimeout(r, 200));
    await admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [new URL(pgdb.url).pathname.slice(1)],
    );
    expect(await sleeping).toMatchObject(unavailable);
    // A statement sent before the pool has heard of its connection's end fails the same way
    // (the client sends it again); once it has, the pool connects anew.
    await new Promise((r) => setTimeout(r, 200));
    expect((await sql<{ n: number }>`select 4 as n`.execute(db.db)).rows).toEqual([{ n: 4 }]);
  });

  it('an idle pooled connection whose backend is terminated is replaced, and nothing is thrown at the process', async () => {
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db.db);
    await terminate(rows[0]!.pid);
    await new Promise((r) => setTimeout(r, 200));
    const again = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db.db);
    expect(again.rows[0]!.pid).not.toBe(rows[0]!.pid);
  });

  it('no server at the address: DATABASE_UNAVAILABLE at once', async () => {
    const nowhere = await connect({
      databaseUrl: `postgres://postgres@127.0.0.1:${await freePort()}/signet`,
      dataDir: dir.path,
    });
    try {
      await expect(sql`select 1`.execute(nowhere.db)).rejects.toMatchObject(unavailable);
    } finally {
      await nowhere.close();
    }
  });

  it('a statement marked PREPARED is prepared once per connection, and again on a new one', async () => {
    const marked = (n: number) =>
      sql<{ n: number; pid: number }>`${sql.raw(PREPARED)}select ${n}::int as n, pg_backend_pid() as pid`;
    const prepared = sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`;
    // One transaction: one connection for the three statements.
    const first = await db.db.transaction().execute(async (trx) => {
      const a = await marked(1).execute(trx);
      const b = await marked(2).execute(trx);
      return { rows: [...a.rows, ...b.rows], names: (await prepared.execute(trx)).rows };
    });
    expect(first.rows.map((r) => r.n)).toEqual([1, 2]);
    expect(first.names).toEqual([
      { name: expect.stringMatching(/^signet_\d+$/), statement: expect.stringContaining('select $1::int as n') },
    ]);
    // The connection ends; the statement runs on a new one, prepared there.
    await terminate(first.rows[0]!.pid);
    await new Promise((r) => setTimeout(r, 200));
    const again = await db.db.transaction().execute(async (trx) => {
      const rows = (await marked(3).execute(trx)).rows;
      await sql`select 5 as n`.execute(trx); // unmarked: not prepared
      return { rows, names: (await prepared.execute(trx)).rows };
    });
    expect(again.rows[0]).toMatchObject({ n: 3 });
    expect(again.rows[0]!.pid).not.toBe(first.rows[0]!.pid);
    expect(again.names).toEqual(first.names);
  });

  it('a prepared statement the server lost (a pooler, DISCARD ALL) runs again unprepared, and the connection prepares no more', async () => {
    // One connection, statements outside a transaction: as the append runs.
    const one = await connect({ databaseUrl: pgdb.url, dataDir: dir.path, poolSize: 1 });
    try {
      const marked = (n: number) => sql<{ n: number }>`${sql.raw(PREPARED)}select ${n}::int as n`;
      const prepared = sql<{ name: string }>`select name from pg_prepared_statements`;
      expect((await marked(1).execute(one.db)).rows).toEqual([{ n: 1 }]);
      // Any other failure of a prepared statement is the caller's, and the connection goes on preparing.
      await expect(sql`${sql.raw(PREPARED)}select 1 / ${0}::int as n`.execute(one.db)).rejects.toMatchObject({
        code: '22012',
      });
      expect((await prepared.execute(one.db)).rows).toHaveLength(2);
      await sql`DEALLOCATE ALL`.execute(one.db);
      expect((await marked(2).execute(one.db)).rows).toEqual([{ n: 2 }]);
      expect((await marked(3).execute(one.db)).rows).toEqual([{ n: 3 }]);
      expect((await prepared.execute(one.db)).rows).toEqual([]);
    } finally {
      await one.close();
    }
  });

  it('a statement the database refuses is not mistaken for a lost connection', async () => {
    await expect(sql`select * from no_such_table`.execute(db.db)).rejects.toMatchObject({ code: '42P01' });
  });
});
