import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ROOT, UNITS, composeFile } from './files.js';

// The deployment files checked by the tools made for them, where this machine has them:
// `systemd-analyze verify` on the units, `docker-compose config` (or `docker compose config`) on
// compose.yaml — which parses and validates the file, interpolation included, without an engine —
// and `caddy validate` on the Caddyfile; and the containers' health check script against a local
// server. A missing tool skips its check with a warning; SIGNET_REQUIRE_DEPLOY_TOOLS=1 (.ci/run,
// which installs them) makes it a failure instead.

const REQUIRE = process.env.SIGNET_REQUIRE_DEPLOY_TOOLS === '1';

function has(command: string, args: string[] = ['--version']): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/** Whether to run a check that needs `tool`: false (with a warning) when it is missing and not required. */
function available(tool: string, present: boolean): boolean {
  if (present) return true;
  if (REQUIRE) throw new Error(`${tool} is not installed, and SIGNET_REQUIRE_DEPLOY_TOOLS=1 requires it`);
  console.warn(`*** ${tool} is not installed: its check of the deployment files is skipped (apt-get install ${tool})`);
  return false;
}

const scratch = mkdtempSync(join(tmpdir(), 'signet-deploy-tools-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('systemd-analyze verify', () => {
  it('finds nothing to say about the units, instantiated as the README enables them', () => {
    if (!available('systemd-analyze', has('systemd-analyze'))) return;
    const dir = join(scratch, 'units');
    mkdirSync(dir);
    for (const name of [...UNITS, 'signet.target']) cpSync(join(ROOT, 'deploy/systemd', name), join(dir, name));
    const verify = (units: string[]) =>
      spawnSync('systemd-analyze', ['verify', '--man=no', ...units.map((u) => `./${u}`)], {
        cwd: dir,
        encoding: 'utf8',
      });
    const run = verify([
      'signet.target',
      'signet-init.service',
      'signet-api@3001.service',
      'signet-worker@9464.service',
    ]);
    expect(run.stderr + run.stdout).toBe('');
    expect(run.status).toBe(0);
    // It does read them: a misspelt setting is reported.
    writeFileSync(
      join(dir, 'signet-broken.service'),
      '[Service]\nExecStart=/usr/bin/node -e 0\nProtectSytem=strict\nEnvironment=X=%Q\n',
    );
    const broken = verify(['signet-broken.service']);
    expect(broken.stderr).toMatch(/Unknown key 'ProtectSytem'/);
    expect(broken.stderr).toMatch(/Failed to resolve specifiers/);
  });
});

describe('compose config', () => {
  /** `docker compose` (v2) where the plugin is installed, else `docker-compose` (Debian's, v1). */
  const compose = has('docker', ['compose', 'version'])
    ? ['docker', 'compose']
    : has('docker-compose', ['version'])
      ? ['docker-compose']
      : null;

  it('validates compose.yaml with its .env, and stops without a required value', () => {
    if (!available('docker-compose', compose !== null)) return;
    const dir = join(scratch, 'compose');
    mkdirSync(join(dir, 'secrets'), { recursive: true });
    for (const path of ['compose.yaml', 'Dockerfile', 'deploy'])
      cpSync(join(ROOT, path), join(dir, path), { recursive: true });
    writeFileSync(join(dir, 'secrets/log.key'), 'PRIVATE+KEY+…\n');
    writeFileSync(join(dir, 'deploy/root-keys.asc'), '');
    const run = (env: Record<string, string>, args: string[]) =>
      spawnSync(
        compose![0]!,
        [...compose!.slice(1), '--project-directory', dir, '-f', join(dir, 'compose.yaml'), ...args],
        {
          cwd: dir,
          encoding: 'utf8',
          env: { PATH: process.env.PATH, HOME: dir, ...env },
        },
      );
    writeFileSync(
      join(dir, '.env'),
      'SIGNET_PUBLIC_URL=https://keys.example.org\nPOSTGRES_PASSWORD=pg-secret\nS3_SECRET_KEY=s3-secret\n',
    );
    const ok = run({}, ['config']);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    // What compose makes of it is what the structural tests read (merge keys applied the same way).
    const services = composeFile().services;
    for (const name of Object.keys(services)) expect(ok.stdout).toContain(`  ${name}:`);
    expect(ok.stdout).toContain('DATABASE_URL: postgres://signet:pg-secret@postgres:5432/signet');
    writeFileSync(join(dir, '.env'), 'SIGNET_PUBLIC_URL=https://keys.example.org\nS3_SECRET_KEY=s3-secret\n');
    const missing = run({}, ['config']);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/set POSTGRES_PASSWORD in \.env/);
  });
});

describe('caddy validate', () => {
  it('accepts deploy/Caddyfile, sending to the upstreams given and keeping /metrics in', () => {
    if (!available('caddy', has('caddy', ['version']))) return;
    const env = {
      PATH: process.env.PATH,
      HOME: scratch,
      XDG_DATA_HOME: join(scratch, 'caddy-data'),
      XDG_CONFIG_HOME: join(scratch, 'caddy-config'),
      SIGNET_UPSTREAMS: composeFile().services.proxy!.environment!.SIGNET_UPSTREAMS!,
    };
    const config = join(ROOT, 'deploy/Caddyfile');
    const validate = spawnSync('caddy', ['validate', '--adapter', 'caddyfile', '--config', config], {
      encoding: 'utf8',
      env,
    });
    expect(validate.status, validate.stderr).toBe(0);
    expect(validate.stdout + validate.stderr).toMatch(/Valid configuration/);
    const adapt = spawnSync('caddy', ['adapt', '--adapter', 'caddyfile', '--config', config], {
      encoding: 'utf8',
      env,
    });
    expect(adapt.status, adapt.stderr).toBe(0);
    const server = JSON.parse(adapt.stdout).apps.http.servers.srv0;
    expect(server.listen).toEqual([':80']);
    expect(server.routes[0]).toEqual({
      match: [{ path: ['/metrics'] }],
      handle: [{ handler: 'static_response', status_code: 404 }],
    });
    const proxy = server.routes[1].handle[0];
    expect(proxy.upstreams).toEqual([{ dial: 'api-1:3000' }, { dial: 'api-2:3000' }]);
    expect(proxy.health_checks.active.uri).toBe('/healthz');
    // Without SIGNET_UPSTREAMS (unset: Caddy takes an empty one as given): the bare-metal units' ports.
    const bare = spawnSync('caddy', ['adapt', '--adapter', 'caddyfile', '--config', config], {
      encoding: 'utf8',
      env: { ...env, SIGNET_UPSTREAMS: undefined },
    });
    expect(JSON.parse(bare.stdout).apps.http.servers.srv0.routes[1].handle[0].upstreams).toEqual([
      { dial: '127.0.0.1:3001' },
      { dial: '127.0.0.1:3002' },
    ]);
    expect(stringify(proxy)).not.toContain('{$');
  });
});

describe('deploy/healthcheck.mjs', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.statusCode = req.url === '/readyz' ? 200 : 503;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const check = (args: string[], env: Record<string, string> = {}) =>
    new Promise<number | null>((resolve) => {
      // Asynchronous: the server answering it runs in this process.
      const child = spawn(process.execPath, [join(ROOT, 'deploy/healthcheck.mjs'), ...args], {
        stdio: 'ignore',
        env: { PATH: process.env.PATH, ...env },
      });
      child.on('exit', (code) => resolve(code));
    });

  it('exits 0 on a 2xx, 1 on anything else or no answer; by default it asks /readyz on $PORT', async () => {
    expect(await check([`http://127.0.0.1:${port}/readyz`])).toBe(0);
    expect(await check([`http://127.0.0.1:${port}/other`])).toBe(1);
    expect(await check([], { PORT: String(port) })).toBe(0);
    server.close();
    expect(await check([`http://127.0.0.1:${port}/readyz`])).toBe(1);
  });
});
