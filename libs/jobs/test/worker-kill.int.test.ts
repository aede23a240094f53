import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '@signet/domain';
import { outboxStatus } from '@signet/jobs';
import { type SignetLog, openLog } from '@signet/store';
import { type RunningApp, startWorker } from '../../../test/support/app.js';
import { type Backend, newBackend } from '../../../test/support/backends.js';
import {
  type Receiver,
  allEvents,
  keyDrafts,
  outcomesByCause,
  receiver,
  until,
} from '../../../test/support/workers.js';

// The built worker (apps/worker on BullMQ) killed with SIGKILL in the middle of a job: another
// worker runs the job again once its lock lapses, and its outcome still enters the log once.

const REDIS_URL = process.env.SIGNET_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

describe('a worker killed mid-job (Postgres, BullMQ, the built apps/worker)', () => {
  let backend: Backend;
  let log: SignetLog;
  let hook: Receiver;
  let held: (() => void) | null = null;
  const workers: RunningApp[] = [];

  beforeAll(async () => {
    backend = await newBackend('postgres');
    log = await openLog(backend.config, { init: true, policy: { ...DEFAULT_POLICY, rootKeys: [] } });
    // The first delivery is held, unanswered, until the test has killed its worker.
    hook = await receiver((_d, res, all) => {
      if (all.length === 1) held = () => res.writeHead(500).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });

  afterAll(async () => {
    for (const w of workers) await w.stop('SIGKILL');
    await hook?.close();
    await log?.close();
    await backend?.cleanup();
  });

  it('reruns the job in another worker and records its outcome once', async () => {
    const env = {
      SIGNET_DATA_DIR: backend.config.dataDir,
      DATABASE_URL: backend.config.databaseUrl,
      REDIS_URL,
      SIGNET_QUEUE: `signet-kill-${process.pid}-${Date.now()}`,
      SIGNET_WEBHOOK_URL: hook.url,
      SIGNET_PUBLIC_URL: 'https://keys.example.org',
      SIGNET_JOB_LOCK_MS: '1000',
      SIGNET_SWEEP_MS: '500',
      SIGNET_OUTBOX_POLL_MS: '50',
      SIGNET_RETRY_BASE_MS: '100',
    };
    workers.push(await startWorker(env));
    await log.writer.append(keyDrafts(0, 3, true));
    await until('the first webhook delivery', () => held !== null, 20_000);
    expect(await workers[0]!.stop('SIGKILL')).toBe(null);
    held!();
    workers.push(await startWorker(env));
    await until(
      'the outbox to drain',
      async () => {
        const size = await log.reader.size();
        return (await outboxStatus(log.db)).every((c) => c.nextSeq === size && c.pending === 0);
      },
      30_000,
    );
    expect(await workers[1]!.stop('SIGTERM')).toBe(0);

    const events = await allEvents(log);
    const authorized = events.filter((e) => e.type === 'SigningKeyAuthorized').map((e) => e.seq);
    const posted = outcomesByCause(events, 'AnnouncementPosted');
    for (const channel of ['atom', 'webhook'])
      expect(authorized.map((s) => posted.get(`${channel}/${s}`))).toEqual([1, 1, 1]);
    // The held delivery was made again by the second worker: same delivery id, twice.
    const first = hook.deliveries[0]!.headers['x-signet-delivery'];
    expect(hook.deliveries.filter((d) => d.headers['x-signet-delivery'] === first).length).toBeGreaterThanOrEqual(2);
    expect(new Set(hook.deliveries.map((d) => d.headers['x-signet-delivery'])).size).toBe(3);
  });
});
