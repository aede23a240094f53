import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { API_MAIN, WORKER_MAIN } from '../support/app.js';
import { tempDir } from '../support/backends.js';

// The configuration is refused before anything is opened, so no server is needed behind these URLs.
const run = (main: string, env: Record<string, string>) =>
  spawnSync(process.execPath, [main], {
    env: { PATH: process.env.PATH, NO_COLOR: '1', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('the server and the worker refuse a configuration they cannot use', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it.each([
    ['the server', API_MAIN, 'signet'],
    ['the worker', WORKER_MAIN, 'worker'],
  ])(
    '%s: exit 2, every problem at once, SIGNET_PUBLIC_URL required with Postgres or Redis, no stack',
    (_, main, name) => {
      const r = run(main, {
        SIGNET_DATA_DIR: dir.path,
        DATABASE_URL: 'postgres://signet@127.0.0.1:1/signet',
        REDIS_URL: 'redis://127.0.0.1:1',
        SIGNET_WORKERS: 'both',
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^${name}: BAD_CONFIG: 2 problems in the configuration`));
      expect(r.stderr).toContain('  SIGNET_WORKERS="both": expected inline or off\n');
      expect(r.stderr).toContain(
        '  SIGNET_PUBLIC_URL (unset): expected the absolute http(s) URL people reach this log at',
      );
      expect(r.stderr).toContain('required with DATABASE_URL and REDIS_URL');
      expect(r.stderr).toContain('e.g. https://keys.example.org');
      expect(r.stderr).not.toMatch(/^\s+at /m);
      const path = run(main, {
        SIGNET_DATA_DIR: dir.path,
        DATABASE_URL: 'postgres://127.0.0.1:1/x',
        SIGNET_PUBLIC_URL: 'https://k.example/x',
      });
      expect([path.status, path.stderr]).toEqual([
        2,
        expect.stringContaining('  SIGNET_PUBLIC_URL="https://k.example/x": expected'),
      ]);
      dir.remove();
    },
  );
});
