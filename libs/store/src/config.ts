import { resolve } from 'node:path';

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
  };
}
