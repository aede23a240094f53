import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { type SignetConfig, configFromEnv } from '@signet/store';

/** Where the machine's Postgres is; tests only ever create and drop their own databases in it. */
export const PG_ADMIN_URL = process.env.SIGNET_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ThrowawayPostgres {
  readonly url: string;
  drop(): Promise<void>;
}

/** A fresh, uniquely named database on the shared server. */
export async function throwawayPostgres(): Promise<ThrowawayPostgres> {
  const name = `signet_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const a = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

export function tempDir(prefix = 'signet-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export type BackendName = 'pglite' | 'postgres';
export const BACKENDS: BackendName[] = ['pglite', 'postgres'];

export interface Backend {
  readonly name: BackendName;
  readonly config: SignetConfig;
  cleanup(): Promise<void>;
}

/** A new empty log location on the given backend: a temp data dir, plus a database for Postgres. */
export async function newBackend(name: BackendName, overrides: Partial<SignetConfig> = {}): Promise<Backend> {
  const dir = tempDir();
  const pg = name === 'postgres' ? await throwawayPostgres() : null;
  const config: SignetConfig = {
    ...configFromEnv({}),
    dataDir: dir.path,
    databaseUrl: pg?.url,
    origin: 'signet.test/log',
    ...overrides,
  };
  return {
    name,
    config,
    cleanup: async () => {
      await pg?.drop();
      dir.remove();
    },
  };
}
