import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfrastructureError } from '@signet/domain';
import {
  type BlobKind,
  type BlobStore,
  DirectoryBlobStore,
  S3BlobStore,
  configFromEnv,
  openBlobStore,
} from '@signet/store';
import { tempDir } from '../../../test/support/backends.js';
import { TestS3Server } from '../../../test/support/s3.js';

// One contract, two adapters: the directory (the default) and S3-compatible object storage,
// against a real server (Ceph's RADOS Gateway, test/support/s3.ts). Blobs are named by their
// hash, written once and never replaced; a store that cannot be used is BLOB_STORE_UNAVAILABLE.

const sha = (algorithm: string, bytes: Uint8Array | string) => createHash(algorithm).update(bytes).digest('hex');

/** A store under test, with a way around it to the same place (to look, or to tamper). */
interface Subject {
  readonly store: BlobStore;
  /** Writes bytes under a blob's name without the store (what someone with access to the bucket or disk could do). */
  plant(kind: BlobKind, name: string, bytes: Buffer): Promise<void>;
  /** The stored object's identity: it changes when the object is written again. */
  stamp(kind: BlobKind, name: string): Promise<string>;
  read(kind: BlobKind, name: string): Promise<Buffer>;
}

async function rejection(attempt: () => Promise<unknown>): Promise<InfrastructureError> {
  try {
    await attempt();
  } catch (error) {
    expect(error).toBeInstanceOf(InfrastructureError);
    return error as InfrastructureError;
  }
  throw new Error('expected a rejection');
}

let s3: TestS3Server;
let raw: S3Client;
let bucket: string;
const PREFIX = 'signet/blob-test';
const work = tempDir('signet-blobs-');
const s3Location = () => ({ bucket, prefix: PREFIX, endpoint: s3.endpoint, region: s3.region });
const s3Store = (credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }) =>
  new S3BlobStore(s3Location(), { credentials });

beforeAll(async () => {
  s3 = await TestS3Server.start();
  raw = s3.client();
  bucket = await s3.createBucket();
}, 180_000);

afterAll(async () => {
  raw?.destroy();
  await s3?.stop();
  work.remove();
});

const FOLDERS = { artifact: 'artifacts', archive: 'archive' } as const;

const subjects: [string, () => Subject][] = [
  [
    'directory',
    () => {
      const dirs = { artifact: join(work.path, 'data', 'artifacts'), archive: join(work.path, 'archive') };
      return {
        store: new DirectoryBlobStore(dirs),
        async plant(kind, name, bytes) {
          mkdirSync(dirs[kind], { recursive: true });
          writeFileSync(join(dirs[kind], name), bytes);
        },
        async stamp(kind, name) {
          const s = statSync(join(dirs[kind], name));
          return `${s.ino}:${s.mtimeMs}`;
        },
        async read(kind, name) {
          return readFileSync(join(dirs[kind], name));
        },
      };
    },
  ],
  [
    's3',
    () => {
      const key = (kind: BlobKind, name: string) => `${PREFIX}/${FOLDERS[kind]}/${name}`;
      return {
        store: s3Store(),
        async plant(kind, name, bytes) {
          await raw.send(new PutObjectCommand({ Bucket: bucket, Key: key(kind, name), Body: bytes }));
        },
        async stamp(kind, name) {
          const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: key(kind, name) }));
          return `${head.ETag}:${head.LastModified?.toISOString()}`;
        },
        async read(kind, name) {
          const object = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: key(kind, name) }));
          return Buffer.from(await object.Body!.transformToByteArray());
        },
      };
    },
  ],
];

describe.each(subjects)('the %s blob store', (_name, make) => {
  let subject: Subject;
  let store: BlobStore;

  beforeAll(() => {
    subject = make();
    store = subject.store;
  });
  afterAll(() => store?.close());

  it('stores bytes under their hash (SHA-512 for artifacts, SHA-256 for the archive) and reads them back', async () => {
    const artifact = randomBytes(70_000);
    const page = `<!doctype html><title>listing ${randomBytes(4).toString('hex')}</title>`;
    const a = await store.put('artifact', artifact);
    const p = await store.put('archive', page);
    expect([a, p]).toEqual([sha('sha512', artifact), sha('sha256', page)]);
    expect(await store.get('artifact', a)).toEqual(artifact);
    expect((await store.get('archive', p))?.toString('utf8')).toBe(page);
    expect(await subject.read('archive', p)).toEqual(Buffer.from(page));
    expect([await store.has('artifact', a), await store.has('archive', p)]).toEqual([true, true]);
    // Each kind in its own place: the same name is not looked up across kinds.
    expect(await store.has('archive', a.slice(0, 64))).toBe(false);
    const opened = await store.open('artifact', a);
    expect(opened?.size).toBe(artifact.length);
    const chunks: Buffer[] = [];
    for await (const chunk of opened!.stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks)).toEqual(artifact);
  });

  it('a name with nothing under it is absent; a name that is not a hash of the kind is never looked up', async () => {
    const absent = sha('sha512', randomBytes(8));
    expect(await store.get('artifact', absent)).toBeNull();
    expect(await store.open('artifact', absent)).toBeNull();
    expect(await store.has('artifact', absent)).toBe(false);
    for (const name of ['../../etc/passwd', absent.toUpperCase(), absent.slice(1), `${absent}0`, '', '.tmp']) {
      expect(await store.get('artifact', name)).toBeNull();
      expect(await store.open('artifact', name)).toBeNull();
      expect(await store.has('artifact', name)).toBe(false);
    }
  });

  it('the same bytes stored again, one after the other and four at once, are the one blob, never written again', async () => {
    const bytes = randomBytes(5_000);
    const name = await store.put('artifact', bytes);
    const before = await subject.stamp('artifact', name);
    // S3's Last-Modified counts seconds: a rewrite must be able to show.
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await store.put('artifact', bytes)).toBe(name);
    expect(await subject.stamp('artifact', name)).toBe(before);

    const fresh = randomBytes(3_000);
    const names = await Promise.all([1, 2, 3, 4].map(() => store.put('archive', fresh)));
    expect(new Set(names)).toEqual(new Set([sha('sha256', fresh)]));
    expect(await store.get('archive', names[0]!)).toEqual(fresh);
  });

  it('stores a file under its hash (an upload), and the same file again without writing it again', async () => {
    const bytes = randomBytes(300_000);
    const path = join(work.path, `upload-${randomBytes(4).toString('hex')}`);
    writeFileSync(path, bytes);
    const stored = await store.putFile('artifact', path);
    expect(stored).toEqual({ hash: sha('sha512', bytes), size: bytes.length });
    expect(await subject.read('artifact', stored.hash)).toEqual(bytes);
    const before = await subject.stamp('artifact', stored.hash);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await store.putFile('artifact', path)).toEqual(stored);
    expect(await subject.stamp('artifact', stored.hash)).toBe(before);
    const missing = await rejection(() => store.putFile('artifact', join(work.path, 'no-such-upload')));
    expect(missing.code).toBe('BLOB_STORE_UNAVAILABLE');
  });

  it('other bytes found under a name are BLOB_STORE_CORRUPT, and are left as they are', async () => {
    const genuine = randomBytes(2_000);
    const forged = Buffer.from('not the bytes this name is the hash of');
    for (const kind of ['artifact', 'archive'] as const) {
      const name = sha(kind === 'artifact' ? 'sha512' : 'sha256', genuine);
      await subject.plant(kind, name, forged);
      const refusal = await rejection(() => store.put(kind, genuine));
      expect(refusal.code).toBe('BLOB_STORE_CORRUPT');
      expect(refusal.message).toContain(name);
      expect(await subject.read(kind, name)).toEqual(forged);
    }
    const path = join(work.path, 'genuine-upload');
    writeFileSync(path, genuine);
    expect((await rejection(() => store.putFile('artifact', path))).code).toBe('BLOB_STORE_CORRUPT');
    expect(await subject.read('artifact', sha('sha512', genuine))).toEqual(forged);
  });
});

describe('the S3 blob store against the server', () => {
  it('the server refuses to create a key that exists when asked with If-None-Match: * (what the store rests on)', async () => {
    const key = `${PREFIX}/probe-${randomBytes(4).toString('hex')}`;
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'first', IfNoneMatch: '*' }));
    const second = await raw
      .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'second', IfNoneMatch: '*' }))
      .then(
        () => null,
        (error: { name: string; $metadata: { httpStatusCode: number } }) => error,
      );
    expect([second?.name, second?.$metadata.httpStatusCode]).toEqual(['PreconditionFailed', 412]);
    const object = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(await object.Body!.transformToString()).toBe('first');
  });

  it('keys are <prefix>/<folder>/<hash> in the bucket', async () => {
    const store = s3Store();
    const name = await store.put('archive', 'raw.txt of some size');
    const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: `${PREFIX}/archive/${name}` }));
    expect(head.ContentLength).toBe('raw.txt of some size'.length);
    expect(store.location).toBe(`s3://${bucket}/${PREFIX}`);
    await store.close();
  });

  it('refused credentials and a missing bucket are BLOB_STORE_UNAVAILABLE, without a retry hint', async () => {
    const wrong = s3Store({ accessKeyId: s3.accessKeyId, secretAccessKey: 'not-the-secret' });
    for (const attempt of [() => wrong.put('artifact', 'x'), () => wrong.get('artifact', sha('sha512', 'x'))]) {
      const refusal = await rejection(attempt);
      expect([refusal.code, refusal.retryAfterSeconds]).toEqual(['BLOB_STORE_UNAVAILABLE', undefined]);
      expect(refusal.message).toMatch(/HTTP 403/);
    }
    await wrong.close();
    const nowhere = new S3BlobStore(
      { ...s3Location(), bucket: 'signet-no-such-bucket' },
      { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } },
    );
    for (const attempt of [() => nowhere.put('archive', 'x'), () => nowhere.get('archive', sha('sha256', 'x'))]) {
      const refusal = await rejection(attempt);
      expect(refusal.code).toBe('BLOB_STORE_UNAVAILABLE');
      expect(refusal.message).toContain('NoSuchBucket');
    }
    await nowhere.close();
  });

  it('with the server down every operation is BLOB_STORE_UNAVAILABLE (try again); back up, all is as before', async () => {
    const store = s3Store();
    const kept = await store.put('artifact', 'published before the outage');
    await s3.stopGateway();
    try {
      const path = join(work.path, 'during-outage');
      writeFileSync(path, 'sent during the outage');
      for (const attempt of [
        () => store.put('artifact', 'sent during the outage'),
        () => store.putFile('artifact', path),
        () => store.get('artifact', kept),
        () => store.open('artifact', kept),
        () => store.has('artifact', kept),
      ]) {
        const refusal = await rejection(attempt);
        expect([refusal.code, refusal.retryAfterSeconds]).toEqual(['BLOB_STORE_UNAVAILABLE', 2]);
        expect(refusal.message).toContain(`s3://${bucket}/${PREFIX}`);
      }
    } finally {
      await s3.startGateway();
    }
    expect((await store.get('artifact', kept))?.toString()).toBe('published before the outage');
    expect(await store.put('artifact', 'sent during the outage')).toBe(sha('sha512', 'sent during the outage'));
    await store.close();
  }, 120_000);
});

describe('the directory blob store on a disk it cannot use', () => {
  it('a file where its directory should be is BLOB_STORE_UNAVAILABLE (permissions do not stop root)', async () => {
    const blocked = join(work.path, 'blocked');
    writeFileSync(blocked, 'a file, not a directory');
    const store = new DirectoryBlobStore({ artifact: join(blocked, 'artifacts'), archive: join(blocked, 'archive') });
    for (const attempt of [() => store.put('archive', 'x'), () => store.get('archive', sha('sha256', 'x'))]) {
      const refusal = await rejection(attempt);
      expect(refusal.code).toBe('BLOB_STORE_UNAVAILABLE');
      expect(refusal.message).toContain(blocked);
    }
  });
});

describe('openBlobStore', () => {
  it('the configuration picks the store: the data directory by default, SIGNET_ARCHIVE_DIR, file://, s3://', async () => {
    const dataDir = join(work.path, 'open');
    const at = (env: Record<string, string>) => openBlobStore({ ...configFromEnv(env), dataDir });
    expect(at({}).location).toBe(`${join(dataDir, 'artifacts')} (artifacts), ${join(dataDir, 'archive')} (archive)`);
    expect(at({ SIGNET_ARCHIVE_DIR: '/srv/archive' }).location).toBe(
      `${join(dataDir, 'artifacts')} (artifacts), /srv/archive (archive)`,
    );
    expect(at({ SIGNET_BLOB_URL: 'file:///srv/blobs/' }).location).toBe(
      '/srv/blobs/artifacts (artifacts), /srv/blobs/archive (archive)',
    );
    const s3Config = configFromEnv({ SIGNET_BLOB_URL: `s3://${bucket}/a/b/`, AWS_ENDPOINT_URL_S3: s3.endpoint });
    expect(s3Config.blobs).toEqual({ type: 's3', bucket, prefix: 'a/b', endpoint: s3.endpoint, region: 'us-east-1' });
    const store = openBlobStore(s3Config);
    expect(store.location).toBe(`s3://${bucket}/a/b`);
    await store.close();
  });
});
