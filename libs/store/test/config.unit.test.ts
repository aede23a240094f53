import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from '@signet/store';
import { encodeSignerKey } from '@signet/tlog';
import { configProblems } from '../../../test/support/config.js';

const problems = configProblems;

const PG = 'postgres://signet@db.example.org:5432/signet';

describe('configFromEnv', () => {
  it('gives the README defaults for an empty environment, and reads empty as unset', () => {
    for (const env of [{}, { PORT: '', SIGNET_WORKERS: '', SIGNET_PUBLIC_URL: '', SIGNET_QUEUE: '' }]) {
      const config = configFromEnv(env);
      expect(config).toMatchObject({
        port: 3000,
        host: '0.0.0.0',
        origin: 'localhost/signet',
        databaseUrl: undefined,
        redisUrl: undefined,
        workers: 'inline',
        publicUrl: 'http://localhost:3000',
        witnesses: [],
        genesis: { waitingPeriodDays: 14, authorizationsRequired: 1, rsaMinBits: 4096, allowEd25519: false },
        jobs: { queue: 'signet', concurrency: 8 },
        workerPort: 9464,
        logs: { level: 'info', format: 'auto' },
      });
      expect(config.genesis.signingKeyComment).toBe('CODE SIGNING KEY');
      // Artifacts and the archive under the data directory, as before there was a blob store.
      expect(config.blobs).toEqual({ type: 'directory', dir: undefined, archiveDir: undefined });
    }
    // An empty comment is a value: no rule on the user ID comment.
    expect(configFromEnv({ SIGNET_SIGNING_KEY_COMMENT: '' }).genesis.signingKeyComment).toBe('');
    expect(configFromEnv({ PORT: '8080' }).publicUrl).toBe('http://localhost:8080');
  });

  it('reads every variable it is given', () => {
    const key = encodeSignerKey('signet.example.org/log', new Uint8Array(32).fill(7));
    const config = configFromEnv({
      PORT: ' 80 ',
      DATABASE_URL: PG,
      REDIS_URL: 'rediss://cache.example.org:6380',
      SIGNET_PUBLIC_URL: 'https://Keys.Example.org:443/',
      SIGNET_LOG_KEY: key,
      SIGNET_ALLOW_ED25519: 'yes',
      SIGNET_ROOT_KEYS: 'a.asc, b.asc,',
      SIGNET_MASTODON_URL: 'https://social.example/',
      SIGNET_MASTODON_TOKEN: 't',
      SIGNET_ARCHIVE_TRIGGERS: 'https://web.archive.org/save/{url}  https://copy.example/?h={sha256}&a={archive}',
      SIGNET_SNAPSHOT_TTL_HOURS: '48',
      SIGNET_SNAPSHOT_REFRESH_HOURS: '47',
      SIGNET_WORKER_PORT: 'off',
      SIGNET_LOG_LEVEL: 'WARN',
      SIGNET_LOG_FORMAT: 'json',
    });
    expect(config).toMatchObject({
      workerPort: null,
      logs: { level: 'warn', format: 'json' },
      port: 80,
      databaseUrl: PG,
      redisUrl: 'rediss://cache.example.org:6380',
      workers: 'off',
      publicUrl: 'https://keys.example.org',
      logKey: key,
      genesis: { allowEd25519: true, rootKeyFiles: ['a.asc', 'b.asc'] },
      announce: { mastodonUrl: 'https://social.example', mastodonToken: 't' },
      snapshot: { ttlMs: 48 * 3_600_000, refreshMs: 47 * 3_600_000 },
    });
    expect(config.archive.triggers).toHaveLength(2);
  });

  it.each([
    ['PORT', '80a', 'an integer from 0 to 65535'],
    ['PORT', '65536', 'an integer from 0 to 65535'],
    ['PORT', '1e3', 'an integer from 0 to 65535'],
    ['SIGNET_DB_POOL', '0', 'an integer from 1 to 1000'],
    ['SIGNET_MAX_BATCH', '-1', 'an integer from 1 to 5000'],
    ['SIGNET_WAIT_DAYS', '14.5', 'an integer from 0 to 3650'],
    ['SIGNET_AUTHORIZATIONS', 'two', 'an integer from 1 to 100'],
    ['SIGNET_RSA_MIN_BITS', '1024', 'an integer from 2048 to 16384'],
    ['SIGNET_COMMAND_WINDOW', '0', 'an integer from 1 to 86400'],
    ['SIGNET_MAX_ARTIFACT_BYTES', '0x10', 'an integer from 1 to'],
    ['SIGNET_ANNOUNCE_ATTEMPTS', '0', 'an integer from 1 to 100'],
    ['SIGNET_SNAPSHOT_TTL_HOURS', '0', 'an integer from 1 to'],
    ['SIGNET_SNAPSHOT_REFRESH_HOURS', '168', 'fewer hours than SIGNET_SNAPSHOT_TTL_HOURS (168)'],
    ['SIGNET_OUTBOX_POLL_MS', '1', 'an integer from 5 to 60000'],
    ['SIGNET_SWEEP_MS', '10', 'an integer from 50 to'],
    ['SIGNET_RETRY_BASE_MS', 'soon', 'an integer from 1 to'],
    ['SIGNET_JOB_LOCK_MS', '100', 'an integer from 500 to'],
    ['SIGNET_JOB_CONCURRENCY', '1000', 'an integer from 1 to 256'],
    ['SIGNET_ALLOW_ED25519', 'sure', '1 or 0'],
    ['SIGNET_WORKERS', 'sometimes', 'inline or off'],
    ['SIGNET_WORKER_PORT', '70000', 'an integer from 0 to 65535, or off'],
    ['SIGNET_WORKER_PORT', 'no', 'an integer from 0 to 65535, or off'],
    ['SIGNET_LOG_LEVEL', 'verbose', 'one of fatal, error, warn, info, debug, trace, silent'],
    ['SIGNET_LOG_FORMAT', 'text', 'auto, json or pretty'],
    ['SIGNET_ORIGIN', 'signet example', 'a key name without spaces or "+"'],
    ['SIGNET_ORIGIN', 'a+b', 'a key name without spaces or "+"'],
    ['SIGNET_QUEUE', 'a:b', 'a queue name without ":"'],
    ['DATABASE_URL', 'mysql://db/signet', 'a Postgres URL'],
    ['DATABASE_URL', 'db.example.org', 'a Postgres URL'],
    ['REDIS_URL', 'http://127.0.0.1:6379', 'a Redis URL'],
    ['SIGNET_WEBHOOK_URL', 'hooks.example.org/x', 'an absolute http:// or https:// URL'],
    ['SIGNET_MASTODON_URL', 'ftp://social.example', 'an absolute http:// or https:// URL'],
    ['SIGNET_ARCHIVE_TRIGGERS', 'https://a.example/{uri}', 'not {uri}'],
    ['SIGNET_ARCHIVE_TRIGGERS', 'web.archive.org/save/{url}', 'space-separated http(s) URL templates'],
    ['SIGNET_WITNESSES', 'not-a-key', 'witness verifier keys <name>+<hash>+<base64>'],
  ])('refuses %s=%j: expected %s', (variable, value, expected) => {
    // What a variable needs beside it, so that it is the one problem.
    const beside: Record<string, NodeJS.ProcessEnv> = {
      DATABASE_URL: { SIGNET_PUBLIC_URL: 'https://keys.example.org' },
      REDIS_URL: { SIGNET_PUBLIC_URL: 'https://keys.example.org' },
      SIGNET_MASTODON_URL: { SIGNET_MASTODON_TOKEN: 'token' },
    };
    const env: NodeJS.ProcessEnv = { ...beside[variable], [variable]: value };
    const found = problems(env);
    expect(found).toEqual([{ variable, value, expected: expect.stringContaining(expected) }]);
  });

  it('hides secrets and passwords in what it reports', () => {
    expect(problems({ SIGNET_LOG_KEY: 'PRIVATE+KEY+oops' })).toEqual([
      {
        variable: 'SIGNET_LOG_KEY',
        value: '(secret, not shown)',
        expected: expect.stringContaining('PRIVATE+KEY+<origin>'),
      },
    ]);
    expect(problems({ SIGNET_MASTODON_TOKEN: 'tok' })).toEqual([
      { variable: 'SIGNET_MASTODON_URL', value: undefined, expected: expect.stringContaining('SIGNET_MASTODON_TOKEN') },
    ]);
    const [bad] = problems({
      DATABASE_URL: 'mysql://signet:hunter2@db/signet',
      SIGNET_PUBLIC_URL: 'https://k.example',
    });
    expect(bad).toMatchObject({ variable: 'DATABASE_URL', value: 'mysql://signet:***@db/signet' });
  });

  it('reports every bad variable at once, each with its value and what is expected, in one message', () => {
    let error: ConfigError | undefined;
    try {
      configFromEnv({
        PORT: 'eighty',
        SIGNET_WORKERS: 'sometimes',
        DATABASE_URL: PG,
        SIGNET_WITNESSES: 'x',
        HOST: '::',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.problems.map((p) => p.variable)).toEqual([
      'PORT',
      'SIGNET_WORKERS',
      'SIGNET_WITNESSES',
      'SIGNET_PUBLIC_URL',
    ]);
    const lines = error!.message.split('\n');
    expect(lines[0]).toBe('4 problems in the configuration (environment variables; see the README, "Configuration"):');
    expect(lines[1]).toBe('  PORT="eighty": expected an integer from 0 to 65535');
    expect(lines[2]).toBe('  SIGNET_WORKERS="sometimes": expected inline or off');
    expect(lines[4]).toMatch(
      /^ {2}SIGNET_PUBLIC_URL \(unset\): expected the absolute http\(s\) URL .* required with DATABASE_URL/,
    );
    expect(error!.stack).toBeDefined();
  });

  describe('SIGNET_PUBLIC_URL', () => {
    it('is required when Postgres or Redis is configured, saying what it is for, with an example', () => {
      for (const [env, servers] of [
        [{ DATABASE_URL: PG }, 'DATABASE_URL'],
        [{ REDIS_URL: 'redis://127.0.0.1:6379' }, 'REDIS_URL'],
        [{ DATABASE_URL: PG, REDIS_URL: 'redis://127.0.0.1:6379' }, 'DATABASE_URL and REDIS_URL'],
        // A bad server URL is still a server configured: both problems are reported.
        [{ DATABASE_URL: 'db.example.org' }, 'DATABASE_URL'],
      ] as const) {
        const found = problems(env).find((p) => p.variable === 'SIGNET_PUBLIC_URL');
        expect(found?.value).toBeUndefined();
        expect(found?.expected).toContain(`required with ${servers}`);
        expect(found?.expected).toContain('announcement and archive link');
        expect(found?.expected).toContain('e.g. https://keys.example.org');
      }
      expect(configFromEnv({ DATABASE_URL: PG, SIGNET_PUBLIC_URL: 'https://keys.example.org' }).publicUrl).toBe(
        'https://keys.example.org',
      );
    });

    it.each([
      'keys.example.org',
      '//keys.example.org',
      'ftp://keys.example.org',
      'https://keys.example.org/signet',
      'https://keys.example.org/announcements.atom',
      'https://keys.example.org/?a=b',
      'https://keys.example.org?',
      'https://keys.example.org/#top',
      'https://user:pw@keys.example.org',
    ])('refuses %j: an origin only', (value) => {
      const found = problems({ SIGNET_PUBLIC_URL: value });
      expect(found).toEqual([
        { variable: 'SIGNET_PUBLIC_URL', value: expect.any(String), expected: expect.stringContaining('no path') },
      ]);
    });

    it.each([
      ['https://keys.example.org', 'https://keys.example.org'],
      ['https://keys.example.org/', 'https://keys.example.org'],
      ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
      ['HTTPS://KEYS.example.org:443', 'https://keys.example.org'],
    ])('takes %j as %j', (value, publicUrl) => {
      expect(configFromEnv({ SIGNET_PUBLIC_URL: value }).publicUrl).toBe(publicUrl);
    });
  });
  describe('SIGNET_BLOB_URL', () => {
    it.each([
      [
        's3://signet-blobs',
        { type: 's3', bucket: 'signet-blobs', prefix: '', endpoint: undefined, region: 'us-east-1' },
      ],
      ['s3://signet.blobs/', { type: 's3', bucket: 'signet.blobs', prefix: '' }],
      [
        's3://signet-blobs/keys.example.org/log/',
        { type: 's3', bucket: 'signet-blobs', prefix: 'keys.example.org/log' },
      ],
      ['file:///srv/signet/blobs/', { type: 'directory', dir: '/srv/signet/blobs', archiveDir: undefined }],
      ['file://localhost/srv/blobs', { type: 'directory', dir: '/srv/blobs', archiveDir: undefined }],
    ])('takes %j', (value, blobs) => {
      expect(configFromEnv({ SIGNET_BLOB_URL: value }).blobs).toMatchObject(blobs);
    });

    it('takes the endpoint and region of the AWS SDK variables, the S3 one first', () => {
      const env = { SIGNET_BLOB_URL: 's3://signet-blobs/p', AWS_REGION: 'eu-west-3' };
      expect(configFromEnv({ ...env, AWS_ENDPOINT_URL: 'http://127.0.0.1:9000' }).blobs).toEqual({
        type: 's3',
        bucket: 'signet-blobs',
        prefix: 'p',
        endpoint: 'http://127.0.0.1:9000',
        region: 'eu-west-3',
      });
      expect(
        configFromEnv({ ...env, AWS_ENDPOINT_URL: 'http://a.example', AWS_ENDPOINT_URL_S3: 'https://s3.example' })
          .blobs,
      ).toMatchObject({ endpoint: 'https://s3.example' });
      // Not read, nor checked, without s3://: they may be meant for something else.
      expect(configFromEnv({ AWS_ENDPOINT_URL: 'not a url' }).blobs.type).toBe('directory');
    });

    it('keeps SIGNET_ARCHIVE_DIR for the directory default', () => {
      expect(configFromEnv({ SIGNET_ARCHIVE_DIR: '/srv/archive' }).blobs).toEqual({
        type: 'directory',
        dir: undefined,
        archiveDir: '/srv/archive',
      });
    });

    it.each([
      'signet-blobs',
      '/srv/blobs',
      'https://signet-blobs.s3.amazonaws.com/x',
      's3://',
      's3:///prefix',
      's3://Signet_Blobs',
      's3://ab',
      's3://signet-blobs:9000/x',
      's3://key:secret@signet-blobs/x',
      's3://signet-blobs/a//b',
      's3://signet-blobs/a/../b',
      's3://signet-blobs/a b',
      's3://signet-blobs/x?region=eu',
      'file:relative/dir',
      'file://elsewhere.example/srv/blobs',
    ])('refuses %j', (value) => {
      expect(problems({ SIGNET_BLOB_URL: value })).toEqual([
        {
          variable: 'SIGNET_BLOB_URL',
          value: expect.any(String),
          expected: expect.stringContaining('s3://bucket or s3://bucket/prefix'),
        },
      ]);
    });

    it('refuses SIGNET_ARCHIVE_DIR beside it, a bad endpoint, and artifacts larger than one S3 PUT', () => {
      expect(problems({ SIGNET_BLOB_URL: 'file:///srv/blobs', SIGNET_ARCHIVE_DIR: '/srv/archive' })).toEqual([
        {
          variable: 'SIGNET_ARCHIVE_DIR',
          value: '/srv/archive',
          expected: expect.stringContaining('unset when SIGNET_BLOB_URL is set'),
        },
      ]);
      expect(
        problems({
          SIGNET_BLOB_URL: 's3://signet-blobs',
          AWS_ENDPOINT_URL_S3: '127.0.0.1:9000',
          SIGNET_MAX_ARTIFACT_BYTES: String(6 * 1024 ** 3),
        }),
      ).toEqual([
        { variable: 'AWS_ENDPOINT_URL_S3', value: '127.0.0.1:9000', expected: expect.stringContaining('http(s) URL') },
        {
          variable: 'SIGNET_MAX_ARTIFACT_BYTES',
          value: String(6 * 1024 ** 3),
          expected: expect.stringContaining('5 GiB, one S3 PUT'),
        },
      ]);
    });
  });
});
