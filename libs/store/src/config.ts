import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEFAULT_POLICY, type Policy } from '@signet/domain';
import { checkName, parseSignerKey, parseWitnessVerifierKeys } from '@signet/tlog';

/** Everything Signet reads from the environment, in one place (the README lists each). */
export interface SignetConfig {
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly poolSize: number;
  /** The log's signer key (`PRIVATE+KEY+…`, from SIGNET_LOG_KEY or SIGNET_LOG_KEY_FILE); otherwise `<dataDir>/log.key`. */
  readonly logKey: string | undefined;
  /** Origin for a new log key (`signet init`). */
  readonly origin: string;
  readonly port: number;
  readonly host: string;
  /** The worker process's own HTTP port (/healthz, /readyz, /metrics); null: none. */
  readonly workerPort: number | null;
  /** What the processes log (one JSON object per line on stdout), and how. */
  readonly logs: {
    readonly level: LogLevelName;
    /** `auto`: readable text on a terminal, JSON otherwise. */
    readonly format: 'auto' | 'json' | 'pretty';
  };
  readonly maxBatch: number;
  /** Genesis policy, used only when a new log is created; root keys as paths of armored files. */
  readonly genesis: Omit<Policy, 'rootKeys'> & { readonly rootKeyFiles: readonly string[] };
  /** Test-only: read the log's time from this file (an ISO 8601 instant) instead of the system clock. */
  readonly clockFile: string | undefined;
  /** Largest artifact accepted with a package signature, in bytes. */
  readonly maxArtifactBytes: number;
  /** Redis for the job queue (BullMQ); unset: the workers run in-process in `npm start`. */
  readonly redisUrl: string | undefined;
  /** `inline`: run the workers inside the API process; `off`: leave them to `apps/worker`. */
  readonly workers: 'inline' | 'off';
  /** Where people reach this log: the base of announcement and archive URLs. */
  readonly publicUrl: string;
  readonly announce: {
    readonly webhookUrl: string | undefined;
    readonly webhookSecret: string | undefined;
    readonly mastodonUrl: string | undefined;
    readonly mastodonToken: string | undefined;
    /** Tries per announcement on a failing channel before it is recorded as failed. */
    readonly attempts: number;
  };
  /** Where artifacts and archive snapshots are kept (README: Blob storage). */
  readonly blobs: BlobsConfig;
  readonly archive: {
    /** URL templates called after each snapshot: {url} the live listing, {archive} the snapshot, {sha256}. */
    readonly triggers: readonly string[];
  };
  /** Witness verifier keys (C2SP tlog-cosignature, type 0x04) whose cosignatures the log accepts and serves. */
  readonly witnesses: readonly string[];
  /** Trust snapshots: lifetime, and the period at which the head's is issued again. */
  readonly snapshot: { readonly ttlMs: number; readonly refreshMs: number };
  readonly jobs: {
    /** How often the dispatcher looks for new events (it is also woken by this process's appends). */
    readonly pollMs: number;
    /** Period of the activation sweep and of re-sending pending jobs. */
    readonly sweepMs: number;
    /** First retry delay; doubled each try. */
    readonly retryBaseMs: number;
    /** BullMQ lock: a job whose worker died runs again after about this long. */
    readonly lockMs: number;
    readonly concurrency: number;
    /** BullMQ queue name (and key prefix), for several logs on one Redis. */
    readonly queue: string;
  };
}

/**
 * The blob store: directories (`artifacts/` and `archive/` under `dir`, by default the data
 * directory; the archive in `archiveDir` when SIGNET_ARCHIVE_DIR says so), or S3-compatible
 * object storage.
 */
export type BlobsConfig =
  | { readonly type: 'directory'; readonly dir: string | undefined; readonly archiveDir: string | undefined }
  | {
      readonly type: 's3';
      readonly bucket: string;
      /** Keys start with it; no leading or trailing `/`, empty for none. */
      readonly prefix: string;
      /** AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL: an S3-compatible server; unset: AWS. */
      readonly endpoint: string | undefined;
      readonly region: string;
    };

/** pino's levels, most to least severe; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** One variable that cannot be used: its name, its value as given (secrets hidden), what it must be. */
export interface ConfigProblem {
  readonly variable: string;
  /** Undefined when the variable is unset. */
  readonly value: string | undefined;
  readonly expected: string;
}

/** The configuration cannot be used. Every problem is listed, not only the first found. */
export class ConfigError extends Error {
  readonly code = 'BAD_CONFIG';

  constructor(readonly problems: readonly ConfigProblem[]) {
    const lines = problems.map(
      (p) =>
        `  ${p.variable}${p.value === undefined ? ' (unset)' : `=${JSON.stringify(p.value)}`}: expected ${p.expected}`,
    );
    const count = problems.length === 1 ? 'a problem' : `${problems.length} problems`;
    super(
      `${count} in the configuration (environment variables; see the README, "Configuration"):\n${lines.join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

const SECRETS = new Set(['SIGNET_LOG_KEY', 'SIGNET_WEBHOOK_SECRET', 'SIGNET_MASTODON_TOKEN']);

/** A value as an error message may show it: secrets, and passwords in URLs, are hidden. */
function shown(variable: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (SECRETS.has(variable)) return '(secret, not shown)';
  return raw.replace(/(\/\/[^/@:\s]*:)[^/@\s]*@/g, '$1***@');
}

/** Thrown by a variable's reader: what the value should have been. */
class Expected extends Error {}

/** A variable: unset or empty takes `fallback`; otherwise `read` gives its value or throws `Expected`. */
function variable<T>(fallback: T, read: (raw: string) => T) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): T => {
      if (raw === undefined || raw === '') return fallback;
      try {
        return read(raw);
      } catch (error) {
        if (!(error instanceof Expected)) throw error;
        ctx.addIssue({ code: 'custom', message: error.message });
        return z.NEVER;
      }
    });
}

const integer = (fallback: number, min: number, max: number) =>
  variable(fallback, (raw) => {
    const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Expected(`an integer from ${min} to ${max}`);
    return n;
  });

const text = <T extends string | undefined>(fallback: T) => variable<string | T>(fallback, (raw) => raw);

function url(raw: string, protocols: readonly string[], expected: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new Expected(expected);
  }
  if (!protocols.includes(parsed.protocol)) throw new Expected(expected);
  return parsed;
}

const HTTP = ['http:', 'https:'];
const httpUrl = variable(undefined, (raw) => {
  url(raw, HTTP, 'an absolute http:// or https:// URL');
  return raw;
});

const PUBLIC_URL_EXPECTED =
  'the absolute http(s) URL people reach this log at: scheme, host and port only, no path, query or fragment ' +
  '(the server answers at the root of it), e.g. https://keys.example.org';

/**
 * Where people reach the log, written into announcements and archive links for good. Only an
 * origin is accepted: the server's own pages link from the root (`/keys/…`), so a path would be
 * a guess about a proxy, and a query or fragment would swallow every path appended to it.
 */
const publicUrl = variable(undefined, (raw) => {
  const u = url(raw, HTTP, PUBLIC_URL_EXPECTED);
  if (u.username || u.password || u.pathname !== '/' || u.search || u.hash || /[?#]/.test(raw)) {
    throw new Expected(PUBLIC_URL_EXPECTED);
  }
  return u.origin;
});

const boolean = variable(false, (raw) => {
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new Expected('1 or 0 (true/false, yes/no, on/off)');
});

const ARCHIVE_PLACEHOLDERS = ['{url}', '{archive}', '{sha256}'];

const BLOB_URL_EXPECTED =
  's3://bucket or s3://bucket/prefix (S3-compatible object storage; endpoint, region and credentials from ' +
  'the AWS_* variables), or file:///absolute/directory';

/** The largest object one S3 PUT may create (larger ones need a multipart upload, which this store does not do). */
export const S3_MAX_PUT_BYTES = 5 * 1024 ** 3;

type BlobUrl = { type: 'directory'; dir: string } | { type: 's3'; bucket: string; prefix: string };

const blobUrl = variable<BlobUrl | undefined>(undefined, (raw) => {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Expected(BLOB_URL_EXPECTED);
  }
  if (u.username || u.password || u.port || u.search || u.hash || /[?#]/.test(raw))
    throw new Expected(BLOB_URL_EXPECTED);
  if (u.protocol === 'file:') {
    if (!raw.startsWith('file://') || (u.host !== '' && u.host !== 'localhost')) throw new Expected(BLOB_URL_EXPECTED);
    return { type: 'directory', dir: resolve(fileURLToPath(u)) };
  }
  if (u.protocol === 's3:') {
    // S3's bucket naming rules (lower case, digits, dots and hyphens, 3 to 63 characters).
    const bucket = u.hostname;
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..'))
      throw new Expected(`${BLOB_URL_EXPECTED} (a bucket name is 3-63 of a-z, 0-9, "." and "-")`);
    const prefix = u.pathname.replace(/^\/+|\/+$/g, '');
    // The URL parser folds "a/../b" into "b": look at what was written.
    if (/\/\.{1,2}(\/|$)/.test(raw.slice('s3://'.length)))
      throw new Expected(`${BLOB_URL_EXPECTED} (no "." or ".." segment in the prefix)`);
    if (
      prefix &&
      (!/^[A-Za-z0-9._\-/]+$/.test(prefix) || prefix.split('/').some((s) => s === '' || s === '.' || s === '..'))
    )
      throw new Expected(
        `${BLOB_URL_EXPECTED} (a prefix is segments of A-Z, a-z, 0-9, ".", "_" and "-" joined by "/")`,
      );
    return { type: 's3', bucket, prefix };
  }
  throw new Expected(BLOB_URL_EXPECTED);
});

/** The environment, variable by variable; unset and empty are the same (the defaults of the README). */
const envSchema = z
  .object({
    SIGNET_DATA_DIR: text('./data'),
    DATABASE_URL: variable(undefined, (raw) => {
      url(raw, ['postgres:', 'postgresql:'], 'a Postgres URL, e.g. postgres://signet@db.example.org:5432/signet');
      return raw;
    }),
    SIGNET_DB_POOL: integer(10, 1, 1000),
    SIGNET_LOG_KEY: variable(undefined, (raw) => {
      try {
        parseSignerKey(raw);
      } catch {
        throw new Expected('a signer key PRIVATE+KEY+<origin>+<hash>+<base64> (C2SP signed-note form)');
      }
      return raw;
    }),
    // The same key from a file: a container secret (/run/secrets/…) or a systemd credential
    // (LoadCredential=, $CREDENTIALS_DIRECTORY), so that the key never sits in the environment.
    SIGNET_LOG_KEY_FILE: variable(undefined, (raw) => {
      let text: string;
      try {
        text = readFileSync(raw, 'utf8').trim();
      } catch (error) {
        const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        throw new Expected(`the path of a file this process can read, holding the log's signer key (${why})`);
      }
      try {
        parseSignerKey(text);
      } catch {
        throw new Expected('a file holding a signer key PRIVATE+KEY+<origin>+<hash>+<base64> (C2SP signed-note form)');
      }
      return text;
    }),
    SIGNET_ORIGIN: variable('localhost/signet', (raw) => {
      try {
        checkName(raw);
      } catch {
        throw new Expected('a key name without spaces or "+", e.g. signet.example.org/log');
      }
      return raw;
    }),
    PORT: integer(3000, 0, 65535),
    HOST: text('0.0.0.0'),
    SIGNET_WORKER_PORT: variable<number | null>(9464, (raw) => {
      if (raw.trim().toLowerCase() === 'off') return null;
      const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
      if (!Number.isSafeInteger(n) || n > 65535) throw new Expected('an integer from 0 to 65535, or off');
      return n;
    }),
    SIGNET_LOG_LEVEL: variable<LogLevelName>('info', (raw) => {
      const level = raw.trim().toLowerCase();
      if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Expected(`one of ${LOG_LEVELS.join(', ')}`);
      return level as LogLevelName;
    }),
    SIGNET_LOG_FORMAT: variable<'auto' | 'json' | 'pretty'>('auto', (raw) => {
      const format = raw.trim().toLowerCase();
      if (format === 'auto' || format === 'json' || format === 'pretty') return format;
      throw new Expected('auto, json or pretty');
    }),
    SIGNET_MAX_BATCH: integer(1000, 1, 5000),
    SIGNET_ROOT_KEYS: variable<string[]>([], (raw) =>
      raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
    SIGNET_WAIT_DAYS: integer(DEFAULT_POLICY.waitingPeriodDays, 0, 3650),
    SIGNET_AUTHORIZATIONS: integer(DEFAULT_POLICY.authorizationsRequired, 1, 100),
    SIGNET_RSA_MIN_BITS: integer(DEFAULT_POLICY.rsaMinBits, 2048, 16384),
    SIGNET_ALLOW_ED25519: boolean,
    // Empty is a value here, not unset: no rule on the user ID comment.
    SIGNET_SIGNING_KEY_COMMENT: z
      .string()
      .optional()
      .transform((raw) => raw ?? DEFAULT_POLICY.signingKeyComment),
    SIGNET_COMMAND_WINDOW: integer(DEFAULT_POLICY.commandWindowSeconds, 1, 86400),
    SIGNET_CLOCK_FILE: text(undefined),
    SIGNET_MAX_ARTIFACT_BYTES: integer(512 * 1024 * 1024, 1, 2 ** 40),
    REDIS_URL: variable(undefined, (raw) => {
      url(raw, ['redis:', 'rediss:'], 'a Redis URL, redis:// or rediss://, e.g. redis://127.0.0.1:6379');
      return raw;
    }),
    SIGNET_WORKERS: variable<'inline' | 'off' | undefined>(undefined, (raw) => {
      if (raw === 'inline' || raw === 'off') return raw;
      throw new Expected('inline or off');
    }),
    SIGNET_PUBLIC_URL: publicUrl,
    SIGNET_WEBHOOK_URL: httpUrl,
    SIGNET_WEBHOOK_SECRET: text(undefined),
    SIGNET_MASTODON_URL: httpUrl,
    SIGNET_MASTODON_TOKEN: text(undefined),
    SIGNET_ANNOUNCE_ATTEMPTS: integer(8, 1, 100),
    SIGNET_ARCHIVE_DIR: text(undefined),
    SIGNET_BLOB_URL: blobUrl,
    // The AWS SDK's own variables, read here for an s3:// SIGNET_BLOB_URL only (checked below).
    AWS_ENDPOINT_URL_S3: text(undefined),
    AWS_ENDPOINT_URL: text(undefined),
    AWS_REGION: text('us-east-1'),
    SIGNET_ARCHIVE_TRIGGERS: variable<string[]>([], (raw) => {
      const templates = raw.split(/\s+/).filter(Boolean);
      for (const template of templates) {
        const unknown = template.match(/\{[^}]*\}/g)?.find((p) => !ARCHIVE_PLACEHOLDERS.includes(p));
        const filled = ARCHIVE_PLACEHOLDERS.reduce((t, p) => t.replaceAll(p, 'x'), template);
        const what = `space-separated http(s) URL templates with ${ARCHIVE_PLACEHOLDERS.join(', ')}`;
        if (unknown) throw new Expected(`${what} (not ${unknown})`);
        url(filled, HTTP, `${what} (not ${template})`);
      }
      return templates;
    }),
    SIGNET_WITNESSES: variable<string[]>([], (raw) => {
      try {
        return parseWitnessVerifierKeys(raw).map((w) => w.verifierKey);
      } catch (error) {
        const why = (error as Error).message;
        throw new Expected(`witness verifier keys <name>+<hash>+<base64>, separated by commas or newlines (${why})`);
      }
    }),
    SIGNET_SNAPSHOT_TTL_HOURS: integer(168, 1, 24 * 366),
    SIGNET_SNAPSHOT_REFRESH_HOURS: integer(24, 1, 24 * 365),
    SIGNET_OUTBOX_POLL_MS: integer(250, 5, 60_000),
    SIGNET_SWEEP_MS: integer(60_000, 50, 86_400_000),
    SIGNET_RETRY_BASE_MS: integer(1000, 1, 3_600_000),
    SIGNET_JOB_LOCK_MS: integer(30_000, 500, 3_600_000),
    SIGNET_JOB_CONCURRENCY: integer(8, 1, 256),
    SIGNET_QUEUE: variable('signet', (raw) => {
      // BullMQ joins its Redis keys with ":".
      if (/[:\s]/.test(raw)) throw new Expected('a queue name without ":" or spaces');
      return raw;
    }),
  })
  // Rules across variables. They run even when a variable failed (`when`), so that every problem
  // is reported at once; a failed variable's value is then not of its type, only "given".
  .superRefine(
    (v, ctx) => {
      const given = (value: unknown) => value !== undefined;
      if (!given(v.SIGNET_PUBLIC_URL) && (given(v.DATABASE_URL) || given(v.REDIS_URL))) {
        const servers = [given(v.DATABASE_URL) && 'DATABASE_URL', given(v.REDIS_URL) && 'REDIS_URL'].filter(Boolean);
        ctx.addIssue({
          code: 'custom',
          path: ['SIGNET_PUBLIC_URL'],
          message:
            `${PUBLIC_URL_EXPECTED}; required with ${servers.join(' and ')} (a deployment, not a trial on this ` +
            'machine), because every announcement and archive link the log records is built on it for good',
        });
      }
      if (given(v.SIGNET_LOG_KEY) && given(v.SIGNET_LOG_KEY_FILE)) {
        ctx.addIssue({
          code: 'custom',
          path: ['SIGNET_LOG_KEY_FILE'],
          message: 'to be unset when SIGNET_LOG_KEY is set (the key comes from one or the other)',
        });
      }
      const [ttl, refresh] = [v.SIGNET_SNAPSHOT_TTL_HOURS, v.SIGNET_SNAPSHOT_REFRESH_HOURS];
      if (typeof ttl === 'number' && typeof refresh === 'number' && refresh >= ttl) {
        ctx.addIssue({
          code: 'custom',
          path: ['SIGNET_SNAPSHOT_REFRESH_HOURS'],
          message: `fewer hours than SIGNET_SNAPSHOT_TTL_HOURS (${ttl})`,
        });
      }
      if (given(v.SIGNET_MASTODON_URL) !== given(v.SIGNET_MASTODON_TOKEN)) {
        const missing = given(v.SIGNET_MASTODON_URL) ? 'SIGNET_MASTODON_TOKEN' : 'SIGNET_MASTODON_URL';
        const other = missing === 'SIGNET_MASTODON_URL' ? 'SIGNET_MASTODON_TOKEN' : 'SIGNET_MASTODON_URL';
        ctx.addIssue({ code: 'custom', path: [missing], message: `to be set too when ${other} is (both or neither)` });
      }
      const blobs = v.SIGNET_BLOB_URL as BlobUrl | undefined;
      if (given(blobs) && given(v.SIGNET_ARCHIVE_DIR)) {
        ctx.addIssue({
          code: 'custom',
          path: ['SIGNET_ARCHIVE_DIR'],
          message: 'unset when SIGNET_BLOB_URL is set (the archive is then archive/ in the blob store)',
        });
      }
      if (blobs?.type === 's3') {
        for (const name of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'] as const) {
          const endpoint = v[name];
          if (typeof endpoint !== 'string') continue;
          try {
            url(endpoint, HTTP, '');
          } catch {
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message:
                'the http(s) URL of the S3-compatible server, e.g. http://127.0.0.1:9000 (SIGNET_BLOB_URL is s3://)',
            });
          }
        }
        const max = v.SIGNET_MAX_ARTIFACT_BYTES;
        if (typeof max === 'number' && max > S3_MAX_PUT_BYTES) {
          ctx.addIssue({
            code: 'custom',
            path: ['SIGNET_MAX_ARTIFACT_BYTES'],
            message: `at most ${S3_MAX_PUT_BYTES} (5 GiB, one S3 PUT) when SIGNET_BLOB_URL is s3://`,
          });
        }
      }
    },
    { when: () => true },
  );

/** The name of every variable the configuration reads (the README's "Configuration" table). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/**
 * The configuration from the environment, every variable checked at once: a ConfigError
 * (`BAD_CONFIG`) lists each that cannot be used, with its value and what it must be.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): SignetConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '?');
        return { variable: name, value: shown(name, env[name]), expected: issue.message };
      }),
    );
  }
  const e = parsed.data;
  const dataDir = resolve(e.SIGNET_DATA_DIR);
  return {
    dataDir,
    databaseUrl: e.DATABASE_URL,
    poolSize: e.SIGNET_DB_POOL,
    logKey: e.SIGNET_LOG_KEY ?? e.SIGNET_LOG_KEY_FILE,
    origin: e.SIGNET_ORIGIN,
    port: e.PORT,
    host: e.HOST,
    workerPort: e.SIGNET_WORKER_PORT,
    logs: { level: e.SIGNET_LOG_LEVEL, format: e.SIGNET_LOG_FORMAT },
    maxBatch: e.SIGNET_MAX_BATCH,
    genesis: {
      rootKeyFiles: e.SIGNET_ROOT_KEYS,
      waitingPeriodDays: e.SIGNET_WAIT_DAYS,
      authorizationsRequired: e.SIGNET_AUTHORIZATIONS,
      rsaMinBits: e.SIGNET_RSA_MIN_BITS,
      allowEd25519: e.SIGNET_ALLOW_ED25519,
      signingKeyComment: e.SIGNET_SIGNING_KEY_COMMENT,
      commandWindowSeconds: e.SIGNET_COMMAND_WINDOW,
    },
    clockFile: e.SIGNET_CLOCK_FILE,
    maxArtifactBytes: e.SIGNET_MAX_ARTIFACT_BYTES,
    redisUrl: e.REDIS_URL,
    workers: e.SIGNET_WORKERS ?? (e.REDIS_URL ? 'off' : 'inline'),
    // Without a server configured this is a trial on one machine (`npm start`): links to itself.
    publicUrl: e.SIGNET_PUBLIC_URL ?? `http://localhost:${e.PORT}`,
    announce: {
      webhookUrl: e.SIGNET_WEBHOOK_URL,
      webhookSecret: e.SIGNET_WEBHOOK_SECRET,
      mastodonUrl: e.SIGNET_MASTODON_URL?.replace(/\/+$/, ''),
      mastodonToken: e.SIGNET_MASTODON_TOKEN,
      attempts: e.SIGNET_ANNOUNCE_ATTEMPTS,
    },
    blobs:
      e.SIGNET_BLOB_URL?.type === 's3'
        ? {
            type: 's3',
            bucket: e.SIGNET_BLOB_URL.bucket,
            prefix: e.SIGNET_BLOB_URL.prefix,
            endpoint: e.AWS_ENDPOINT_URL_S3 ?? e.AWS_ENDPOINT_URL,
            region: e.AWS_REGION,
          }
        : {
            type: 'directory',
            dir: e.SIGNET_BLOB_URL?.dir,
            archiveDir: e.SIGNET_ARCHIVE_DIR === undefined ? undefined : resolve(e.SIGNET_ARCHIVE_DIR),
          },
    archive: { triggers: e.SIGNET_ARCHIVE_TRIGGERS },
    witnesses: e.SIGNET_WITNESSES,
    snapshot: {
      ttlMs: e.SIGNET_SNAPSHOT_TTL_HOURS * 3_600_000,
      refreshMs: e.SIGNET_SNAPSHOT_REFRESH_HOURS * 3_600_000,
    },
    jobs: {
      pollMs: e.SIGNET_OUTBOX_POLL_MS,
      sweepMs: e.SIGNET_SWEEP_MS,
      retryBaseMs: e.SIGNET_RETRY_BASE_MS,
      lockMs: e.SIGNET_JOB_LOCK_MS,
      concurrency: e.SIGNET_JOB_CONCURRENCY,
      queue: e.SIGNET_QUEUE,
    },
  };
}
