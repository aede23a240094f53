import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { type SignetLog, configFromEnv, openLog } from '@signet/store';
import { CLI_BIN, type RunningApp, TEST_PUBLIC_URL, startApp, startWorker } from './support/app.js';
import { type ThrowawayPostgres, tempDir, throwawayPostgres } from './support/backends.js';
import { checkLogIntegrity } from './support/integrity.js';
import { PrivatePostgres } from './support/private-postgres.js';
import { until } from './support/workers.js';
import { ed25519 } from './support/keys.js';

// The built API and worker on Postgres, under concurrent signed commands, while the database goes
// away: its backends terminated, the server restarted, the server stopped for a few seconds. Both
// processes stay up; while the database is away they answer 503 DATABASE_UNAVAILABLE with a
// Retry-After, never a 500; /readyz follows the database; writes resume by themselves; and every
// acknowledged event is in a gapless log that audits OK.

const REDIS_URL = process.env.SIGNET_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const ORIGIN = 'signet.test/db-faults';
/** Concurrent clients, each toggling the role of its own member (so no command of one can refuse another's). */
const CLIENTS = 6;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  readonly at: number;
  readonly status: number;
  readonly code: string | undefined;
  readonly retryAfter: string | null;
}

interface Acknowledged {
  readonly id: string;
  readonly events: { seq: number; type: string; stream: string; data: unknown }[];
}

/** The API and the worker on one database, and signed commands sent to the API by several clients at once. */
class Stack {
  app!: RunningApp;
  worker!: RunningApp;
  readonly answers: Answer[] = [];
  readonly acknowledged: Acknowledged[] = [];
  readonly readyz: { at: number; status: number }[] = [];
  readonly reads: { at: number; status: number; path: string; code: string | undefined }[] = [];
  private readonly dir = tempDir('signet-db-faults-');
  private root!: Awaited<ReturnType<typeof ed25519>>;
  private members: Awaited<ReturnType<typeof ed25519>>[] = [];
  private n = 0;
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly databaseUrl: string) {}

  get env(): Record<string, string> {
    return {
      SIGNET_DATA_DIR: this.dir.path,
      DATABASE_URL: this.databaseUrl,
      SIGNET_PUBLIC_URL: TEST_PUBLIC_URL,
      SIGNET_ORIGIN: ORIGIN,
      SIGNET_ROOT_KEYS: join(this.dir.path, 'root.asc'),
      SIGNET_ALLOW_ED25519: '1',
      SIGNET_DB_POOL: '4',
      REDIS_URL,
      SIGNET_QUEUE: `signet-dbf-${process.pid}-${Date.now()}`,
      SIGNET_WORKERS: 'off',
      SIGNET_OUTBOX_POLL_MS: '50',
      SIGNET_RETRY_BASE_MS: '100',
      SIGNET_SWEEP_MS: '1000',
    };
  }

  async start(): Promise<void> {
    [this.root, ...this.members] = await Promise.all([
      ed25519('root'),
      ...Array.from({ length: CLIENTS }, (_, i) => ed25519(`m${i}`)),
    ]);
    writeFileSync(this.env.SIGNET_ROOT_KEYS!, this.root.pub);
    this.app = await startApp(this.env);
    this.worker = await startWorker(this.env);
    for (const [i, m] of this.members.entries()) {
      const answer = await this.post(
        await this.sign({ type: 'AddMember', key: m.pub, username: `m${i}`, role: 'member' }),
      );
      expect(answer.status).toBe(201);
    }
  }

  async sign(body: Record<string, unknown>): Promise<{ id: string; command: string; signature: string }> {
    const id = `c${++this.n}`;
    const command = JSON.stringify({ origin: ORIGIN, id, issuedAt: new Date().toISOString(), ...body });
    const signature = (await openpgp.sign({
      message: await openpgp.createMessage({ binary: new TextEncoder().encode(command) }),
      signingKeys: this.root.priv,
      detached: true,
    })) as string;
    return { id, command, signature };
  }

  /** Sends a command once; records the answer, and what it acknowledged. */
  async post(signed: { id: string; command: string; signature: string }): Promise<Answer> {
    let res: Response;
    let body: { code?: string; events?: Acknowledged['events'] };
    try {
      res = await fetch(`${this.app.url}/commands`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(signed),
      });
      body = (await res.json()) as typeof body;
    } catch (error) {
      // No answer at all: the server is gone (the check reports it).
      const answer = { at: Date.now(), status: 0, code: `NO_ANSWER ${(error as Error).message}`, retryAfter: null };
      this.answers.push(answer);
      return answer;
    }
    const answer = { at: Date.now(), status: res.status, code: body.code, retryAfter: res.headers.get('retry-after') };
    this.answers.push(answer);
    if (res.ok) this.acknowledged.push({ id: signed.id, events: body.events! });
    return answer;
  }

  /** Every client toggles its member's role, sending each command again after a 503 until it is acknowledged. */
  drive(): void {
    this.loops = this.members.map(async (m) => {
      let role = 'member';
      while (!this.stopping) {
        role = role === 'member' ? 'leader' : 'member';
        const signed = await this.sign({ type: 'ChangeMemberRole', member: m.fpr, role });
        for (;;) {
          const answer = await this.post(signed);
          if (answer.status === 0) return;
          if (answer.status !== 503) break;
          await sleep(100);
        }
      }
    });
    // Readiness, and reads that need the database, all the while.
    const poll = async () => {
      while (!this.stopping) {
        for (const path of ['/readyz', '/log/checkpoint', '/metrics', '/outbox']) {
          let status = 0;
          let code: string | undefined;
          try {
            const res = await fetch(`${this.app.url}${path}`);
            status = res.status;
            const text = await res.text();
            if (status >= 400 && path !== '/readyz') code = (JSON.parse(text) as { code?: string }).code;
          } catch {
            // no answer: recorded as status 0
          }
          if (path === '/readyz') this.readyz.push({ at: Date.now(), status });
          else this.reads.push({ at: Date.now(), status, path, code });
          if (status === 0) return;
        }
        await sleep(100);
      }
    };
    this.loops.push(poll());
  }

  async readyzIs(status: number): Promise<void> {
    await until(
      `/readyz ${status}`,
      async () => (await fetch(`${this.app.url}/readyz`)).status === status,
      30_000,
      100,
    );
  }

  /** Acknowledged answers after `since`. */
  acknowledgedAfter(since: number): number {
    return this.answers.filter((a) => a.at > since && a.status < 300).length;
  }

  async stopDriving(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  expectUp(): void {
    expect(this.app.child.exitCode, this.app.output().slice(-4000)).toBe(null);
    expect(this.worker.child.exitCode, this.worker.output().slice(-4000)).toBe(null);
  }

  /** Everything the test requires of the answers, the processes and the log once the faults are over. */
  async check(): Promise<void> {
    this.expectUp();
    expect(this.app.output()).not.toMatch(/TypeError|uncaught/i);
    const statuses = new Map<string, number>();
    for (const a of this.answers)
      statuses.set(`${a.status} ${a.code ?? ''}`.trim(), (statuses.get(`${a.status} ${a.code ?? ''}`.trim()) ?? 0) + 1);
    // Only acknowledgements (201, or 200 for a command sent again that had been logged) and 503s.
    expect(
      [...statuses.keys()].filter((k) => !/^(200|201|503 DATABASE_UNAVAILABLE)$/.test(k)),
      JSON.stringify([...statuses]),
    ).toEqual([]);
    for (const a of this.answers.filter((x) => x.status === 503)) expect(Number(a.retryAfter)).toBeGreaterThan(0);
    expect(this.readyz.filter((r) => r.status !== 200 && r.status !== 503)).toEqual([]);
    expect(
      this.reads.filter((r) => r.status !== 200 && !(r.status === 503 && r.code === 'DATABASE_UNAVAILABLE')),
    ).toEqual([]);
    expect(this.reads.length).toBeGreaterThan(0);
    // Ready now. (Not "the poll's last sample": the poll reads four paths in turn, and its last
    // /readyz may date from before the database came back while a later path waited for it.)
    expect((await fetch(`${this.app.url}/readyz`)).status).toBe(200);

    const config = { ...configFromEnv(this.env) };
    const log: SignetLog = await openLog(config);
    try {
      // The worker caught up with everything, its jobs done.
      await until(
        'the outbox to drain',
        async () => {
          const outbox = (await (await fetch(`${this.app.url}/outbox`)).json()) as {
            treeSize: number;
            consumers: { nextSeq: number; pending: number }[];
          };
          return (
            outbox.consumers.length > 0 &&
            outbox.consumers.every((c) => c.nextSeq === outbox.treeSize && c.pending === 0)
          );
        },
        30_000,
        100,
      );
      const size = await checkLogIntegrity(log);
      // Every acknowledged command's events are in the log as they were acknowledged, and once.
      const ids = new Map<string, number>();
      for (const ack of this.acknowledged) {
        expect(ack.events.length).toBeGreaterThan(0);
        for (const e of ack.events) {
          const stored = await log.reader.event(e.seq);
          expect(stored).toMatchObject({ seq: e.seq, type: e.type, stream: e.stream, data: e.data });
        }
        const first = ack.events[0]!.seq;
        expect(ids.get(ack.id) ?? first).toBe(first);
        ids.set(ack.id, first);
      }
      expect(new Set(ids.values()).size).toBe(ids.size);
      expect(size).toBeGreaterThan(ids.size);
    } finally {
      await log.close();
    }
    // An auditor replays the whole log from the server.
    const vkey = (await (await fetch(`${this.app.url}/log/verifier-key`)).text()).trim();
    const audit = spawnSync(process.execPath, [CLI_BIN, 'audit', '--server', this.app.url, '--vkey', vkey, '--json'], {
      encoding: 'utf8',
    });
    expect([audit.status, audit.stderr]).toEqual([0, '']);
    expect(JSON.parse(audit.stdout)).toMatchObject({ ok: true });
  }

  async close(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled(this.loops);
    await this.worker?.stop('SIGKILL');
    await this.app?.stop('SIGKILL');
    this.dir.remove();
  }
}

describe('the API and the worker on Postgres when the database goes away', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('survives its backends terminated 10 times under concurrent commands', async () => {
    const db: ThrowawayPostgres = await throwawayPostgres();
    cleanups.push(() => db.drop());
    const stack = new Stack(db.url);
    cleanups.push(() => stack.close());
    await stack.start();
    const name = new URL(db.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: new URL('/postgres', db.url).toString() });
    await admin.connect();
    cleanups.push(() => admin.end());

    stack.drive();
    await sleep(500);
    let terminated = 0;
    for (let i = 0; i < 10; i++) {
      const { rows } = await admin.query<{ t: boolean }>(
        'select pg_terminate_backend(pid) as t from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
        [name],
      );
      terminated += rows.filter((r) => r.t).length;
      await sleep(300);
    }
    const faultsOver = Date.now();
    stack.expectUp();
    expect(terminated).toBeGreaterThanOrEqual(10);
    await stack.readyzIs(200);
    await until('appends to resume', () => stack.acknowledgedAfter(faultsOver) >= 2 * CLIENTS, 30_000, 100);
    await stack.stopDriving();
    await stack.check();
  });

  it('survives Postgres restarted during writes, and stopped for a few seconds', async () => {
    const cluster = await PrivatePostgres.create();
    cleanups.push(() => cluster.remove());
    const stack = new Stack(cluster.url);
    cleanups.push(() => stack.close());
    await stack.start();

    stack.drive();
    for (let i = 0; i < 2; i++) {
      await sleep(700);
      await cluster.restart();
    }
    await sleep(700);
    await cluster.stop();
    const down = Date.now();
    stack.expectUp();
    // While it is down: not ready, and a write is answered 503 DATABASE_UNAVAILABLE with Retry-After.
    await stack.readyzIs(503);
    const late = await stack.sign({
      type: 'AddMember',
      key: (await ed25519('late')).pub,
      username: 'late',
      role: 'member',
    });
    const refused = await stack.post(late);
    expect(refused).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    const checkpoint = await fetch(`${stack.app.url}/log/checkpoint`);
    expect(checkpoint.status === 200 || checkpoint.status === 503).toBe(true);
    await sleep(Math.max(0, 3000 - (Date.now() - down)));
    await cluster.start();
    const up = Date.now();
    await stack.readyzIs(200);
    await until('appends to resume', () => stack.acknowledgedAfter(up) >= 2 * CLIENTS, 30_000, 100);
    await stack.stopDriving();
    // The refused command left nothing in the log; sent again, it is applied (once).
    const state = (await (await fetch(`${stack.app.url}/trust/state`)).json()) as { members: { username: string }[] };
    expect(state.members.map((m) => m.username)).not.toContain('late');
    expect(await stack.post(late)).toMatchObject({ status: 201 });
    expect(stack.readyz.some((r) => r.status === 503)).toBe(true);
    expect(stack.answers.some((a) => a.status === 503)).toBe(true);
    await stack.check();
  });
});
