import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp, startWorker } from '../support/app.js';
import { type ThrowawayPostgres, tempDir, throwawayPostgres } from '../support/backends.js';
import { ed25519 } from '../support/keys.js';
import { PrivateRedis, until } from '../support/workers.js';

// Logs and metrics of the built API and worker (README, "Logs and metrics"): one JSON object per
// line on stdout, one access line per request (the fast path too), no colours when not on a
// terminal; Prometheus metrics with Node's standard names, the build, and refusals by code; the
// worker's own /healthz, /readyz and /metrics, /readyz following its Redis and its database.

const ORIGIN = 'signet.test/observe';

type Line = Record<string, unknown>;

/** Every line of a process's stdout, parsed: a line that is not one JSON object fails the test. */
function jsonLines(stdout: string): Line[] {
  const lines = stdout.split('\n');
  expect(lines.pop(), 'stdout ends with a newline').toBe('');
  return lines.map((line) => {
    let parsed: unknown;
    expect(() => (parsed = JSON.parse(line)), line).not.toThrow();
    expect(parsed, line).toBeTypeOf('object');
    return parsed as Line;
  });
}

/** A metric's value in a Prometheus text page (its first sample matching `labels`), or undefined. */
function sample(page: string, name: string, labels = ''): number | undefined {
  const escaped = `${name}${labels}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(page);
  return m ? Number(m[1]) : undefined;
}

describe('logs and metrics of the API and the worker', () => {
  const dir = tempDir('signet-observe-');
  let pg: ThrowawayPostgres;
  let redis: PrivateRedis;
  let app: RunningApp | null = null;
  let worker: RunningApp | null = null;
  let env: Record<string, string>;
  let root: Awaited<ReturnType<typeof ed25519>>;
  let member: Awaited<ReturnType<typeof ed25519>> | null = null;
  let n = 0;

  beforeAll(async () => {
    [pg, redis, root] = await Promise.all([throwawayPostgres(), PrivateRedis.start(), ed25519('root')]);
    writeFileSync(join(dir.path, 'root.asc'), root.pub);
    env = {
      SIGNET_DATA_DIR: dir.path,
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      SIGNET_ORIGIN: ORIGIN,
      SIGNET_ROOT_KEYS: join(dir.path, 'root.asc'),
      SIGNET_ALLOW_ED25519: '1',
      SIGNET_WORKERS: 'off',
      SIGNET_OUTBOX_POLL_MS: '50',
      SIGNET_RETRY_BASE_MS: '100',
    };
    app = await startApp(env);
    worker = await startWorker(env);
  }, 120_000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await worker?.stop('SIGKILL');
    await redis?.down();
    await pg?.drop();
    dir.remove();
  });

  /** A command signed by `key`, sent to the API. */
  async function command(key: Awaited<ReturnType<typeof ed25519>>, body: Record<string, unknown>, requestId: string) {
    const text = JSON.stringify({ origin: ORIGIN, id: `c${++n}`, issuedAt: new Date().toISOString(), ...body });
    const signature = (await openpgp.sign({
      message: await openpgp.createMessage({ binary: new TextEncoder().encode(text) }),
      signingKeys: key.priv,
      detached: true,
    })) as string;
    const res = await fetch(`${app!.url}/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ command: text, signature }),
    });
    return { status: res.status, body: (await res.json()) as { code?: string } };
  }

  it('the API: one JSON line per request, with its status, the fast path and refusals included; no colours', async () => {
    const sent: { id: string; method: string; url: string; status: number }[] = [];
    const get = async (url: string, id: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${app!.url}${url}`, { headers: { ...headers, 'x-request-id': id } });
      await res.arrayBuffer();
      sent.push({ id, method: 'GET', url, status: res.status });
      return res;
    };
    const snapshot = await get('/trust/snapshot', 'obs-1');
    await get('/trust/snapshot', 'obs-2', { 'if-none-match': snapshot.headers.get('etag')! });
    await get('/log/checkpoint', 'obs-3');
    await get('/log/events/0', 'obs-4');
    await get('/no/such/page', 'obs-5');
    await get('/log/%zz', 'obs-6');
    const stranger = await ed25519('stranger');
    member = stranger;
    const refused = await command(
      stranger,
      { type: 'AddMember', key: stranger.pub, username: 's', role: 'member' },
      'obs-7',
    );
    sent.push({ id: 'obs-7', method: 'POST', url: '/commands', status: refused.status });
    expect([refused.status, refused.body.code]).toEqual([403, 'UNKNOWN_SIGNER']);
    const added = await command(
      root,
      { type: 'AddMember', key: stranger.pub, username: 'm1', role: 'member' },
      'obs-8',
    );
    sent.push({ id: 'obs-8', method: 'POST', url: '/commands', status: added.status });
    expect(added.status).toBe(201);
    // An id that is not a plain token is not taken: the server gives its own.
    await fetch(`${app!.url}/healthz`, { headers: { 'x-request-id': 'bad id "quoted"' } });
    expect(sent.map((r) => r.status)).toEqual([200, 304, 200, 200, 404, 400, 403, 201]);

    const access = await until('the access lines', () => {
      const lines = jsonLines(app!.stdout()).filter((l) => l.context === 'access');
      return lines.length >= sent.length + 1 && lines;
    });
    for (const r of sent) {
      const mine = access.filter((l) => l.reqId === r.id);
      expect(mine, r.id).toHaveLength(1);
      expect(mine[0]).toMatchObject({
        level: 'info',
        name: 'api',
        method: r.method,
        url: r.url,
        status: r.status,
        responseTime: expect.any(Number),
        msg: 'request completed',
      });
    }
    const fast = access.find((l) => l.reqId === 'obs-2')!;
    expect(fast.route).toBe('/trust/snapshot');
    const own = access.find((l) => l.url === '/healthz')!;
    expect(own.reqId).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
    const all = jsonLines(app!.stdout());
    expect(all.find((l) => String(l.msg).startsWith('serving '))).toMatchObject({ level: 'info', context: 'signet' });
    for (const l of all)
      expect(l).toMatchObject({ level: expect.any(String), time: expect.any(String), pid: expect.any(Number) });
    expect(app!.output()).not.toContain('\x1b[');
  });

  it("the API's /metrics: Node's standard names, signet_build_info, refusals by code, the log's age and the outbox", async () => {
    const page = await (await fetch(`${app!.url}/metrics`)).text();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes'])
      expect(sample(page, name), name).toBeGreaterThan(0);
    expect(page).toMatch(/^nodejs_eventloop_lag_seconds \S+$/m);
    expect(page).not.toMatch(/^signet_(process|nodejs)_/m);
    expect(page).toMatch(
      new RegExp(`^signet_build_info\\{version="\\d+\\.\\d+\\.\\d+[^"]*",node="${process.version}"\\} 1$`, 'm'),
    );
    expect(sample(page, 'signet_refusals_total', '{code="UNKNOWN_SIGNER"}')).toBe(1);
    expect(sample(page, 'signet_refusals_total', '{code="NOT_FOUND"}')).toBe(1);
    expect(sample(page, 'signet_refusals_total', '{code="BAD_REQUEST"}')).toBe(1);
    expect(sample(page, 'signet_checkpoint_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(page, 'signet_checkpoint_age_seconds')).toBeLessThan(600);
    expect(sample(page, 'signet_tree_size')).toBeGreaterThanOrEqual(2);
    expect(page).toMatch(/^signet_outbox_lag_seconds\{consumer="announce-atom"\} \S+$/m);
    expect(page).toMatch(
      /^signet_http_request_duration_seconds_count\{method="GET",route="\/trust\/snapshot",status="304"\} 1$/m,
    );
  });

  it('the worker: JSON lines, /healthz, /readyz and /metrics on its own port, with its jobs', async () => {
    expect(worker!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${worker!.url}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await fetch(`${worker!.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([
      200,
      { status: 'ok', database: { ok: true }, queue: { ok: true } },
    ]);
    // A member's role changed: the worker's continuity monitor looks at it, and the job is counted.
    const changed = await command(root, { type: 'ChangeMemberRole', member: member!.fpr, role: 'leader' }, 'obs-9');
    expect(changed.status).toBe(201);
    const page = await until('the worker ran its jobs', async () => {
      const text = await (await fetch(`${worker!.url}/metrics`)).text();
      return (sample(text, 'signet_jobs_total', '{consumer="continuity",outcome="done"}') ?? 0) > 0 && text;
    });
    expect(sample(page, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(page).toMatch(/^nodejs_eventloop_lag_seconds \S+$/m);
    expect(page).toMatch(/^signet_build_info\{version="[^"]+",node="[^"]+"\} 1$/m);
    expect(page).toMatch(/^signet_outbox_lag_events\{consumer="archiver"\} \d+$/m);
    expect(page).toMatch(/^signet_outbox_pending_jobs\{consumer="announce-atom"\} \d+$/m);
    expect(page).toMatch(/^signet_job_duration_seconds_count\{consumer="continuity"\} [1-9]/m);
    expect((await fetch(`${worker!.url}/nothing`)).status).toBe(404);
    const lines = jsonLines(worker!.stdout());
    expect(lines.find((l) => String(l.msg).startsWith('following '))).toMatchObject({ level: 'info', name: 'worker' });
    expect(worker!.output()).not.toContain('\x1b[');
  });

  it("the worker's /readyz: 503 saying what is not ready while its Redis is down, then its database gone; /healthz stays 200", async () => {
    await redis.down();
    const noQueue = await until('/readyz 503 without Redis', async () => {
      const res = await fetch(`${worker!.url}/readyz`);
      return res.status === 503 && ((await res.json()) as Line);
    });
    expect(noQueue).toMatchObject({
      status: 'not ready',
      database: { ok: true },
      queue: { ok: false, error: expect.stringContaining('Redis') },
    });
    await redis.up();
    await until(
      '/readyz 200 with Redis back',
      async () => (await fetch(`${worker!.url}/readyz`)).status === 200,
      30_000,
      200,
    );

    await app!.stop('SIGTERM');
    app = null;
    await pg.drop();
    const noDatabase = await until('/readyz 503 without its database', async () => {
      const res = await fetch(`${worker!.url}/readyz`);
      return res.status === 503 && ((await res.json()) as Line);
    });
    expect(noDatabase).toMatchObject({
      status: 'not ready',
      database: { ok: false, error: expect.any(String) },
      queue: { ok: true },
    });
    expect((await fetch(`${worker!.url}/healthz`)).status).toBe(200);
    // Still answered, from what the process knows, while the database is gone.
    const page = await fetch(`${worker!.url}/metrics`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/^process_cpu_seconds_total \S+$/m);
    expect(worker!.child.exitCode).toBe(null);
    jsonLines(worker!.stdout());
    expect(worker!.output()).not.toContain('\x1b[');
  });
});
