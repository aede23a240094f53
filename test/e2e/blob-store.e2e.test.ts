import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, type RunningApp } from '../support/app.js';
import { Gpg } from '../support/gpg.js';
import { TestS3Server } from '../support/s3.js';
import { StoryClient, day } from '../support/story.js';

// The built server (`npm start`, PGlite, the workers inline) with SIGNET_BLOB_URL=s3://…, against
// a real S3-compatible server (Ceph's RADOS Gateway, test/support/s3.ts): a published artifact and
// the archive snapshots are objects in the bucket, nothing under the data directory; they are
// served from there and an audit that requires the artifacts passes. With the gateway down a
// publication is refused with 503 BLOB_STORE_UNAVAILABLE and appends nothing; sent again once it
// is back, it is published.

const PREFIX = 'e2e/log';

describe('the log with its blobs in S3-compatible object storage', () => {
  const gpg = new Gpg();
  const work = mkdtempSync(join(tmpdir(), 'signet-blob-e2e-'));
  const dataDir = join(work, 'data');
  const s = new StoryClient(gpg, work, 'e2e.signet.test/blobs', join(work, 'clock'));
  const fpr: Record<string, string> = {};
  let s3: TestS3Server;
  let raw: S3Client;
  let bucket = '';
  let app: RunningApp;
  let vkey = '';

  const audit = () => {
    const r = spawnSync(
      process.execPath,
      [CLI_BIN, 'audit', '--server', s.url, '--vkey', vkey, '--require-artifacts', '--json'],
      { encoding: 'utf8' },
    );
    return { exit: r.status, ...(JSON.parse(r.stdout || '{}') as { ok?: boolean; code?: string }) };
  };

  async function publish(version: string, content: string): Promise<Response> {
    const form = new FormData();
    form.append('signature', new Blob([gpg.detachSign(fpr.sign!, content, day(15))]), 'pkg.zip.asc');
    form.append('artifact', new Blob([content]), 'pkg.zip');
    return fetch(`${s.url}/packages/mybb/${version}/signatures`, { method: 'POST', body: form });
  }

  const objects = async (folder: string) =>
    ((await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${PREFIX}/${folder}/` }))).Contents ?? []).map(
      (o) => o.Key!.slice(`${PREFIX}/${folder}/`.length),
    );

  beforeAll(async () => {
    s3 = await TestS3Server.start();
    raw = s3.client();
    bucket = await s3.createBucket();
    Object.assign(
      fpr,
      gpg.genKeys(
        {
          root: ['Root (master) <root@example.org>', 'ed25519'],
          alice: ['Alice <alice@example.org>', 'ed25519'],
          eve: ['Eve <eve@example.org>', 'ed25519'],
          sign: ['Eve (CODE SIGNING KEY) <eve@mybb.example>', 'ed25519'],
        },
        day(-30),
      ),
    );
    s.setClock(day(0));
    ({ app, vkey } = await s.start(fpr.root!, {
      SIGNET_DATA_DIR: dataDir,
      SIGNET_CLOCK_FILE: s.clockFile,
      SIGNET_ALLOW_ED25519: '1',
      SIGNET_SWEEP_MS: '200',
      SIGNET_OUTBOX_POLL_MS: '50',
      SIGNET_BLOB_URL: `s3://${bucket}/${PREFIX}`,
      ...s3.env(),
    }));
    for (const [who, role] of [
      ['alice', 'leader'],
      ['eve', 'member'],
    ] as const) {
      const key = gpg.exportKey(fpr[who]!);
      expect(s.post(fpr.root!, { type: 'AddMember', key, username: who, role }).status).toBe(201);
    }
    gpg.certify(fpr.eve!, fpr.sign!, day(0));
    gpg.certify(fpr.alice!, fpr.sign!, day(0));
    expect(s.post(fpr.eve!, { type: 'AddSigningKey', key: gpg.exportKey(fpr.sign!) }).status).toBe(201);
    // The workers announce and archive the listing (into the bucket), then activate the key.
    await s.settle();
    s.setClock(day(15));
    await s.settle();
  }, 300_000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    raw?.destroy();
    await s3?.stop();
    gpg.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('keeps a published artifact and the archive snapshots in the bucket, serves them, and an audit requiring the artifacts passes', async () => {
    const content = 'mybb 1.8.38, the package file';
    const sha512 = createHash('sha512').update(content).digest('hex');
    const res = await publish('1.8.38', content);
    expect(res.status).toBe(201);
    expect(((await res.json()) as { event: { data: { artifactSha512: string } } }).event.data.artifactSha512).toBe(
      sha512,
    );

    const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: `${PREFIX}/artifacts/${sha512}` }));
    expect(head.ContentLength).toBe(content.length);
    const served = await fetch(`${s.url}/artifacts/${sha512}`);
    expect([served.status, served.headers.get('cache-control'), await served.text()]).toEqual([
      200,
      'public, max-age=31536000, immutable',
      content,
    ]);

    const archived = await objects('archive');
    expect(archived.length).toBeGreaterThanOrEqual(3); // the listing, raw.txt, the key's page
    for (const sha256 of archived) {
      const page = await fetch(`${s.url}/archive/${sha256}`);
      expect(page.status).toBe(200);
      expect(
        createHash('sha256')
          .update(Buffer.from(await page.arrayBuffer()))
          .digest('hex'),
      ).toBe(sha256);
    }
    // Nothing of either under the data directory: the bucket is the only copy.
    expect([existsSync(join(dataDir, 'artifacts')), existsSync(join(dataDir, 'archive'))]).toEqual([false, false]);

    expect(audit()).toMatchObject({ exit: 0, ok: true });
  });

  it('with the store down a publication is 503 BLOB_STORE_UNAVAILABLE and appends nothing; sent again once it is back, it is published', async () => {
    const content = 'mybb 1.8.39, published during an outage';
    const sha512 = createHash('sha512').update(content).digest('hex');
    const [published] = await objects('artifacts');
    const size = await s.size();
    await s3.stopGateway();
    try {
      const refused = await publish('1.8.39', content);
      expect([
        refused.status,
        refused.headers.get('retry-after'),
        ((await refused.json()) as { code: string }).code,
      ]).toEqual([503, '2', 'BLOB_STORE_UNAVAILABLE']);
      expect(await s.size()).toBe(size);
      // Reads of the store are 503 too (never a 404 that an auditor would take as a lost artifact); the log itself still answers.
      for (const path of [`/artifacts/${published}`, `/archive/${'0'.repeat(64)}`]) {
        const res = await fetch(`${s.url}${path}`);
        expect([path, res.status, ((await res.json()) as { code: string }).code]).toEqual([
          path,
          503,
          'BLOB_STORE_UNAVAILABLE',
        ]);
      }
      expect((await fetch(`${s.url}/log/checkpoint`)).status).toBe(200);
    } finally {
      await s3.startGateway();
    }
    const again = await publish('1.8.39', content);
    expect(again.status).toBe(201);
    expect(await s.size()).toBe(size + 1);
    expect(await objects('artifacts')).toContain(sha512);
    expect(audit()).toMatchObject({ exit: 0, ok: true });
    // The outage was logged as what it is, in one line, not as a bug with a stack.
    expect(app.output()).toMatch(/BLOB_STORE_UNAVAILABLE: the blob store s3:\/\//);
    expect(app.output()).not.toMatch(/INTERNAL|\n\s+at /);
  }, 120_000);
});
