import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import * as openpgp from 'openpgp';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSignerKey, parseVerifierKey } from '@signet/tlog';
import { type ThrowawayPostgres, tempDir, throwawayPostgres } from '../support/backends.js';
import { ed25519 } from '../support/keys.js';
import { freePort, until } from '../support/workers.js';
import { ROOT, parseEnvFile, read, settings, unitFile } from './files.js';

// The README's "Production" walk-through for bare metal, followed as written where a test can:
// the shell blocks marked `<!-- production-test: NAME -->` are run by bash unchanged but for the
// machine's directories (moved into a temporary one) and the public URL (the local proxy); the
// systemd units are started as systemd would start them — their ExecStart=, Environment=,
// EnvironmentFile=, LoadCredential=, StateDirectory= and WorkingDirectory=, with %i and %d —
// without systemd, on a throwaway Postgres database and the machine's Redis; Caddy runs
// deploy/Caddyfile as installed. What cannot run here (useradd, systemctl, createdb as the
// postgres user) is done by the test the way those blocks say.

const REDIS_URL = process.env.SIGNET_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const ORIGIN = 'keys.example.org/log';
const PUBLIC_URL = 'https://keys.example.org';
const REQUIRE = process.env.SIGNET_REQUIRE_DEPLOY_TOOLS === '1';

/** The README's marked blocks, by name, as written (a list item's indentation removed). */
function readmeBlocks(): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const m of read('README.md').matchAll(/<!-- production-test: ([\w-]+) -->\n\s*```sh\n([\s\S]*?)\n(\s*)```/g)) {
    const indent = m[3]!;
    blocks.set(m[1]!, m[2]!.replace(new RegExp(`^${indent}`, 'gm'), ''));
  }
  return blocks;
}

const machine = tempDir('signet-production-');
/** Where this test puts each directory of the README's machine. */
const DIRS: [string, string][] = [
  ['/opt/signet', join(machine.path, 'opt/signet')],
  ['/etc/signet', join(machine.path, 'etc/signet')],
  ['/var/lib/signet', join(machine.path, 'var/lib/signet')],
  ['/var/backups/signet', join(machine.path, 'var/backups/signet')],
  ['/srv/signet-mirror', join(machine.path, 'srv/signet-mirror')],
  ['/usr/local/bin', join(machine.path, 'usr/local/bin')],
];
const at = (path: string) => DIRS.reduce((p, [from, to]) => (p.startsWith(from) ? to + p.slice(from.length) : p), path);
let proxyUrl = '';
const onThisMachine = (text: string) =>
  DIRS.reduce((t, [from, to]) => t.replaceAll(from, to), text).replaceAll(PUBLIC_URL, proxyUrl);

/** The environment an administrator's shell would have: no Signet or server variables of the test runner. */
function shellEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(SIGNET_|DATABASE_URL$|REDIS_URL$|npm_)/.test(k)),
  );
  return { ...env, PATH: `${at('/usr/local/bin')}:${process.env.PATH}`, NO_COLOR: '1' };
}

/** Runs a README block with bash; its exit status and output. */
function runBlock(name: string, extraEnv: Record<string, string> = {}) {
  const block = readmeBlocks().get(name);
  if (!block) throw new Error(`the README has no block marked production-test: ${name}`);
  const run = spawnSync('bash', ['-eu', '-o', 'pipefail', '-c', onThisMachine(block)], {
    cwd: ROOT,
    env: { ...shellEnv(), ...extraEnv },
    encoding: 'utf8',
    timeout: 240_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, output: run.stdout + run.stderr };
}

interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

const running: Started[] = [];

/**
 * Starts a unit as systemd would (on this machine's directories): its Environment= in order, then
 * its EnvironmentFile= (which wins), %i and %d expanded, the credentials copied into a directory
 * of its own, the state directory made, the working directory set.
 */
function startUnit(file: string, instance = ''): Started {
  const unit = unitFile(file);
  const name = file.replace('@.', `@${instance}.`);
  const credentials = join(machine.path, 'run/credentials', name);
  const expand = (v: string) => v.replaceAll('%i', instance).replaceAll('%d', credentials).replaceAll('%%', '%');
  const service = (key: string) => settings(unit, 'Service', key).map(expand);
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    HOME: at('/var/lib/signet'),
    NO_COLOR: '1',
  };
  for (const assignment of service('Environment')) {
    const eq = assignment.indexOf('=');
    env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  for (const path of service('EnvironmentFile'))
    for (const [k, v] of parseEnvFile(readFileSync(at(path), 'utf8'))) env[k] = v;
  mkdirSync(credentials, { recursive: true, mode: 0o700 });
  for (const credential of service('LoadCredential')) {
    const [id, source] = credential.split(/:(.*)/s) as [string, string];
    const target = join(credentials, id);
    if (existsSync(target)) chmodSync(target, 0o600);
    copyFileSync(at(source), target);
    chmodSync(target, 0o400);
  }
  env.CREDENTIALS_DIRECTORY = credentials;
  for (const dir of service('StateDirectory')) mkdirSync(at(`/var/lib/${dir}`), { recursive: true, mode: 0o700 });
  const [exec, ...args] = service('ExecStart')[0]!.split(/\s+/).map(at);
  const node = exec === '/usr/bin/node' && !existsSync(exec) ? process.execPath : exec!;
  const child = spawn(node, args, {
    cwd: at(service('WorkingDirectory')[0]!),
    env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, at(v)])),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const started: Started = {
    name,
    child,
    output: () => out,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  running.push(started);
  return started;
}

/** A one-shot unit run to its end. */
async function runUnit(file: string): Promise<{ code: number | null; output: string }> {
  const unit = startUnit(file);
  const code = await unit.exited;
  return { code, output: unit.output() };
}

async function ready(unit: Started, url: string): Promise<void> {
  let exited = false;
  void unit.exited.then(() => (exited = true));
  await until(
    `${unit.name} ready at ${url}`,
    async () => {
      if (exited) throw new Error(`${unit.name} exited before it was ready:\n${unit.output()}`);
      try {
        return (await fetch(url)).status === 200;
      } catch {
        return false;
      }
    },
    60_000,
    100,
  );
}

/** /etc/signet/signet.env as the administrator edits it: the example, with this machine's servers. */
function writeEnvFile(databaseUrl: string): void {
  const env = parseEnvFile(onThisMachine(read('deploy/systemd/signet.env')).replaceAll(proxyUrl, PUBLIC_URL));
  env.set('DATABASE_URL', databaseUrl);
  env.set('REDIS_URL', REDIS_URL);
  env.set('SIGNET_QUEUE', `signet-production-${process.pid}`);
  // The test's root key is Ed25519 (fast to make), which the default policy refuses.
  env.set('SIGNET_ALLOW_ED25519', '1');
  env.set('SIGNET_OUTBOX_POLL_MS', '50');
  writeFileSync(at('/etc/signet/signet.env'), `${[...env].map(([k, v]) => `${k}=${v}`).join('\n')}\n`, { mode: 0o640 });
}

let root: Awaited<ReturnType<typeof ed25519>>;
let commandCount = 0;

async function sendCommand(body: Record<string, unknown>): Promise<Response> {
  const command = JSON.stringify({
    origin: ORIGIN,
    id: `production-${++commandCount}`,
    issuedAt: new Date().toISOString(),
    ...body,
  });
  const signature = await openpgp.sign({
    message: await openpgp.createMessage({ binary: new TextEncoder().encode(command) }),
    signingKeys: root.priv,
    detached: true,
  });
  return fetch(`${proxyUrl}/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ command, signature }),
  });
}

async function addMembers(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const member = await ed25519(`member${commandCount}`);
    const res = await sendCommand({
      type: 'AddMember',
      key: member.pub,
      username: `member${commandCount}`,
      role: 'member',
    });
    expect(res.status, await res.clone().text()).toBe(201);
  }
}

/** Every consumer's cursor at the head and no job pending: the workers followed the log. */
async function outboxDrained(): Promise<number> {
  return until(
    'the workers to follow the log',
    async () => {
      const { treeSize, consumers } = (await (await fetch(`${proxyUrl}/outbox`)).json()) as {
        treeSize: number;
        consumers: { nextSeq: number; pending: number }[];
      };
      return consumers.length > 0 && consumers.every((c) => c.nextSeq === treeSize && c.pending === 0) && treeSize;
    },
    60_000,
    100,
  );
}

async function treeSizeOf(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM events');
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

const hasCaddy = spawnSync('caddy', ['version'], { stdio: 'ignore' }).status === 0;
const databases: ThrowawayPostgres[] = [];
let caddy: ChildProcess | null = null;
let apiPorts: number[] = [];
let workerPorts: number[] = [];

async function startStack(): Promise<void> {
  const apis = apiPorts.map((port) => startUnit('signet-api@.service', String(port)));
  for (const port of workerPorts) startUnit('signet-worker@.service', String(port));
  await Promise.all(apis.map((api, i) => ready(api, `http://127.0.0.1:${apiPorts[i]}/readyz`)));
}

async function stopAll(): Promise<void> {
  const stopping = running.splice(0);
  const codes = await Promise.all(stopping.map((u) => u.stop()));
  // On SIGTERM an API commits what it has queued and exits 0, a worker after its running jobs.
  stopping.forEach((u, i) => {
    if (u.name.startsWith('signet-api@') || u.name.startsWith('signet-worker@'))
      expect(codes[i], `${u.name}:\n${u.output()}`).toBe(0);
  });
}

describe('README, Production: the bare-metal walk-through, followed as written', () => {
  beforeAll(async () => {
    for (const [, dir] of DIRS) if (!dir.endsWith('/opt/signet')) mkdirSync(dir, { recursive: true });
    chmodSync(at('/var/backups/signet'), 0o700);
    root = await ed25519('root');
    apiPorts = [await freePort(), await freePort()];
    workerPorts = [await freePort(), await freePort()];
    const proxyPort = await freePort();
    proxyUrl = `http://127.0.0.1:${proxyPort}`;
    if (!hasCaddy && REQUIRE) throw new Error('caddy is not installed, and SIGNET_REQUIRE_DEPLOY_TOOLS=1 requires it');
  });

  afterAll(async () => {
    await Promise.all(running.splice(0).map((u) => u.stop()));
    caddy?.kill('SIGTERM');
    for (const db of databases) await db.drop();
    machine.remove();
  });

  it('installs the release with its production dependencies only', () => {
    const run = runBlock('install', { npm_config_prefer_offline: 'true' });
    expect(run.status, run.output).toBe(0);
    const home = at('/opt/signet');
    for (const path of [
      'dist/apps/api/src/main.js',
      'dist/apps/worker/src/main.js',
      'bin/signet.js',
      'dist/cli/signet.js',
      'node_modules/kysely',
    ])
      expect(existsSync(join(home, path)), path).toBe(true);
    // No development dependency: the tests' and the linter's stay behind. (typescript does not:
    // @nestjs/swagger names it as an optional peer, and npm keeps such a package with --omit=dev.)
    for (const dev of ['vitest', '@biomejs/biome', '@nestjs/cli', 'esbuild', 'postgres', 'playwright-core', 'yaml'])
      expect(existsSync(join(home, 'node_modules', dev)), dev).toBe(false);
    expect(statSync(at('/usr/local/bin/signet')).isFile()).toBe(true);
  }, 300_000);

  it('makes the log key once, root-only, and prints the verifier key to publish', () => {
    const run = runBlock('keygen');
    expect(run.status, run.output).toBe(0);
    const key = at('/etc/signet/log.key');
    expect(statSync(key).mode & 0o777).toBe(0o400);
    const vkey = readFileSync(at('/etc/signet/log.vkey'), 'utf8').trim();
    expect(run.stdout.trim()).toBe(vkey);
    expect(run.stderr).toContain(`verifier key: ${vkey}`);
    expect(parseSignerKey(readFileSync(key, 'utf8').trim()).name).toBe(ORIGIN);
    expect(parseVerifierKey(vkey).name).toBe(ORIGIN);
    // Nothing of the scratch log is left behind.
    expect(run.output).not.toMatch(/No such file/);
  }, 120_000);

  it('creates the log with signet-init, then serves it from two APIs behind Caddy with two workers', async () => {
    const db = await throwawayPostgres();
    databases.push(db);
    writeEnvFile(db.url);
    writeFileSync(at('/etc/signet/root-keys.asc'), root.pub);
    const init = await runUnit('signet-init.service');
    expect(init.code, init.output).toBe(0);
    expect(init.output).toContain(`created ${ORIGIN}`);
    expect(init.output).toContain(`verifier key: ${readFileSync(at('/etc/signet/log.vkey'), 'utf8').trim()}`);
    expect(init.output).toContain(`root keys:    ${root.fpr}`);
    // Run again (every start of signet.target does), it leaves the log as it is.
    const again = await runUnit('signet-init.service');
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain(`already initialized: ${ORIGIN}`);

    await startStack();
    if (hasCaddy) {
      // deploy/Caddyfile as installed, adapted by Caddy; only its admin endpoint is turned off,
      // so that the test needs no fixed port.
      const env = {
        ...shellEnv(),
        HOME: machine.path,
        XDG_DATA_HOME: join(machine.path, 'caddy/data'),
        XDG_CONFIG_HOME: join(machine.path, 'caddy/config'),
        SIGNET_SITE_ADDRESS: proxyUrl,
        SIGNET_UPSTREAMS: apiPorts.map((p) => `127.0.0.1:${p}`).join(' '),
      };
      const adapt = spawnSync(
        'caddy',
        ['adapt', '--adapter', 'caddyfile', '--config', at('/opt/signet/deploy/Caddyfile')],
        {
          env,
          encoding: 'utf8',
        },
      );
      expect(adapt.status, adapt.stderr).toBe(0);
      const config = { ...JSON.parse(adapt.stdout), admin: { disabled: true } };
      const file = join(machine.path, 'caddy/caddy.json');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(config));
      caddy = spawn('caddy', ['run', '--config', file], { env, stdio: 'ignore' });
    } else {
      console.warn(
        '*** caddy is not installed: the walk-through talks to the first API directly (apt-get install caddy)',
      );
      proxyUrl = `http://127.0.0.1:${apiPorts[0]}`;
    }
    await until(
      'the proxy',
      async () => {
        try {
          return (await fetch(`${proxyUrl}/readyz`)).status === 200;
        } catch {
          return false;
        }
      },
      30_000,
      100,
    );

    await addMembers(4);
    await outboxDrained();
    if (hasCaddy) {
      // The proxy shares the commands between the two APIs, and keeps /metrics to itself.
      for (const port of apiPorts) {
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(metrics, `API on ${port}`).toMatch(
          /signet_http_request_duration_seconds_count\{[^}]*method="POST"[^}]*route="\/commands"/,
        );
      }
      expect((await fetch(`${proxyUrl}/metrics`)).status).toBe(404);
    }
    const checkpoint = await (await fetch(`${proxyUrl}/log/checkpoint`)).text();
    expect(checkpoint.split('\n')[0]).toBe(ORIGIN);
  }, 180_000);

  let dumpedSize = 0;
  let publishedSize = 0;

  it('backs up the database and the blobs, and mirrors what the log published since', async () => {
    dumpedSize = await outboxDrained();
    const backup = runBlock('backup', {});
    expect(backup.status, backup.output).toBe(0);
    const blobs = runBlock('backup-blobs');
    expect(blobs.status, blobs.output).toBe(0);
    // Published after the dump: a restore of this dump alone would lose them.
    await addMembers(2);
    publishedSize = await outboxDrained();
    expect(publishedSize).toBeGreaterThan(dumpedSize);
    const mirror = runBlock('mirror');
    expect(mirror.status, mirror.output).toBe(0);
    expect(readFileSync(at('/srv/signet-mirror/checkpoint'), 'utf8').split('\n')[1]).toBe(String(publishedSize));
    const dumps = readdirSync(at('/var/backups/signet')).join('\n');
    expect(dumps).toMatch(/^signet-\d{8}T\d{6}Z\.dump$/m);
    expect(dumps).toMatch(/^blobs-\d{8}T\d{6}Z\.tar\.gz$/m);
  }, 120_000);

  it('refuses to start on a restored dump that lacks published events (LOG_ROLLED_BACK), with the data directory lost', async () => {
    await stopAll();
    // The machine is gone with its data directory; on the new one, the root block made it anew
    // (empty), and a new database gets the dump.
    rmSync(at('/var/lib/signet'), { recursive: true, force: true });
    mkdirSync(at('/var/lib/signet'), { mode: 0o700 });
    const db = await throwawayPostgres();
    databases.push(db);
    writeEnvFile(db.url);
    const restore = runBlock('restore');
    expect(restore.status, restore.output).toBe(0);
    expect(await treeSizeOf(db.url)).toBe(dumpedSize);
    const init = await runUnit('signet-init.service');
    expect(init.code, init.output).toBe(1);
    expect(init.output).toContain('LOG_ROLLED_BACK');
    expect(await treeSizeOf(db.url)).toBe(dumpedSize);
  }, 120_000);

  it('restores a dump that has every published event, and the log audits OK', async () => {
    // A dump of the database as it was last (the first one still has everything).
    await new Promise((r) => setTimeout(r, 1100)); // a new name: the dumps are named by the second
    writeEnvFile(databases[0]!.url);
    const backup = runBlock('backup');
    expect(backup.status, backup.output).toBe(0);
    const db = await throwawayPostgres();
    databases.push(db);
    writeEnvFile(db.url);
    const restore = runBlock('restore');
    expect(restore.status, restore.output).toBe(0);
    expect(await treeSizeOf(db.url)).toBe(publishedSize);
    const init = await runUnit('signet-init.service');
    expect(init.code, init.output).toBe(0);
    expect(init.output).toContain(`already initialized: ${ORIGIN}`);
    await startStack();
    const audit = runBlock('audit');
    expect(audit.status, audit.output).toBe(0);
    expect(audit.stdout).toContain(`OK: ${ORIGIN} at size ${publishedSize}`);
    await stopAll();
  }, 180_000);

  it('an older release refuses a database a newer one migrated', async () => {
    const db = databases.at(-1)!;
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(
      "INSERT INTO signet_migrations (name, timestamp) VALUES ('9999_from_a_newer_release', now()::text)",
    );
    await client.end();
    const init = await runUnit('signet-init.service');
    expect(init.code, init.output).toBe(1);
    expect(init.output).toMatch(
      /corrupted migrations: previously executed migration 9999_from_a_newer_release is missing/,
    );
  }, 60_000);
});
