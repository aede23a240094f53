import { join, resolve } from 'node:path';
import type { Policy } from '@signet/domain';
import { parseWitnessVerifierKeys } from '@signet/tlog';

/** Everything Signet reads from the environment, in one place (the README lists each). */
export interface SignetConfig {
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly poolSize: number;
  /** The log's signer key (`PRIVATE+KEY+…`); otherwise `<dataDir>/log.key`. */
  readonly logKey: string | undefined;
  /** Origin for a new log key (`signet init`). */
  readonly origin: string;
  readonly port: number;
  readonly host: string;
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
  readonly archive: {
    readonly dir: string;
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

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

/** SIGNET_WITNESSES: verifier keys separated by commas or newlines, each checked here so a typo stops the start. */
function witnessKeys(raw: string | undefined): string[] {
  try {
    return parseWitnessVerifierKeys(raw ?? '').map((w) => w.verifierKey);
  } catch (error) {
    throw new Error(`SIGNET_WITNESSES: ${(error as Error).message}`);
  }
}

function workersMode(raw: string | undefined, redisUrl: string | undefined): 'inline' | 'off' {
  if (raw === 'inline' || raw === 'off') return raw;
  if (raw) throw new Error(`SIGNET_WORKERS must be inline or off, got "${raw}"`);
  return redisUrl ? 'off' : 'inline';
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): SignetConfig {
  const dataDir = resolve(env.SIGNET_DATA_DIR || './data');
  const port = int(env, 'PORT', 3000, 0, 65535);
  const redisUrl = env.REDIS_URL || undefined;
  return {
    dataDir,
    databaseUrl: env.DATABASE_URL || undefined,
    poolSize: int(env, 'SIGNET_DB_POOL', 10, 1, 1000),
    logKey: env.SIGNET_LOG_KEY || undefined,
    origin: env.SIGNET_ORIGIN || 'localhost/signet',
    port,
    host: env.HOST || '0.0.0.0',
    maxBatch: int(env, 'SIGNET_MAX_BATCH', 1000, 1, 5000),
    genesis: {
      rootKeyFiles: (env.SIGNET_ROOT_KEYS ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      waitingPeriodDays: int(env, 'SIGNET_WAIT_DAYS', 14, 0, 3650),
      authorizationsRequired: int(env, 'SIGNET_AUTHORIZATIONS', 1, 1, 100),
      rsaMinBits: int(env, 'SIGNET_RSA_MIN_BITS', 4096, 2048, 16384),
      allowEd25519: env.SIGNET_ALLOW_ED25519 === '1' || env.SIGNET_ALLOW_ED25519 === 'true',
      signingKeyComment: env.SIGNET_SIGNING_KEY_COMMENT ?? 'CODE SIGNING KEY',
      commandWindowSeconds: int(env, 'SIGNET_COMMAND_WINDOW', 300, 1, 86400),
    },
    clockFile: env.SIGNET_CLOCK_FILE || undefined,
    maxArtifactBytes: int(env, 'SIGNET_MAX_ARTIFACT_BYTES', 512 * 1024 * 1024, 1, 2 ** 40),
    redisUrl,
    workers: workersMode(env.SIGNET_WORKERS, redisUrl),
    publicUrl: (env.SIGNET_PUBLIC_URL || `http://localhost:${port}`).replace(/\/+$/, ''),
    announce: {
      webhookUrl: env.SIGNET_WEBHOOK_URL || undefined,
      webhookSecret: env.SIGNET_WEBHOOK_SECRET || undefined,
      mastodonUrl: env.SIGNET_MASTODON_URL?.replace(/\/+$/, '') || undefined,
      mastodonToken: env.SIGNET_MASTODON_TOKEN || undefined,
      attempts: int(env, 'SIGNET_ANNOUNCE_ATTEMPTS', 8, 1, 100),
    },
    archive: {
      dir: resolve(env.SIGNET_ARCHIVE_DIR || join(dataDir, 'archive')),
      triggers: (env.SIGNET_ARCHIVE_TRIGGERS ?? '').split(/\s+/).filter(Boolean),
    },
    witnesses: witnessKeys(env.SIGNET_WITNESSES),
    snapshot: {
      ttlMs: int(env, 'SIGNET_SNAPSHOT_TTL_HOURS', 168, 1, 24 * 366) * 3_600_000,
      refreshMs: int(env, 'SIGNET_SNAPSHOT_REFRESH_HOURS', 24, 1, 24 * 365) * 3_600_000,
    },
    jobs: {
      pollMs: int(env, 'SIGNET_OUTBOX_POLL_MS', 250, 5, 60_000),
      sweepMs: int(env, 'SIGNET_SWEEP_MS', 60_000, 50, 86_400_000),
      retryBaseMs: int(env, 'SIGNET_RETRY_BASE_MS', 1000, 1, 3_600_000),
      lockMs: int(env, 'SIGNET_JOB_LOCK_MS', 30_000, 500, 3_600_000),
      concurrency: int(env, 'SIGNET_JOB_CONCURRENCY', 8, 1, 256),
      queue: env.SIGNET_QUEUE || 'signet',
    },
  };
}
