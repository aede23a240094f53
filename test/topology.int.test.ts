import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '@signet/domain';
import { readPublicKey } from '@signet/pgp';
import { type SignetLog, configFromEnv, openLog, toBytes, toNumber } from '@signet/store';
import { type Hash, appendLeaves, hashesEqual, openCheckpoint, parseVerifierKey } from '@signet/tlog';
import { CLI_BIN, type RunningApp, TEST_PUBLIC_URL, startApp, startWorker } from './support/app.js';
import { type ThrowawayPostgres, tempDir, throwawayPostgres } from './support/backends.js';
import { checkLogIntegrity } from './support/integrity.js';
import { TestS3Server } from './support/s3.js';
import { PrivateRedis, allEvents, outcomesByCause, until } from './support/workers.js';

// The deployment's shape (README, Production): two API processes and two workers on one Postgres
// database, one Redis and an S3-compatible bucket, with a shared data directory. Sixteen clients
// send signed commands and package publications to both APIs, each write to one API and the
// next to the other, while the test kills one API and one worker with SIGKILL, terminates the
// database's backends and restarts Redis (empty). A write answered 503 or not answered at all is
// sent again, the same bytes, to the other API; a refusal (4xx) cannot be right here and fails
// the test. Afterwards: every acknowledged write is in a gapless log at the seqs it was
// acknowledged with, every checkpoint agrees with the leaves, each announcement, activation and
// archive snapshot is recorded exactly once, and `signet audit --require-artifacts` passes.
//
// The log's clock is a file (SIGNET_CLOCK_FILE) that the test moves forward 12 hours at a time,
// so keys wait out a one-day waiting period during the run. Their delayed activation jobs are due
// a real day later: the workers' activation sweep activates them, the path that catches a
// deployment's delayed job lost with Redis. The clock starts 40 days back: an auditor refuses
// events from its future.

const ORIGIN = 'signet.test/topology';
const CLIENTS = 16;
const PUBLICATIONS_PER_KEY = 3;
const ROLE_CHANGES_PER_KEY = 2;
/** Per client: the member, and per signing key (two): added, authorized, role changes, publications; the first retired. */
const WRITES_PER_CLIENT = 1 + 2 * (2 + ROLE_CHANGES_PER_KEY + PUBLICATIONS_PER_KEY) + 1;
const TOTAL_WRITES = CLIENTS * WRITES_PER_CLIENT;
const HOUR = 3_600_000;
const CLOCK_STEP_MS = 12 * HOUR;
const CLOCK_EVERY_MS = 1_500;
/** A write still unacknowledged after this long fails the test. */
const WRITE_DEADLINE_MS = 45_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SHA512 = { preferredHashAlgorithm: openpgp.enums.hash.sha512 };

interface Key {
  readonly name: string;
  readonly priv: openpgp.PrivateKey;
  readonly pub: string;
  readonly fpr: string;
}

async function makeKey(name: string, created: Date, signing = false): Promise<Key> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'curve25519',
    userIDs: [{ name, email: `${name}@example.org`, ...(signing ? { comment: 'CODE SIGNING KEY' } : {}) }],
    date: created,
    format: 'armored',
  });
  return {
    name,
    priv: await openpgp.readPrivateKey({ armoredKey: privateKey }),
    pub: publicKey,
    fpr: (await readPublicKey(publicKey)).facts.fingerprint,
  };
}

async function detachSign(key: Key, bytes: Uint8Array, date: Date): Promise<string> {
  return (await openpgp.sign({
    message: await openpgp.createMessage({ binary: bytes }),
    signingKeys: key.priv,
    detached: true,
    format: 'armored',
    date,
    config: SHA512,
  })) as string;
}

interface AckedEvent {
  readonly seq: number;
  readonly type: string;
  readonly stream: string;
  readonly data: unknown;
}

/** A write an API acknowledged: the events it answered with (none for a publication answered ALREADY_PUBLISHED after a lost answer). */
interface Ack {
  readonly what: string;
  readonly api: number;
  readonly events: AckedEvent[];
  /** The first answer was lost (503, or no answer): this one came from a later try. */
  readonly retried: boolean;
  readonly signature?: string;
}

class Refused extends Error {}

/** The log's clock: a file every process reads on each use, moved forward by the test only. */
class LogClock {
  now: Date;
  constructor(
    readonly file: string,
    start: Date,
  ) {
    this.now = start;
    this.write();
  }
  step(ms: number): void {
    this.now = new Date(this.now.getTime() + ms);
    this.write();
  }
  private write(): void {
    // Atomically: a process reads the file at any moment.
    writeFileSync(`${this.file}.tmp`, this.now.toISOString());
    renameSync(`${this.file}.tmp`, this.file);
  }
}

class Topology {
  readonly dir = tempDir('signet-topology-');
  readonly apis: RunningApp[] = [];
  readonly workers: RunningApp[] = [];
  readonly acks: Ack[] = [];
  readonly refusals: string[] = [];
  readonly answers = new Map<string, number>();
  readonly faults: string[] = [];
  retries = 0;
  crossApi = 0;
  clockSteps = 0;
  /**
   * The log's time each write in flight was signed at. The clock steps only when every one was
   * signed at its current time, so none is decided more than one step (12 h) after its
   * `issuedAt`, well inside the command window (a day), however long its retries take.
   */
  private readonly inFlight = new Set<{ readonly signedAt: number }>();
  clientsDone = false;
  /** Processes started in place of killed ones. */
  private readonly replacements: Promise<unknown>[] = [];
  root!: Key;
  clock!: LogClock;
  env!: Record<string, string>;

  constructor(
    readonly db: ThrowawayPostgres,
    readonly redis: PrivateRedis,
    readonly s3: TestS3Server,
    readonly blobUrl: string,
  ) {}

  async start(): Promise<void> {
    const t0 = new Date(Math.floor((Date.now() - 40 * 24 * HOUR) / 1000) * 1000);
    this.root = await makeKey('root', new Date(t0.getTime() - 24 * HOUR));
    writeFileSync(join(this.dir.path, 'root.asc'), this.root.pub);
    this.clock = new LogClock(join(this.dir.path, 'clock'), t0);
    this.env = {
      SIGNET_DATA_DIR: join(this.dir.path, 'data'),
      DATABASE_URL: this.db.url,
      REDIS_URL: this.redis.url,
      SIGNET_PUBLIC_URL: TEST_PUBLIC_URL,
      SIGNET_QUEUE: `signet-topology-${process.pid}`,
      SIGNET_WORKERS: 'off',
      SIGNET_BLOB_URL: this.blobUrl,
      ...this.s3.env(),
      SIGNET_ORIGIN: ORIGIN,
      SIGNET_ROOT_KEYS: join(this.dir.path, 'root.asc'),
      SIGNET_ALLOW_ED25519: '1',
      SIGNET_WAIT_DAYS: '1',
      SIGNET_COMMAND_WINDOW: '86400',
      SIGNET_CLOCK_FILE: this.clock.file,
      SIGNET_DB_POOL: '4',
      SIGNET_OUTBOX_POLL_MS: '50',
      SIGNET_RETRY_BASE_MS: '100',
      SIGNET_SWEEP_MS: '500',
      SIGNET_JOB_LOCK_MS: '1500',
    };
    // The first API creates the log; then the others join it.
    this.apis.push(await startApp(this.env));
    const [api, ...workers] = await Promise.all([startApp(this.env), startWorker(this.env), startWorker(this.env)]);
    this.apis.push(api);
    this.workers.push(...workers);
  }

  private count(status: number, code: string | undefined): void {
    const key = `${status || 'no answer'}${code ? ` ${code}` : ''}`;
    this.answers.set(key, (this.answers.get(key) ?? 0) + 1);
  }

  /**
   * Sends a write to API `first`, and after a 503 or no answer the same bytes to the other API,
   * until one acknowledges it. A publication answered ALREADY_PUBLISHED after a lost answer got
   * in with that lost answer; any other refusal is false here.
   */
  async write(
    what: string,
    signedAt: Date,
    first: number,
    request: (base: string) => Promise<Response>,
    signature?: string,
  ): Promise<Ack> {
    const started = Date.now();
    let api = first;
    let lost = false;
    const flight = { signedAt: signedAt.getTime() };
    this.inFlight.add(flight);
    try {
      for (;;) {
        let status = 0;
        let body: { code?: string; events?: AckedEvent[]; event?: AckedEvent } = {};
        try {
          const res = await request(this.apis[api]!.url);
          status = res.status;
          body = (await res.json()) as typeof body;
        } catch {
          // No answer: the process was killed, or its connection closed.
        }
        this.count(status, body.code);
        if (status >= 200 && status < 300) {
          const events = body.events ?? [body.event!];
          const ack = { what, api, events, retried: lost, signature };
          this.acks.push(ack);
          return ack;
        }
        if (lost && signature && status === 409 && body.code === 'ALREADY_PUBLISHED') {
          const ack = { what, api, events: [], retried: true, signature };
          this.acks.push(ack);
          return ack;
        }
        if (status !== 0 && status !== 503) {
          const refusal = `${what} refused by API ${api}: ${status} ${JSON.stringify(body)}`;
          this.refusals.push(refusal);
          throw new Refused(refusal);
        }
        if (Date.now() - started > WRITE_DEADLINE_MS)
          throw new Error(`${what}: not acknowledged in ${WRITE_DEADLINE_MS} ms`);
        lost = true;
        this.retries++;
        api = 1 - api;
        await sleep(100);
      }
    } finally {
      this.inFlight.delete(flight);
    }
  }

  async command(signer: Key, id: string, body: Record<string, unknown>, first: number): Promise<Ack> {
    const now = this.clock.now;
    const command = JSON.stringify({ origin: ORIGIN, id, issuedAt: now.toISOString(), ...body });
    const signature = await detachSign(signer, new TextEncoder().encode(command), now);
    const payload = JSON.stringify({ command, signature });
    return this.write(`${body.type} ${id}`, now, first, (base) =>
      fetch(`${base}/commands`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: payload,
        signal: AbortSignal.timeout(20_000),
      }),
    );
  }

  async publish(key: Key, name: string, version: string, first: number): Promise<Ack> {
    const artifact = new TextEncoder().encode(
      `${name} ${version}, signed by ${key.name}: ${randomBytes(8).toString('hex')}\n`,
    );
    const now = this.clock.now;
    const signature = await detachSign(key, artifact, now);
    return this.write(
      `publication ${name} ${version}`,
      now,
      first,
      (base) => {
        const form = new FormData();
        form.append('signature', new Blob([signature]), `${name}.zip.asc`);
        form.append('artifact', new Blob([artifact]), `${name}.zip`);
        return fetch(`${base}/packages/${name}/${version}/signatures`, {
          method: 'POST',
          body: form,
          signal: AbortSignal.timeout(20_000),
        });
      },
      signature,
    );
  }

  /** Waits until the key's history, read from either API in turn, shows its activation. */
  async activation(fpr: string, start: number): Promise<void> {
    let api = start;
    const deadline = Date.now() + WRITE_DEADLINE_MS;
    for (;;) {
      try {
        const res = await fetch(`${this.apis[api]!.url}/keys/${fpr}/history`, { signal: AbortSignal.timeout(20_000) });
        if (res.ok) {
          const history = (await res.json()) as { events: { event: EventEnvelope }[] };
          if (history.events.some((e) => e.event.type === 'SigningKeyActivated')) return;
        } else if (res.status !== 503) {
          const refusal = `the history of ${fpr} from API ${api}: ${res.status} ${await res.text()}`;
          this.refusals.push(refusal);
          throw new Refused(refusal);
        }
      } catch (error) {
        if (error instanceof Refused) throw error;
      }
      if (Date.now() > deadline) throw new Error(`the signing key ${fpr} was not activated in ${WRITE_DEADLINE_MS} ms`);
      api = 1 - api;
      await sleep(200);
    }
  }

  /** One client: a member added, who adds a signing key, publishes with it, rotates to a second and publishes again. */
  async client(i: number, member: Key, signing: [Key, Key]): Promise<void> {
    let turn = i % 2;
    const next = () => (turn = 1 - turn);
    let n = 0;
    const id = () => `c${i}-${++n}`;
    const added = await this.command(
      this.root,
      id(),
      { type: 'AddMember', key: member.pub, username: member.name, role: 'member' },
      next(),
    );
    // The member signs at once through the other API: it must know the member already.
    const first = await this.command(member, id(), { type: 'AddSigningKey', key: signing[0].pub }, 1 - added.api);
    if (first.api !== added.api) this.crossApi++;
    turn = first.api;
    let role = 'member';
    for (const [k, key] of signing.entries()) {
      if (k > 0) await this.command(member, id(), { type: 'AddSigningKey', key: key.pub }, next());
      await this.command(this.root, id(), { type: 'AuthorizeSigningKey', fingerprint: key.fpr }, next());
      if (k > 0)
        await this.command(
          member,
          id(),
          { type: 'RetireSigningKey', fingerprint: signing[0].fpr, reason: 'rotated' },
          next(),
        );
      // Role changes while the key waits out its period.
      for (let r = 0; r < ROLE_CHANGES_PER_KEY; r++) {
        role = role === 'member' ? 'leader' : 'member';
        await this.command(this.root, id(), { type: 'ChangeMemberRole', member: member.fpr, role }, next());
      }
      await this.activation(key.fpr, next());
      for (let p = 0; p < PUBLICATIONS_PER_KEY; p++) await this.publish(key, `pkg-${i}`, `${k + 1}.${p}`, next());
    }
  }

  /** The log's clock steps every CLOCK_EVERY_MS, when no write in flight was signed before the last step. */
  async tick(): Promise<void> {
    while (!this.clientsDone) {
      await sleep(CLOCK_EVERY_MS);
      const now = this.clock.now.getTime();
      if ([...this.inFlight].every((f) => f.signedAt === now) && !this.clientsDone) {
        this.clock.step(CLOCK_STEP_MS);
        this.clockSteps++;
      }
    }
  }

  /** Each fault once the clients have had that share of their writes acknowledged. */
  async inject(admin: pg.Client): Promise<void> {
    const dbName = new URL(this.db.url).pathname.slice(1);
    const plan: [number, string, () => Promise<string>][] = [
      [
        0.15,
        'kill -9 API 0',
        async () => {
          await this.apis[0]!.stop('SIGKILL');
          this.replacements.push(startApp(this.env).then((app) => (this.apis[0] = app)));
          return 'a replacement started';
        },
      ],
      [
        0.3,
        'kill -9 worker 0',
        async () => {
          await this.workers[0]!.stop('SIGKILL');
          await sleep(1_000);
          // Awaited: Redis restarts after every worker has started, so nothing a worker sets up
          // in Redis at its start (a job schedule) survives into the rest of the run.
          this.workers[0] = await startWorker(this.env);
          return 'replaced 1 s later';
        },
      ],
      [
        0.45,
        'Redis restarted empty',
        async () => {
          await this.redis.down();
          await sleep(500);
          await this.redis.up();
          return 'down 0.5 s';
        },
      ],
      [
        0.6,
        'database backends terminated',
        async () => {
          const { rows } = await admin.query<{ t: boolean }>(
            'SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
            [dbName],
          );
          return `${rows.filter((r) => r.t).length} backends`;
        },
      ],
    ];
    const started = Date.now();
    for (const [share, name, run] of plan) {
      await until(name, () => this.clientsDone || this.acks.length >= share * TOTAL_WRITES, 120_000, 20);
      if (this.clientsDone) break;
      const [at, when] = [this.acks.length, ((Date.now() - started) / 1000).toFixed(1)];
      this.faults.push(`${name} at write ${at}, ${when} s (${await run()})`);
    }
    await Promise.all(this.replacements);
  }

  /** What happened, and the workers' last words, for a failure's message. */
  diagnostics(): string {
    const tails = this.workers.map((w, i) => `--- worker ${i}:\n${w.output().slice(-2500)}`);
    return [`faults: ${this.faults.join('; ')}`, ...tails].join('\n');
  }

  async stop(): Promise<void> {
    for (const p of [...this.workers, ...this.apis]) await p.stop('SIGKILL');
    this.dir.remove();
  }
}

describe('two APIs and two workers on one Postgres, one Redis and S3, with processes killed and backends lost', () => {
  let db: ThrowawayPostgres;
  let redis: PrivateRedis;
  let s3: TestS3Server;
  let admin: pg.Client;
  let topology: Topology;
  let log: SignetLog | null = null;

  beforeAll(async () => {
    [db, redis, s3] = await Promise.all([throwawayPostgres(), PrivateRedis.start(), TestS3Server.start()]);
    admin = new pg.Client({ connectionString: new URL('/postgres', db.url).toString() });
    await admin.connect();
    topology = new Topology(db, redis, s3, `s3://${await s3.createBucket()}/topology`);
    await topology.start();
  }, 120_000);

  afterAll(async () => {
    await log?.close();
    await topology?.stop();
    await admin?.end();
    await redis?.down();
    await s3?.stop();
    await db?.drop();
  });

  it('loses no acknowledged write, refuses nothing falsely, records each outcome once, and audits OK', async () => {
    const started = Date.now();
    const t = topology;
    const members = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) => makeKey(`member${i}`, new Date(t.clock.now.getTime() - 24 * HOUR))),
    );
    const signing = await Promise.all(
      Array.from({ length: CLIENTS * 2 }, (_, j) =>
        makeKey(`sign${j >> 1}-${j & 1}`, new Date(t.clock.now.getTime() - 24 * HOUR), true),
      ),
    );
    const clients = Promise.allSettled(
      members.map((m, i) => t.client(i, m, [signing[2 * i]!, signing[2 * i + 1]!])),
    ).finally(() => (t.clientsDone = true));
    const [results] = await Promise.all([clients, t.inject(admin), t.tick()]);
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
    expect(t.refusals, 'false refusals').toEqual([]);
    expect(failures, t.diagnostics()).toEqual([]);
    expect(t.acks.length).toBe(TOTAL_WRITES);
    expect(t.faults).toHaveLength(4);
    // No answer but acknowledgements, 503 (DATABASE_UNAVAILABLE, LOG_BUSY…) and lost answers.
    expect([...t.answers.keys()].filter((k) => !/^(200|201|409 ALREADY_PUBLISHED|503 .*|no answer)$/.test(k))).toEqual(
      [],
    );
    for (const p of [...t.apis, ...t.workers]) {
      expect([p.child.exitCode, p.child.signalCode], p.output().slice(-3000)).toEqual([null, null]);
      expect(p.output()).not.toMatch(/TypeError|uncaught/i);
    }

    // The workers catch up: every consumer at the head with nothing pending, twice at the same size.
    let last = -1;
    await until(
      'the outbox to drain',
      async () => {
        try {
          const outbox = (await (await fetch(`${t.apis[1]!.url}/outbox`)).json()) as {
            treeSize: number;
            consumers: { nextSeq: number; pending: number }[];
          };
          const idle =
            outbox.consumers.length > 0 &&
            outbox.consumers.every((c) => c.nextSeq === outbox.treeSize && c.pending === 0);
          const settled = idle && outbox.treeSize === last;
          last = idle ? outbox.treeSize : -1;
          return settled;
        } catch {
          return false;
        }
      },
      30_000,
      300,
    );

    log = await openLog(configFromEnv(t.env));
    const size = await checkLogIntegrity(log);
    const events = await allEvents(log);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));

    // Every checkpoint signed is of a prefix of these leaves.
    const vkey = (await (await fetch(`${t.apis[1]!.url}/log/verifier-key`)).text()).trim();
    const verifier = parseVerifierKey(vkey);
    const rows = await log.db.db
      .selectFrom('checkpoints')
      .select(['tree_size', 'root_hash', 'note'])
      .orderBy('tree_size')
      .execute();
    const leaves = (await log.db.db.selectFrom('events').select('leaf_hash').orderBy('seq').execute()).map((r) =>
      toBytes(r.leaf_hash),
    );
    let tree: { size: number; frontier: Hash[] } = { size: 0, frontier: [] };
    for (const row of rows) {
      const cp = openCheckpoint(row.note, verifier);
      const n = toNumber(row.tree_size);
      if (n === 0) continue;
      const grown = appendLeaves(tree.size, tree.frontier, leaves.slice(tree.size, n));
      tree = grown;
      expect([cp.size, hashesEqual(cp.root, grown.root), hashesEqual(toBytes(row.root_hash), grown.root)]).toEqual([
        n,
        true,
        true,
      ]);
    }
    expect(tree.size).toBe(size);

    // Every acknowledged write is in the log, at the seqs it was acknowledged with, once.
    const firstSeqs = new Set<number>();
    for (const ack of t.acks) {
      for (const e of ack.events)
        expect(events[e.seq], ack.what).toMatchObject({ seq: e.seq, type: e.type, stream: e.stream, data: e.data });
      if (ack.events.length > 0) {
        expect(firstSeqs.has(ack.events[0]!.seq), ack.what).toBe(false);
        firstSeqs.add(ack.events[0]!.seq);
      }
      if (ack.signature)
        expect(
          events.filter((e) => e.type === 'PackageSignaturePublished' && e.data.signature === ack.signature),
          ack.what,
        ).toHaveLength(1);
    }

    // Each outcome once: an ADDING announcement per key's first authorization, a REMOVING one per
    // retirement, an activation per key, at most one archive snapshot per cause; nothing failed.
    const byType = (type: string) => events.filter((e) => e.type === type);
    const announced = outcomesByCause(events, 'AnnouncementPosted');
    const causes = [...byType('SigningKeyAuthorized'), ...byType('SigningKeyRetired')].map((e) => `atom/${e.seq}`);
    expect([...announced.keys()].sort()).toEqual(causes.sort());
    expect([...announced.values()].every((n) => n === 1)).toBe(true);
    const activations = new Map<string, number>();
    for (const e of byType('SigningKeyActivated')) {
      const fpr = (e.data as { fingerprint: string }).fingerprint;
      activations.set(fpr, (activations.get(fpr) ?? 0) + 1);
    }
    expect(Object.fromEntries(activations)).toEqual(Object.fromEntries(signing.map((k) => [k.fpr, 1])));
    const archived = outcomesByCause(events, 'ArchiveSnapshotTaken');
    expect(archived.size).toBeGreaterThan(0);
    expect([...archived.values()].every((n) => n === 1)).toBe(true);
    expect([byType('AnnouncementFailed').length, byType('ContinuityAlertRaised').length]).toEqual([0, 0]);
    expect(t.crossApi).toBeGreaterThan(0);

    // An auditor replays it all, fetching every artifact back from the bucket through the API.
    const audit = spawnSync(
      process.execPath,
      [CLI_BIN, 'audit', '--server', t.apis[0]!.url, '--vkey', vkey, '--require-artifacts'],
      { encoding: 'utf8' },
    );
    expect([audit.status, audit.stderr]).toEqual([0, '']);
    expect(audit.stdout).toMatch(/^OK: /m);

    const publications = t.acks.filter((a) => a.signature).length;
    console.log(
      [
        `topology: 2 APIs + 2 workers, Postgres, Redis, S3 (Ceph RGW); ${CLIENTS} clients, ${Math.round((Date.now() - started) / 100) / 10} s`,
        `  writes acknowledged: ${t.acks.length} (${t.acks.length - publications} commands, ${publications} publications), ${t.acks.filter((a) => a.retried).length} after a lost answer; ${t.retries} retries; false refusals: ${t.refusals.length}`,
        `  answers: ${[...t.answers].map(([k, v]) => `${k} ×${v}`).join(', ')}`,
        `  members used through the other API at once: ${t.crossApi}/${CLIENTS}`,
        `  faults: ${t.faults.join('; ')}; log clock stepped ${t.clockSteps} × 12 h`,
        `  log: ${size} events, gapless, ${rows.length} checkpoints agreeing; outcomes: ${byType('AnnouncementPosted').length} announcements, ${activations.size} activations, ${archived.size} archive snapshots, each once`,
        `  audit --require-artifacts: ${audit.stdout.split('\n')[0]}`,
      ].join('\n'),
    );
  }, 150_000);
});
