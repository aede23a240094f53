import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLog } from '@signet/store';
import { type RunningApp, CLI_BIN, TEST_PUBLIC_URL, startApp } from '../support/app.js';
import { BACKENDS, type Backend, newBackend } from '../support/backends.js';
import { inertDraft } from '../support/drafts.js';
import {
  type VerifiedCheckpoint,
  checkConsistency,
  checkInclusion,
  leafHash,
  verifyAllTiles,
  verifyCheckpointNote,
} from '../support/c2sp-client.js';

const SIZES = [1, 255, 256, 257, 70_000];

// Events the server folds to nothing: it serves only logs of the protocol's own events.
const draft = (i: number) => inertDraft(i, { stream: `test/${i % 97}`, text: `event number ${i}` });

async function json(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

describe.each(BACKENDS)('the built app over HTTP, on %s', (name) => {
  let backend: Backend;
  let app: RunningApp | null = null;
  let vkey: string;
  let size = 0;
  const seen: VerifiedCheckpoint[] = [];
  const env = () => ({
    SIGNET_DATA_DIR: backend.config.dataDir,
    DATABASE_URL: backend.config.databaseUrl ?? '',
    SIGNET_PUBLIC_URL: TEST_PUBLIC_URL,
  });

  beforeAll(async () => {
    backend = await newBackend(name);
    // `signet init` prints the verifier key: that, not anything the server says, is what we trust.
    const out = execFileSync(process.execPath, [CLI_BIN, 'init', '--origin', 'e2e.signet.test/log'], {
      env: { ...process.env, ...env() },
      encoding: 'utf8',
    });
    vkey = /verifier key: (\S+)/.exec(out)![1]!;
    size = 1;
  });

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await backend.cleanup();
  });

  async function growTo(target: number): Promise<void> {
    if (target === size) return;
    // PGlite is single-process: the server must let go of it while we append. Postgres takes
    // appends from this process while the server runs, as a second sequencer would.
    if (name === 'pglite' && app) {
      expect(await app.stop('SIGTERM')).toBe(0);
      app = null;
    }
    const log = await openLog(backend.config);
    try {
      const pending: Promise<unknown>[] = [];
      for (let at = size; at < target; at += 1000) {
        const n = Math.min(1000, target - at);
        pending.push(log.writer.append(Array.from({ length: n }, (_, j) => draft(at + j))));
        if (pending.length >= 4) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending);
    } finally {
      await log.close();
    }
    size = target;
  }

  for (const target of SIZES) {
    it(`verifies the checkpoint, every tile and the proofs at size ${target}`, { timeout: 240_000 }, async () => {
      await growTo(target);
      app ??= await startApp(env());
      const res = await fetch(`${app.url}/log/checkpoint`);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const cp = verifyCheckpointNote(await res.text(), vkey);
      expect(cp.size).toBe(target);

      const leaves = await verifyAllTiles(app.url, cp);

      const sample =
        target <= 300
          ? leaves.map((_, i) => i)
          : [
              0,
              1,
              255,
              256,
              257,
              65535,
              65536,
              target - 1,
              ...Array.from({ length: 60 }, () => Math.floor(Math.random() * target)),
            ];
      for (const seq of sample) {
        const { status, body } = await json(`${app.url}/log/proof/inclusion?seq=${seq}&size=${target}`);
        expect(status).toBe(200);
        expect(Buffer.from(body.leafHash, 'base64').equals(leaves[seq]!)).toBe(true);
        expect(
          checkInclusion(
            seq,
            target,
            leaves[seq]!,
            body.proof.map((p: string) => Buffer.from(p, 'base64')),
            cp.root,
          ),
          `inclusion of ${seq} in ${target}`,
        ).toBe(true);
      }

      const last = await json(`${app.url}/log/events/${target - 1}`);
      expect(last.status).toBe(200);
      const entry = Buffer.from(last.body.entry, 'base64');
      expect(leafHash(entry).equals(leaves[target - 1]!)).toBe(true);
      expect(JSON.parse(entry.toString())).toEqual(last.body.event);
      expect(
        checkInclusion(
          target - 1,
          last.body.treeSize,
          leaves[target - 1]!,
          last.body.inclusionProof.map((p: string) => Buffer.from(p, 'base64')),
          verifyCheckpointNote(last.body.checkpoint, vkey).root,
        ),
      ).toBe(true);

      for (const old of seen) {
        const { status, body } = await json(`${app.url}/log/proof/consistency?from=${old.size}&to=${target}`);
        expect(status).toBe(200);
        expect(
          checkConsistency(
            old.size,
            target,
            old.root,
            cp.root,
            body.proof.map((p: string) => Buffer.from(p, 'base64')),
          ),
          `${old.size} → ${target}`,
        ).toBe(true);
      }
      seen.push(cp);
    });
  }

  it('serves full tiles immutable-cacheable and partial ones briefly', async () => {
    app ??= await startApp(env());
    const full = await fetch(`${app.url}/log/tile/0/000`);
    expect(full.status).toBe(200);
    expect(full.headers.get('cache-control')).toContain('immutable');
    expect(full.headers.get('content-type')).toBe('application/octet-stream');
    expect((await full.arrayBuffer()).byteLength).toBe(8192);
    const partial = await fetch(`${app.url}/log/tile/0/000.p/5`);
    expect(partial.headers.get('cache-control')).not.toContain('immutable');
    expect((await partial.arrayBuffer()).byteLength).toBe(160);
    const vk = await fetch(`${app.url}/log/verifier-key`);
    expect((await vk.text()).trim()).toBe(vkey);
  });

  it('answers bad and out-of-range requests with 4xx {code, message}, never 5xx', async () => {
    app ??= await startApp(env());
    const cases: [string, number, string][] = [
      ['/log/tile/0/abc', 400, 'BAD_TILE_PATH'],
      ['/log/tile/0/001.p/0', 400, 'BAD_TILE_PATH'],
      ['/log/tile/0/001.p/256', 400, 'BAD_TILE_PATH'],
      ['/log/tile/0/x000/001', 400, 'BAD_TILE_PATH'],
      ['/log/tile/0/1', 400, 'BAD_TILE_PATH'],
      ['/log/tile/', 400, 'BAD_TILE_PATH'],
      ['/log/tile/64/000', 400, 'BAD_TILE_PATH'],
      ['/log/tile/0/x999/x999/x999/x999/x999/999', 400, 'BAD_TILE_PATH'],
      ['/log/tile/0/x999/x999/x999/x999/999', 404, 'NOT_IN_LOG'],
      ['/log/tile/7/000', 404, 'NOT_IN_LOG'],
      ['/log/tile/63/000', 404, 'NOT_IN_LOG'],
      ['/log/tile/0/999', 404, 'NOT_IN_LOG'],
      ['/log/tile/2/000', 404, 'NOT_IN_LOG'],
      ['/log/tile/entries/999', 404, 'NOT_IN_LOG'],
      [`/log/tile/entries/${Math.floor(70_000 / 256)}`, 404, 'NOT_IN_LOG'],
      ['/log/events/70000', 404, 'NOT_IN_LOG'],
      ['/log/events/-1', 400, 'BAD_PARAMETER'],
      ['/log/events/abc', 400, 'BAD_PARAMETER'],
      ['/log/events/007', 400, 'BAD_PARAMETER'],
      ['/log/events/99999999999999999999', 400, 'BAD_PARAMETER'],
      ['/log/proof/inclusion', 400, 'BAD_PARAMETER'],
      ['/log/proof/inclusion?seq=5&size=3', 400, 'BAD_RANGE'],
      ['/log/proof/inclusion?seq=1&size=999999', 404, 'NOT_IN_LOG'],
      ['/log/proof/inclusion?seq=1&seq=2', 400, 'BAD_PARAMETER'],
      ['/log/proof/consistency?from=10&to=5', 400, 'BAD_RANGE'],
      ['/log/proof/consistency?from=1&to=99999999', 404, 'NOT_IN_LOG'],
      ['/log/proof/consistency?from=x', 400, 'BAD_PARAMETER'],
      ['/nothing-here', 404, 'NOT_FOUND'],
    ];
    for (const [path, status, code] of cases) {
      const res = await fetch(`${app.url}${path}`);
      const body = (await res.json()) as { code: string; message: string };
      expect({ path, status: res.status, code: body.code }).toEqual({ path, status, code });
      expect(typeof body.message).toBe('string');
    }
    for (const path of [
      '/log/%zz',
      '/log/tile/0/%00',
      '/log/tile/entries/..%2f..%2fetc',
      `/log/tile/${'x'.repeat(5000)}`,
      '/log/events/%F0%9F%98%80',
    ]) {
      const res = await fetch(`${app.url}${path}`);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
    }
    const post = await fetch(`${app.url}/log/checkpoint`, { method: 'POST', body: 'x' });
    expect(post.status).toBeLessThan(500);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  it('reports readiness and Prometheus metrics', async () => {
    app ??= await startApp(env());
    const ready = await json(`${app.url}/readyz`);
    expect(ready).toEqual({ status: 200, body: { status: 'ok', database: name } });
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(text).toMatch(/^signet_tree_size 70000$/m);
    expect(text).toMatch(
      /^signet_http_request_duration_seconds_count\{method="GET",route="\/log\/tile\/\*",status="200"\} \d+$/m,
    );
    expect(text).toContain('signet_events_appended_total');
    expect(text).toContain('signet_append_batch_size_bucket');
  });

  it('exits cleanly on SIGTERM', async () => {
    app ??= await startApp(env());
    const code = await app.stop('SIGTERM');
    app = null;
    expect(code).toBe(0);
  });
});
