import { parseFeed } from '@rowanmanning/feed-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, ManualClock } from '@signet/domain';
import {
  BullQueue,
  InProcessQueue,
  type JobQueue,
  type WorkerObserver,
  type Workers,
  startWorkers,
  Workers as WorkersClass,
} from '@signet/jobs';
import { renderAtomFeed } from '@signet/render';
import { type Sequencer, type TrustProjection, createServices } from '@signet/service';
import { type SignetConfig, type SignetLog, openLog } from '@signet/store';
import { BACKENDS, type Backend, newBackend } from '../../../test/support/backends.js';
import {
  PrivateRedis,
  type Receiver,
  allEvents,
  hmacValid,
  keyDrafts,
  keyFpr,
  outcomesByCause,
  receiver,
  until,
} from '../../../test/support/workers.js';

// The workers against real Postgres and PGlite and a real Redis: exactly-once outcomes through
// restarts, retries with backoff, a Redis outage, and the channels against local HTTP servers.

const REDIS_URL = process.env.SIGNET_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
let queues = 0;
const queueName = () => `signet-test-${process.pid}-${Date.now()}-${++queues}`;

function workerConfig(
  base: SignetConfig,
  overrides: {
    redisUrl?: string;
    webhookUrl?: string;
    webhookSecret?: string;
    mastodonUrl?: string;
    mastodonToken?: string;
    attempts?: number;
  } = {},
): SignetConfig {
  return {
    ...base,
    redisUrl: overrides.redisUrl,
    publicUrl: 'https://keys.example.org',
    announce: {
      webhookUrl: overrides.webhookUrl,
      webhookSecret: overrides.webhookSecret,
      mastodonUrl: overrides.mastodonUrl,
      mastodonToken: overrides.mastodonToken,
      attempts: overrides.attempts ?? 8,
    },
    archive: { triggers: [] },
    jobs: { pollMs: 20, sweepMs: 300, retryBaseMs: 100, lockMs: 1000, concurrency: 4, queue: queueName() },
  };
}

interface Fixture {
  log: SignetLog;
  projection: TrustProjection;
  decider: Sequencer;
  config: SignetConfig;
  clock: ManualClock;
  start(options?: { queue?: 'bullmq' | 'in-process'; wrap?: (q: JobQueue) => JobQueue }): Promise<Workers>;
  /** Waits until every consumer has looked at the whole log and has nothing pending. */
  settle(workers: Workers, timeoutMs?: number): Promise<void>;
}

async function fixture(backend: Backend, config: SignetConfig, observer?: WorkerObserver): Promise<Fixture> {
  const clock = new ManualClock('2026-01-01T00:00:00Z');
  const log = await openLog(config, {
    init: true,
    clock,
    policy: { ...DEFAULT_POLICY, rootKeys: [] },
    inMemory: backend.name === 'pglite',
  });
  const services = await createServices(log, config, clock);
  const { projection, sequencer: decider } = services;
  const context = {
    services,
    config,
    onError: (what: string, error: unknown) => console.error(`[workers] ${what}:`, (error as Error).message),
    observer,
  };
  return {
    log,
    projection,
    decider,
    config,
    clock,
    async start(options = {}) {
      if (!options.wrap) return startWorkers(context, { queue: options.queue });
      // A queue wrapped by the test (to fail at chosen points).
      let workers: WorkersClass | null = null;
      const retry = (c: string) => workers!.retryOf(c);
      const inner: JobQueue =
        options.queue === 'in-process'
          ? new InProcessQueue(retry, config.jobs.concurrency)
          : new BullQueue({
              url: config.redisUrl!,
              name: config.jobs.queue,
              retry,
              concurrency: config.jobs.concurrency,
              lockMs: config.jobs.lockMs,
            });
      workers = new WorkersClass(context, options.wrap(inner));
      await workers.start();
      return workers;
    },
    async settle(workers, timeoutMs = 30_000) {
      let last = '';
      await until(
        'the outbox to drain',
        async () => {
          const size = await log.reader.size();
          const status = await workers.status();
          last = `size ${size}: ${JSON.stringify(status)}`;
          return status.every((c) => c.nextSeq === size && c.pending === 0);
        },
        timeoutMs,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; ${last}`);
      });
    },
  };
}

describe.each(BACKENDS)('workers on %s', (backendName) => {
  let backend: Backend;
  let f: Fixture;
  let added = 0;

  /** Appends `count` authorized keys (the leader with the first batch). */
  async function addKeys(count: number): Promise<void> {
    const from = added;
    added += count;
    await f.log.writer.append(keyDrafts(from, count, from === 0));
  }

  beforeAll(async () => {
    backend = await newBackend(backendName);
    f = await fixture(backend, workerConfig(backend.config, { redisUrl: REDIS_URL }));
  });

  afterAll(async () => {
    await f?.log.close();
    await backend?.cleanup();
  });

  it('dispatcher and workers restarted at random points: every (consumer, event) handled exactly once in effect', async () => {
    let attempts = 0;
    let failures = 0;
    // Between the outbox transaction and the queue, every third enqueue fails (a crash there),
    // the first one included: counted, not drawn, so a slow run cannot miss the fault.
    const flaky = (q: JobQueue): JobQueue => ({
      enqueue: async (jobs, options) => {
        if (!options?.resend && attempts++ % 3 === 0) {
          failures++;
          throw new Error('simulated crash before the queue heard of it');
        }
        return q.enqueue(jobs, options);
      },
      holding: () => q.holding(),
      start: (h, p) => q.start(h, p),
      notReady: () => q.notReady(),
      close: () => q.close(),
    });
    for (let round = 0; round < 8; round++) {
      const before = attempts;
      const workers = await f.start({ wrap: flaky });
      const appends = Array.from({ length: 3 }, () => addKeys(2));
      await new Promise((r) => setTimeout(r, Math.random() * 150));
      // Every other round runs at least to an enqueue, however slow the machine; the others stop
      // wherever the random delay ends (at start-up, too).
      if (round % 2 === 0) await until('an enqueue in this round', () => attempts > before, 15_000);
      await workers.stop();
      await Promise.all(appends);
    }
    const workers = await f.start();
    await f.settle(workers);
    await workers.stop();
    expect(failures).toBeGreaterThan(0);

    const events = await allEvents(f.log);
    const authorized = events.filter((e) => e.type === 'SigningKeyAuthorized').map((e) => e.seq);
    expect(authorized).toHaveLength(added);
    const posted = outcomesByCause(events, 'AnnouncementPosted');
    expect([...posted.keys()].sort()).toEqual(authorized.map((s) => `atom/${s}`).sort());
    expect([...posted.values()].every((n) => n === 1)).toBe(true);
    // Every key is in its waiting period (14 days of the clock have not passed): none activated.
    expect(events.filter((e) => e.type === 'SigningKeyActivated')).toHaveLength(0);
    // The archiver took snapshots, each answering a different event; the latest shows every key.
    const snapshots = outcomesByCause(events, 'ArchiveSnapshotTaken');
    expect([...snapshots.values()].every((n) => n === 1)).toBe(true);
    expect(Object.keys(f.projection.state.archive!.keys).sort()).toEqual(
      Array.from({ length: added }, (_, i) => keyFpr(i)).sort(),
    );
  });

  it('activates keys when their waiting period ends (delayed jobs, and the sweep when the clock jumps)', async () => {
    const workers = await f.start({ queue: 'bullmq' });
    f.clock.advance(15 * 86_400_000);
    await until(
      'every key activated',
      () => f.projection.catchUp().then((s) => [...s.signingKeys.values()].every((k) => k.activatedAt !== null)),
      15_000,
    );
    await f.settle(workers);
    await workers.stop();
    const events = await allEvents(f.log);
    const activated = events.filter((e) => e.type === 'SigningKeyActivated');
    expect(activated).toHaveLength(added);
    expect(new Set(activated.map((e) => e.data.fingerprint)).size).toBe(added);
  });
});

describe('channels, retries and a Redis outage (Postgres, BullMQ)', () => {
  let backend: Backend;
  const secret = 'webhook secret';
  const token = 'mastodon-token';
  let webhook: Receiver;
  let mastodon: Receiver;
  let failing: Receiver;

  beforeAll(async () => {
    backend = await newBackend('postgres');
    webhook = await receiver((d, res) => {
      const ok = hmacValid(d, secret);
      res
        .writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
        .end(
          JSON.stringify(ok ? { url: `https://hooks.example/${JSON.parse(d.body).id}` } : { error: 'bad signature' }),
        );
    });
    const statuses = new Map<string, string>();
    mastodon = await receiver((d, res) => {
      const key = d.headers['idempotency-key'] as string | undefined;
      if (d.headers.authorization !== `Bearer ${token}`)
        return void res.writeHead(401).end('{"error":"The access token is invalid"}');
      if (!key) return void res.writeHead(422).end('{"error":"no idempotency key"}');
      // Mastodon answers a repeated Idempotency-Key with the status it already made.
      if (!statuses.has(key)) statuses.set(key, `https://social.example/@keys/${statuses.size + 1}`);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ id: String(statuses.size), url: statuses.get(key), content: JSON.parse(d.body).status }));
    });
    failing = await receiver((_d, res) => res.writeHead(503).end('down for maintenance'));
  });

  afterAll(async () => {
    await Promise.all([webhook?.close(), mastodon?.close(), failing?.close()]);
    await backend?.cleanup();
  });

  it('posts to the webhook (HMAC-signed) and Mastodon (token, Idempotency-Key) and feeds Atom; records each post once', async () => {
    const f = await fixture(
      backend,
      workerConfig(backend.config, {
        redisUrl: REDIS_URL,
        webhookUrl: `${webhook.url}/hook`,
        webhookSecret: secret,
        mastodonUrl: mastodon.url,
        mastodonToken: token,
      }),
    );
    try {
      await f.log.writer.append(keyDrafts(0, 3, true));
      await f.log.writer.append([
        {
          type: 'SigningKeyRetired',
          v: 1,
          stream: `signing-key/${keyFpr(0)}`,
          actor: 'A'.repeat(40),
          data: { fingerprint: keyFpr(0), reason: 'rotated' },
          evidence: null,
        },
      ]);
      const workers = await f.start();
      await f.settle(workers);
      await workers.stop();
      const events = await allEvents(f.log);
      const posted = events.filter((e) => e.type === 'AnnouncementPosted').map((e) => e.data);
      expect(posted.filter((p) => p.channel === 'atom')).toHaveLength(4);
      expect(new Set(posted.filter((p) => p.channel === 'webhook').map((p) => p.url))).toEqual(
        new Set(webhook.deliveries.map((d) => `https://hooks.example/${JSON.parse(d.body).id}`)),
      );
      expect(
        posted.filter((p) => p.channel === 'mastodon').every((p) => p.url.startsWith('https://social.example/@keys/')),
      ).toBe(true);
      expect(
        posted
          .filter((p) => p.kind === 'REMOVING')
          .map((p) => p.channel)
          .sort(),
      ).toEqual(['atom', 'mastodon', 'webhook']);
      expect(webhook.deliveries).toHaveLength(4);
      expect(webhook.deliveries.every((d) => hmacValid(d, secret))).toBe(true);
      expect(mastodon.deliveries).toHaveLength(4);
      expect(new Set(mastodon.deliveries.map((d) => d.headers['idempotency-key'])).size).toBe(4);
      expect(JSON.parse(mastodon.deliveries[0]!.body)).toEqual({
        status: expect.stringMatching(/^(ADDING|REMOVING) Package Signing Key of ~user\d /),
        visibility: 'public',
      });

      // The Atom feed, as a real feed parser reads it.
      const feed = parseFeed(renderAtomFeed(f.projection.state, f.config.publicUrl));
      expect(feed.meta.type).toBe('atom');
      expect(feed.self).toBe('https://keys.example.org/announcements.atom');
      expect(feed.items).toHaveLength(4);
      expect(feed.items[0]!.title).toBe(
        `REMOVING Package Signing Key of ~user0 (${keyFpr(0).replace(/(.{4})(?!$)/g, '$1 ')}).`,
      );
      expect(
        feed.items.every(
          (i) => i.url?.startsWith('https://keys.example.org/announcements/') && i.updated instanceof Date,
        ),
      ).toBe(true);
    } finally {
      await f.log.close();
    }
  });

  it('retries a failing webhook with backoff, then records it as failed, without holding up the other channels', async () => {
    const other = await newBackend('postgres');
    // What the workers tell the process (its metrics): every try, the failure recorded, the jobs' outcomes.
    const told: string[] = [];
    const observer: WorkerObserver = {
      jobRan: (consumer, outcome) => told.push(`job ${consumer} ${outcome}`),
      announcementPosted: (channel) => told.push(`posted ${channel}`),
      announcementPostFailed: (channel) => told.push(`post failed ${channel}`),
      announcementFailed: (channel) => told.push(`failed ${channel}`),
    };
    const f = await fixture(
      other,
      workerConfig(other.config, { redisUrl: REDIS_URL, webhookUrl: failing.url, attempts: 3 }),
      observer,
    );
    try {
      await f.log.writer.append(keyDrafts(0, 1, true));
      const workers = await f.start();
      await f.settle(workers);
      await workers.stop();
      const events = await allEvents(f.log);
      const failed = events.filter((e) => e.type === 'AnnouncementFailed');
      expect(failed.map((e) => e.data)).toEqual([
        expect.objectContaining({
          channel: 'webhook',
          kind: 'ADDING',
          attempts: 3,
          error: expect.stringContaining('HTTP 503'),
        }),
      ]);
      expect(failing.deliveries).toHaveLength(3);
      const gaps = failing.deliveries.slice(1).map((d, i) => d.at - failing.deliveries[i]!.at);
      expect(gaps[0]).toBeGreaterThanOrEqual(90);
      expect(gaps[1]).toBeGreaterThanOrEqual(190);
      // The Atom post was recorded before the webhook gave up.
      const atom = events.find((e) => e.type === 'AnnouncementPosted' && e.data.channel === 'atom')!;
      expect(atom.seq).toBeLessThan(failed[0]!.seq);
      const count = (what: string) => told.filter((t) => t === what).length;
      expect([
        count('post failed webhook'),
        count('failed webhook'),
        count('posted atom'),
        count('job announce-webhook error'),
        count('job announce-webhook done'),
      ]).toEqual([3, 1, 1, 2, 1]);
    } finally {
      await f.log.close();
      await other.cleanup();
    }
  });

  it('a post failing in a job of several: the others are recorded at once, the failing one retried, then recorded as failed', async () => {
    const other = await newBackend('postgres');
    // Fails the post about key 1 only.
    const picky = await receiver((d, res) =>
      res.writeHead(JSON.parse(d.body).fingerprint === keyFpr(1) ? 503 : 204).end('not this one'),
    );
    const told: string[] = [];
    const observer: WorkerObserver = {
      jobRan: (consumer, outcome) => told.push(`job ${consumer} ${outcome}`),
      announcementPosted: (channel) => told.push(`posted ${channel}`),
      announcementPostFailed: (channel) => told.push(`post failed ${channel}`),
      announcementFailed: (channel) => told.push(`failed ${channel}`),
    };
    const f = await fixture(
      other,
      workerConfig(other.config, { redisUrl: REDIS_URL, webhookUrl: picky.url, attempts: 3 }),
      observer,
    );
    try {
      // Three keys in one append: one round, one job per consumer.
      await f.log.writer.append(keyDrafts(0, 3, true));
      const workers = await f.start();
      await f.settle(workers);
      await workers.stop();
      const events = await allEvents(f.log);
      const webhook = events.flatMap((e) =>
        (e.type === 'AnnouncementPosted' || e.type === 'AnnouncementFailed') && e.data.channel === 'webhook'
          ? [[e.type, e.data.fingerprint]]
          : [],
      );
      expect(webhook).toEqual([
        ['AnnouncementPosted', keyFpr(0)],
        ['AnnouncementPosted', keyFpr(2)],
        ['AnnouncementFailed', keyFpr(1)],
      ]);
      expect(picky.deliveries.map((d) => JSON.parse(d.body).fingerprint)).toEqual([
        keyFpr(0),
        keyFpr(1),
        keyFpr(2),
        keyFpr(1),
        keyFpr(1),
      ]);
      const count = (what: string) => told.filter((t) => t === what).length;
      expect([count('posted webhook'), count('post failed webhook'), count('failed webhook')]).toEqual([2, 3, 1]);
      expect([count('job announce-webhook error'), count('job announce-webhook done')]).toEqual([2, 1]);
    } finally {
      await f.log.close();
      await picky.close();
      await other.cleanup();
    }
  });

  it('Redis stopped during appends: appends go on, and once it is back every announcement is posted exactly once and the activation sweep goes on', async () => {
    const redis = await PrivateRedis.start();
    const other = await newBackend('postgres');
    const hook = await receiver((_d, res) => res.writeHead(204).end());
    const f = await fixture(other, workerConfig(other.config, { redisUrl: redis.url, webhookUrl: hook.url }));
    try {
      const workers = await f.start({ queue: 'bullmq' });
      await f.log.writer.append(keyDrafts(0, 3, true));
      await until('the first announcements', () => hook.deliveries.length >= 3, 15_000);
      await redis.down();
      for (let i = 0; i < 5; i++) await f.log.writer.append(keyDrafts(3 + i, 1, false));
      await new Promise((r) => setTimeout(r, 1000));
      // Nothing could be queued meanwhile.
      expect(hook.deliveries).toHaveLength(3);
      await redis.up();
      await f.settle(workers, 45_000);
      // The waiting periods end. The delayed activation jobs are lost with Redis or due days from
      // now in real time, so the activation sweep activates the keys: it did not live in Redis.
      f.clock.advance(15 * 86_400_000);
      await until(
        'every key activated',
        () => f.projection.catchUp().then((s) => [...s.signingKeys.values()].every((k) => k.activatedAt !== null)),
        15_000,
      );
      await f.settle(workers);
      await workers.stop();
      const events = await allEvents(f.log);
      const posted = outcomesByCause(events, 'AnnouncementPosted');
      const authorized = events.filter((e) => e.type === 'SigningKeyAuthorized').map((e) => e.seq);
      for (const channel of ['atom', 'webhook'])
        expect(authorized.map((s) => posted.get(`${channel}/${s}`))).toEqual(authorized.map(() => 1));
      expect(events.filter((e) => e.type === 'SigningKeyActivated')).toHaveLength(authorized.length);
      const ids = hook.deliveries.map((d) => d.headers['x-signet-delivery']);
      expect(ids).toHaveLength(8);
      expect(new Set(ids).size).toBe(8);
    } finally {
      await f.log.close();
      await redis.down();
      await hook.close();
      await other.cleanup();
    }
  });
});
