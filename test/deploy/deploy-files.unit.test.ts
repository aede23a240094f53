import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '@signet/store';
import { encodeSignerKey } from '@signet/tlog';
import {
  ROOT,
  UNITS,
  commandOf,
  composeFile,
  interpolate,
  parseEnvFile,
  read,
  settings,
  signetServices,
  unitFile,
  unknownVariables,
} from './files.js';

// The deployment files (README, "Production"), checked without a container engine or systemd:
// the Dockerfile linted and its stages read, compose.yaml's services and their start order, the
// units' settings, and every variable they give Signet against the configuration schema
// (CONFIG_VARIABLES), so that a variable renamed in the code fails here.

const scratch = mkdtempSync(join(tmpdir(), 'signet-deploy-files-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A log key file, as the secret or credential would hold it. */
const keyFile = (() => {
  const path = join(scratch, 'log.key');
  writeFileSync(path, `${encodeSignerKey('keys.example.org/log', new Uint8Array(32).fill(7))}\n`);
  chmodSync(path, 0o400);
  return path;
})();

/** The values .env would give compose.yaml's required variables. */
const DOT_ENV = {
  SIGNET_PUBLIC_URL: 'https://keys.example.org',
  POSTGRES_PASSWORD: 'pg-secret',
  S3_SECRET_KEY: 's3-secret',
};

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const dockerfile = DockerfileParser.parse(text);
  const froms = dockerfile.getFROMs();
  const lastFrom = froms.at(-1)!.getRange().start.line;
  const finalStage = dockerfile.getInstructions().filter((i) => i.getRange().start.line > lastFrom);
  const args = (keyword: string) =>
    finalStage.filter((i) => i.getKeyword() === keyword).map((i) => i.getArgumentsContent() ?? '');

  it('passes the Dockerfile linter (dockerfile-utils), which finds the faults of a broken one', () => {
    expect(validate(text)).toEqual([]);
    const broken = 'FROM node:20 AS build\nFROM node:20 AS build\nWORKDIR src\nEXPOSE http\nCOPY onlyone\n';
    const codes = validate(broken).map((d) => d.message);
    expect(codes.length).toBeGreaterThanOrEqual(3);
  });

  it('builds in one stage and runs from another, on Node 20', () => {
    expect(froms.map((f) => f.getBuildStage())).toEqual(['build', 'runtime']);
    expect(text).toMatch(/^ARG NODE_IMAGE=node:20-/m);
    // The build stage installs every dependency and builds.
    const build = dockerfile.getInstructions().filter((i) => i.getRange().start.line < lastFrom);
    expect(build.map((i) => i.getArgumentsContent()).join('\n')).toMatch(/npm ci\b[\s\S]*npm run build/);
    // The runtime stage takes the built JavaScript from it, and only that.
    expect(args('COPY').filter((a) => a.startsWith('/src/'))).toEqual([
      '/src/dist/apps ./dist/apps',
      '/src/dist/libs ./dist/libs',
      '/src/dist/migrations ./dist/migrations',
      '/src/dist/cli ./dist/cli',
    ]);
  });

  it('installs production dependencies only in the runtime stage, without running the build', () => {
    const runs = args('RUN').join('\n');
    expect(runs).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(runs).not.toMatch(/npm ci(?![^\n]*--omit=dev)/);
    expect(runs).not.toMatch(/npm (run )?build|npm install\b/);
    // openpgp.js verifies everything at run time; gpg is for the tests only.
    expect(
      dockerfile
        .getInstructions()
        .map((i) => i.getArgumentsContent())
        .join('\n'),
    ).not.toMatch(/gnupg|apt-get/);
  });

  it('runs as a user without privileges, with a health check, the ports and the API as default command', () => {
    const users = args('USER');
    expect(users).toHaveLength(1);
    expect(users[0]).toBe('signet:signet');
    expect(args('RUN').join('\n')).toMatch(/useradd --system --uid 10001 --gid signet/);
    // USER comes after every RUN of the stage: nothing runs as root after it.
    const userLine = finalStage.find((i) => i.getKeyword() === 'USER')!.getRange().start.line;
    expect(finalStage.filter((i) => i.getKeyword() === 'RUN').every((i) => i.getRange().start.line < userLine)).toBe(
      true,
    );
    expect(args('HEALTHCHECK')[0]).toMatch(/CMD \["node", "\/app\/deploy\/healthcheck\.mjs"\]/);
    expect(args('EXPOSE')).toEqual(['3000 9464']);
    expect(args('CMD')).toEqual(['["node", "dist/apps/api/src/main.js"]']);
    // What the runtime stage copies from the context and runs exists.
    for (const path of ['bin/signet.js', 'deploy/healthcheck.mjs', 'apps/api/src/main.ts', 'apps/worker/src/main.ts'])
      expect(existsSync(join(ROOT, path)), path).toBe(true);
  });

  it('.dockerignore keeps secrets, data and build output out of the context, but not what the image copies', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', 'data', '.env', 'secrets', '*.key', '.git'])
      expect(ignored).toContain(entry);
    for (const entry of ['bin', 'deploy', 'package-lock.json', 'apps', 'libs']) expect(ignored).not.toContain(entry);
  });
});

describe('compose.yaml', () => {
  const compose = composeFile();
  const services = compose.services;
  const signet = signetServices(compose);
  const api = signet.filter(([, s]) => commandOf(s) === 'node dist/apps/api/src/main.js');
  const workers = signet.filter(([, s]) => commandOf(s) === 'node dist/apps/worker/src/main.js');

  it('has Postgres, Redis, an S3 store with its setup, init, two APIs, two workers and the proxy', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['api-1', 'api-2', 'init', 'postgres', 'proxy', 'redis', 's3', 's3-setup', 'worker-1', 'worker-2'].sort(),
    );
    expect(api.map(([n]) => n)).toEqual(['api-1', 'api-2']);
    expect(workers.map(([n]) => n)).toEqual(['worker-1', 'worker-2']);
    expect(signet.map(([n]) => n).sort()).toEqual(['api-1', 'api-2', 'init', 'worker-1', 'worker-2']);
    expect(commandOf(services.init!)).toBe('signet init');
    expect(services.postgres!.image).toMatch(/^postgres:15/);
    expect(services.redis!.image).toMatch(/^redis:7/);
    expect(services.proxy!.image).toMatch(/^caddy:2/);
  });

  it('starts in order: the stores healthy, the bucket made, the log initialized, then the APIs and workers', () => {
    const startsAfter = (name: string) =>
      Object.fromEntries(Object.entries(services[name]!.depends_on ?? {}).map(([k, v]) => [k, v.condition]));
    expect(startsAfter('s3-setup')).toEqual({ s3: 'service_healthy' });
    expect(startsAfter('init')).toEqual({ postgres: 'service_healthy', 's3-setup': 'service_completed_successfully' });
    for (const [name] of [...api, ...workers])
      expect(startsAfter(name)).toEqual({ init: 'service_completed_successfully', redis: 'service_healthy' });
    expect(startsAfter('proxy')).toEqual({ 'api-1': 'service_started', 'api-2': 'service_started' });
    for (const name of ['init', 's3-setup']) expect(services[name]!.restart).toBe('no');
  });

  it('gives every long-running service a health check, the APIs and workers on their /readyz', () => {
    for (const [name, s] of Object.entries(services)) {
      if (name === 'init' || name === 's3-setup') continue;
      expect(s.healthcheck?.test?.[0], name).toBe('CMD');
    }
    for (const [name, s] of api)
      expect(s.healthcheck!.test, name).toEqual([
        'CMD',
        'node',
        '/app/deploy/healthcheck.mjs',
        `http://127.0.0.1:${s.environment!.PORT}/readyz`,
      ]);
    for (const [name, s] of workers)
      expect(s.healthcheck!.test, name).toEqual([
        'CMD',
        'node',
        '/app/deploy/healthcheck.mjs',
        `http://127.0.0.1:${s.environment!.SIGNET_WORKER_PORT}/readyz`,
      ]);
  });

  it('runs Signet without privileges, with the log key as a secret file and one shared data volume', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.user ?? '', name).not.toMatch(/^(root|0)(:|$)/);
      expect(s.privileged ?? false, name).toBe(false);
    }
    expect(compose.secrets).toEqual({ signet_log_key: { file: './secrets/log.key' } });
    for (const [name, s] of signet) {
      expect(s.user, name).toBeUndefined(); // the image's USER
      expect(s.read_only, name).toBe(true);
      expect(s.cap_drop, name).toEqual(['ALL']);
      expect(s.secrets, name).toEqual(['signet_log_key']);
      const env = s.environment!;
      expect(env.SIGNET_LOG_KEY_FILE, name).toBe('/run/secrets/signet_log_key');
      expect(env.SIGNET_LOG_KEY, name).toBeUndefined();
      expect(s.volumes, name).toContain(`signet-data:${env.SIGNET_DATA_DIR}`);
    }
    // The secret's file never reaches git or the image's build context.
    expect(read('.gitignore').split('\n')).toContain('secrets/');
  });

  it('sets only variables Signet reads, with values its configuration accepts', () => {
    for (const [name, s] of signet) {
      const env = Object.fromEntries(
        Object.entries(s.environment!).map(([k, v]) => [k, interpolate(String(v), DOT_ENV)]),
      );
      expect(unknownVariables(Object.keys(env)), name).toEqual([]);
      const config = configFromEnv({ ...env, SIGNET_LOG_KEY_FILE: keyFile });
      expect(config.databaseUrl, name).toBe('postgres://signet:pg-secret@postgres:5432/signet');
      expect(config.redisUrl, name).toBe('redis://redis:6379');
      expect(config.publicUrl, name).toBe('https://keys.example.org');
      expect(config.workers, name).toBe('off');
      expect(config.logKey, name).toMatch(/^PRIVATE\+KEY\+keys\.example\.org\/log\+/);
    }
    // A required value left out of .env stops compose before anything starts.
    expect(() => interpolate(services['api-1']!.environment!.DATABASE_URL!, {})).toThrow(/POSTGRES_PASSWORD/);
  });

  it('puts the proxy in front of exactly the API services, on their ports', () => {
    const upstreams = services.proxy!.environment!.SIGNET_UPSTREAMS!.split(' ');
    expect(upstreams).toEqual(api.map(([n, s]) => `${n}:${s.environment!.PORT}`));
    expect(services.proxy!.volumes).toContain('./deploy/Caddyfile:/etc/caddy/Caddyfile:ro');
    expect(read('deploy/Caddyfile')).toMatch(/reverse_proxy \{\$SIGNET_UPSTREAMS:/);
  });

  it('documents every required value in deploy/compose.env.example', () => {
    const required = [...read('compose.yaml').matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]!);
    const example = read('deploy/compose.env.example');
    for (const name of new Set(required)) expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
  });
});

describe('systemd units', () => {
  it('run as signet, get the log key as a credential, and are hardened', () => {
    for (const name of UNITS) {
      const unit = unitFile(name);
      const one = (key: string) => settings(unit, 'Service', key);
      expect(one('User'), name).toEqual(['signet']);
      expect(one('EnvironmentFile'), name).toEqual(['/etc/signet/signet.env']);
      expect(one('LoadCredential'), name).toEqual(['log.key:/etc/signet/log.key']);
      expect(one('Environment'), name).toContain('SIGNET_LOG_KEY_FILE=%d/log.key');
      expect(one('StateDirectory'), name).toEqual(['signet']);
      for (const [key, value] of [
        ['NoNewPrivileges', 'yes'],
        ['ProtectSystem', 'strict'],
        ['ProtectHome', 'yes'],
        ['PrivateTmp', 'yes'],
        ['PrivateDevices', 'yes'],
        ['CapabilityBoundingSet', ''],
        ['RestrictSUIDSGID', 'yes'],
        ['SystemCallFilter', '@system-service'],
      ])
        expect(one(key!), `${name} ${key}`).toEqual([value]);
      // V8's JIT needs writable and executable memory.
      expect(one('MemoryDenyWriteExecute'), name).toEqual([]);
    }
  });

  it('start the built entry points, the API and worker on the port of their instance name', () => {
    const exec = (name: string) => settings(unitFile(name), 'Service', 'ExecStart');
    expect(exec('signet-api@.service')).toEqual(['/usr/bin/node /opt/signet/dist/apps/api/src/main.js']);
    expect(exec('signet-worker@.service')).toEqual(['/usr/bin/node /opt/signet/dist/apps/worker/src/main.js']);
    expect(exec('signet-init.service')).toEqual(['/usr/bin/node /opt/signet/bin/signet.js init']);
    expect(settings(unitFile('signet-api@.service'), 'Service', 'Environment')).toContain('PORT=%i');
    expect(settings(unitFile('signet-worker@.service'), 'Service', 'Environment')).toContain('SIGNET_WORKER_PORT=%i');
    for (const name of ['signet-api@.service', 'signet-worker@.service']) {
      const unit = unitFile(name);
      expect(settings(unit, 'Unit', 'Requires'), name).toEqual(['signet-init.service']);
      expect(settings(unit, 'Unit', 'After')[0], name).toMatch(/signet-init\.service/);
      expect(settings(unit, 'Install', 'WantedBy'), name).toEqual(['signet.target']);
      expect(settings(unit, 'Service', 'RestartPreventExitStatus'), name).toEqual(['2']);
    }
    expect(settings(unitFile('signet-init.service'), 'Service', 'Type')).toEqual(['oneshot']);
  });

  it('share an environment file of variables Signet reads and accepts, that overrides none of the units', () => {
    const env = parseEnvFile(read('deploy/systemd/signet.env'));
    expect(unknownVariables(env.keys())).toEqual([]);
    // An EnvironmentFile= wins over the units' own Environment=.
    for (const name of ['PORT', 'SIGNET_WORKER_PORT', 'SIGNET_LOG_KEY_FILE', 'SIGNET_LOG_KEY'])
      expect(env.has(name), name).toBe(false);
    for (const name of UNITS)
      for (const assignment of settings(unitFile(name), 'Service', 'Environment'))
        expect(unknownVariables([assignment.split('=')[0]!]), name).toEqual([]);
    const config = configFromEnv({ ...Object.fromEntries(env), SIGNET_LOG_KEY_FILE: keyFile });
    expect(config.databaseUrl).toBe('postgres://signet@localhost/signet?host=/var/run/postgresql');
    expect(config.host).toBe('127.0.0.1');
    expect(config.dataDir).toBe('/var/lib/signet');
    expect(config.genesis.rootKeyFiles).toEqual(['/etc/signet/root-keys.asc']);
  });
});

describe('README, "Production"', () => {
  const readme = read('README.md');
  const section = readme.slice(readme.indexOf('\n## Production\n'), readme.indexOf('\n## Layout\n'));

  it('says the container files were checked by parsing and linting only, and walks through every service', () => {
    expect(section.length).toBeGreaterThan(1000);
    expect(section).toMatch(/checked by parsing and linting only, never built or\s+started/);
    for (const service of Object.keys(composeFile().services)) expect(section).toContain(`\`${service}\``);
    for (const file of ['signet-init.service', 'signet-api@', 'signet-worker@', 'signet.target', 'signet.env'])
      expect(section).toContain(file);
    for (const topic of ['### The log key', '### Backups', '### Restoring', '### Upgrades'])
      expect(section).toContain(topic);
  });
});
