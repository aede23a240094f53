import { resolve } from 'node:path';
import type { Policy } from '@signet/domain';

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
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): SignetConfig {
  return {
    dataDir: resolve(env.SIGNET_DATA_DIR || './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    poolSize: int(env, 'SIGNET_DB_POOL', 10, 1, 1000),
    logKey: env.SIGNET_LOG_KEY || undefined,
    origin: env.SIGNET_ORIGIN || 'localhost/signet',
    port: int(env, 'PORT', 3000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    maxBatch: int(env, 'SIGNET_MAX_BATCH', 1000, 1, 5000),
    genesis: {
      rootKeyFiles: (env.SIGNET_ROOT_KEYS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
      waitingPeriodDays: int(env, 'SIGNET_WAIT_DAYS', 14, 0, 3650),
      authorizationsRequired: int(env, 'SIGNET_AUTHORIZATIONS', 1, 1, 100),
      rsaMinBits: int(env, 'SIGNET_RSA_MIN_BITS', 4096, 2048, 16384),
      allowEd25519: env.SIGNET_ALLOW_ED25519 === '1' || env.SIGNET_ALLOW_ED25519 === 'true',
      signingKeyComment: env.SIGNET_SIGNING_KEY_COMMENT ?? 'CODE SIGNING KEY',
      commandWindowSeconds: int(env, 'SIGNET_COMMAND_WINDOW', 300, 1, 86400),
    },
    clockFile: env.SIGNET_CLOCK_FILE || undefined,
    maxArtifactBytes: int(env, 'SIGNET_MAX_ARTIFACT_BYTES', 512 * 1024 * 1024, 1, 2 ** 40),
  };
}
