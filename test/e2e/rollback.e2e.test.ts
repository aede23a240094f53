import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, type RunningApp, startApp, startWorker } from '../support/app.js';
import { type Backend, newBackend, tempDir } from '../support/backends.js';
import { Gpg } from '../support/gpg.js';
import { rollBackStatements } from '../support/rollback.js';
import { StoryClient, day } from '../support/story.js';

// A log whose database loses its tail — a superuser deletes the last events, nodes and
// checkpoints (or a backup is restored), perhaps then regrown with other events — must be
// noticed: by the server, against the checkpoint it keeps in its data directory (it refuses to
// start, or goes unready and refuses to serve or extend it), and by an auditor who kept the state
// of the last audit (`signet audit --save`, then `--from-checkpoint`). And a server whose log
// tables are not append-only in the database refuses to start and is unready.

interface Report {
  ok: boolean;
  size: number;
  code?: string;
  message?: string;
}

describe('a rolled-back log, and log tables that are not append-only', () => {
  const gpg = new Gpg();
  const work = mkdtempSync(join(tmpdir(), 'signet-rollback-e2e-'));
  const s = new StoryClient(gpg, work, 'e2e.signet.test/rollback', join(work, 'clock'));
  const fpr: Record<string, string> = {};
  let backend: Backend;
  let app: RunningApp | null = null;
  let vkey = '';
  let env: Record<string, string | undefined>;
  /** A second server on the same database with the log key but another data directory (so not its checkpoint file). */
  const elsewhere = tempDir('signet-rollback-b-');
  let envB: Record<string, string | undefined>;
  let sql: postgres.Sql;

  const signet = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI_BIN, ...args], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const audit = (...args: string[]): Report & { exit: number | null } => {
    const r = signet('audit', '--server', s.url, '--vkey', vkey, '--json', ...args);
    return { ...(JSON.parse(r.out || '{}') as Report), exit: r.code };
  };
  const eventCount = async () => Number((await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM events`)[0]!.n);
  const addMember = (who: string) =>
    s.post(fpr.root!, { type: 'AddMember', key: gpg.exportKey(fpr[who]!), username: who, role: 'member' });
  /** Cuts the log back to `size` events, as a database superuser would. */
  const rollBack = (size: number) =>
    sql.begin(async (tx) => {
      for (const statement of rollBackStatements(size)) await tx.unsafe(statement);
    });
  async function startRefused(which: Record<string, string | undefined>): Promise<string> {
    const error = await startApp(which).then(
      async (started) => {
        await started.stop('SIGKILL');
        throw new Error('the server started');
      },
      (e: Error) => e.message,
    );
    expect(error).toMatch(/^the server exited \(1\) before serving/);
    return error;
  }
  async function use(which: Record<string, string | undefined>): Promise<void> {
    await app?.stop('SIGTERM');
    app = await startApp(which);
    s.url = app.url;
  }
  const get = async (path: string) => {
    const res = await fetch(`${s.url}${path}`);
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
  };

  beforeAll(async () => {
    Object.assign(
      fpr,
      gpg.genKeys(
        Object.fromEntries(
          ['root', 'alice', 'bob', 'carol', 'dave', 'erin', 'frank'].map((n) => [
            n,
            [`${n} <${n}@example.org>`, 'ed25519'],
          ]),
        ),
        day(-1),
      ),
    );
    backend = await newBackend('postgres');
    sql = postgres(backend.config.databaseUrl!, { max: 1, onnotice: () => undefined });
    s.setClock(day(0));
    env = {
      SIGNET_DATA_DIR: backend.config.dataDir,
      DATABASE_URL: backend.config.databaseUrl,
      SIGNET_CLOCK_FILE: s.clockFile,
      SIGNET_ALLOW_ED25519: '1',
      SIGNET_WORKERS: 'off',
    };
    ({ app, vkey } = await s.start(fpr.root!, env));
    envB = {
      ...env,
      SIGNET_DATA_DIR: elsewhere.path,
      SIGNET_LOG_KEY: readFileSync(join(backend.config.dataDir, 'log.key'), 'utf8').trim(),
    };
    for (const who of ['alice', 'bob', 'carol']) expect(addMember(who).status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await sql?.end();
    await backend?.cleanup();
    elsewhere.remove();
    gpg.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('keeps the largest checkpoint it signed in <dataDir>/checkpoint and its size in the metrics', async () => {
    expect(await s.size()).toBe(4);
    expect(readFileSync(join(backend.config.dataDir, 'checkpoint'), 'utf8')).toBe((await get('/log/checkpoint')).text);
    expect((await get('/metrics')).text).toMatch(/^signet_signed_tree_size 4$/m);
    expect(readdirSync(backend.config.dataDir).filter((f) => f.startsWith('checkpoint.'))).toEqual([]);
    const report = audit('--save', join(work, 'audit-4.json'));
    expect(report).toMatchObject({ exit: 0, ok: true, size: 4 });
  });

  it('refuses to start on a database whose tail a superuser deleted (LOG_ROLLED_BACK), and so does the worker; nothing is appended', async () => {
    await app!.stop('SIGTERM');
    app = null;
    await rollBack(3);
    const refused = await startRefused(env);
    expect(refused).toContain(
      'LOG_ROLLED_BACK: the database holds a tree of 3 events, smaller than the tree of 4 this log already signed',
    );
    await expect(startWorker(env)).rejects.toThrow(/the worker exited \(1\)[\s\S]*LOG_ROLLED_BACK/);
    expect(await eventCount()).toBe(3);
  });

  it('the resumed audit catches the truncated log (ROLLBACK) even from a server that lost its checkpoint file', async () => {
    await use(envB);
    expect(await s.size()).toBe(3);
    const resumed = audit('--from-checkpoint', join(work, 'audit-4.json'));
    expect(resumed).toMatchObject({
      exit: 1,
      ok: false,
      code: 'ROLLBACK',
      message: expect.stringContaining('the earlier audit saw 4'),
    });
    const human = signet('audit', '--server', s.url, '--vkey', vkey, '--from-checkpoint', join(work, 'audit-4.json'));
    expect([human.code, human.out]).toEqual([1, expect.stringMatching(/^FAILED: ROLLBACK: /)]);
    // Without the earlier audit's state, the smaller log audits clean: the reason to keep it.
    expect(audit()).toMatchObject({ exit: 0, ok: true, size: 3 });
  });

  it('the truncated log regrown to the same size, then beyond, with other events: INCONSISTENT for the resumed audit, LOG_ROLLED_BACK for the server', async () => {
    expect(addMember('dave').status).toBe(201);
    expect(await s.size()).toBe(4);
    expect(audit('--from-checkpoint', join(work, 'audit-4.json'))).toMatchObject({ exit: 1, code: 'INCONSISTENT' });
    expect(await startRefused(env)).toContain(
      "LOG_ROLLED_BACK: the database's tree at size 4 has another root than the checkpoint of that size this log already signed",
    );
    expect(addMember('erin').status).toBe(201);
    expect(await s.size()).toBe(5);
    expect(audit('--from-checkpoint', join(work, 'audit-4.json'))).toMatchObject({ exit: 1, code: 'INCONSISTENT' });
    expect(await startRefused(env)).toContain('LOG_ROLLED_BACK');
    expect(await eventCount()).toBe(5);
  });

  it('a log table whose append-only trigger is disabled: the running server goes unready (APPEND_ONLY_DISABLED), a new one refuses to start', async () => {
    expect((await get('/readyz')).json()).toEqual({ status: 'ok', database: 'postgres' });
    await sql.unsafe('ALTER TABLE cosignatures DISABLE TRIGGER cosignatures_append_only');
    try {
      const ready = await get('/readyz');
      expect([ready.status, ready.json()]).toEqual([
        503,
        {
          status: 'unsafe',
          database: 'postgres',
          code: 'APPEND_ONLY_DISABLED',
          message: expect.stringContaining(
            'cosignatures: nothing refuses UPDATE, DELETE (cosignatures_append_only is disabled)',
          ),
        },
      ]);
      await app!.stop('SIGTERM');
      app = null;
      expect(await startRefused(envB)).toContain(
        'APPEND_ONLY_DISABLED: the log tables are not append-only in the database: cosignatures',
      );
    } finally {
      await sql.unsafe('ALTER TABLE cosignatures ENABLE TRIGGER cosignatures_append_only');
    }
    await use(envB);
    expect((await get('/readyz')).status).toBe(200);
  });

  it('a running server whose database is cut back goes unready and refuses checkpoint reads and appends (LOG_ROLLED_BACK); nothing is appended', async () => {
    expect(await s.size()).toBe(5);
    await rollBack(4);
    const ready = await get('/readyz');
    expect([ready.status, ready.json()]).toEqual([
      503,
      {
        status: 'unsafe',
        database: 'postgres',
        code: 'LOG_ROLLED_BACK',
        message: expect.stringContaining('smaller than the tree of 5'),
      },
    ]);
    const checkpoint = await get('/log/checkpoint');
    expect([checkpoint.status, checkpoint.json().code]).toEqual([503, 'LOG_ROLLED_BACK']);
    const posted = addMember('frank');
    expect([posted.status, posted.body.code]).toEqual([503, 'LOG_ROLLED_BACK']);
    expect(await eventCount()).toBe(4);
  });
});
