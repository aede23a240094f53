import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519PublicKey, encodeVerifierKey } from '@signet/tlog';
import { type RunningApp, CLI_BIN, startApp } from '../support/app.js';
import { type Backend, newBackend } from '../support/backends.js';
import { Gpg } from '../support/gpg.js';
import { StoryClient, day } from '../support/story.js';
import { freePort } from '../support/workers.js';

// PBX clients: the signed trust snapshot over HTTP, and the `signet` client commands verifying
// packages and FreePBX modules offline against it — every signature made by real GnuPG, the
// log's and the client's clock moved through SIGNET_CLOCK_FILE.

describe('trust snapshots and offline verification', () => {
  const gpg = new Gpg();
  const work = mkdtempSync(join(tmpdir(), 'signet-client-e2e-'));
  const s = new StoryClient(gpg, work, 'e2e.signet.test/client', join(work, 'clock'));
  const state = join(work, 'pbx-state');
  const fpr: Record<string, string> = {};
  let backend: Backend;
  let app: RunningApp;
  let env: Record<string, string | undefined>;
  let vkey = '';

  /** Runs `signet …` as a PBX would (with the test's clock). */
  function signet(...args: string[]): { code: number; out: string; err: string } {
    const r = spawnSync(process.execPath, [CLI_BIN, ...args], {
      env: { ...process.env, SIGNET_CLOCK_FILE: s.clockFile, SIGNET_CLIENT_DIR: state },
      encoding: 'utf8',
    });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }
  const json = (r: { out: string }) => JSON.parse(r.out) as Record<string, unknown>;
  /** `signet …` without blocking this process (for servers the test itself runs). */
  function signetAsync(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI_BIN, ...args], {
        env: { ...process.env, SIGNET_CLOCK_FILE: s.clockFile, SIGNET_CLIENT_DIR: state },
      });
      let [out, err] = ['', ''];
      child.stdout.on('data', (c: Buffer) => (out += c));
      child.stderr.on('data', (c: Buffer) => (err += c));
      child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
    });
  }

  /** A module directory with files, signed with module.sig made by `signet module-sig` and `gpg --clearsign`. */
  function module(
    name: string,
    signer: string | null,
    signedAt: Date,
    opts: { digest?: string; version?: string } = {},
  ): string {
    const dir = join(work, 'modules', name);
    mkdirSync(join(dir, 'assets'), { recursive: true });
    writeFileSync(join(dir, 'module.xml'), `<module><rawname>${name}</rawname><version>16.0.1</version></module>\n`);
    writeFileSync(join(dir, 'Main.class.php'), `<?php // ${name}\n`);
    writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1);\n');
    if (signer) {
      let body = signet('module-sig', dir).out;
      if (opts.version) body = body.replace('version=1', `version=${opts.version}`);
      writeFileSync(join(dir, 'module.sig'), gpg.clearSign(signer, body, signedAt, opts.digest ?? 'SHA512'));
    }
    return dir;
  }

  beforeAll(async () => {
    Object.assign(
      fpr,
      gpg.genKeys(
        {
          root: 'Root (master) <root@example.org>',
          alice: 'Alice <alice@example.org>',
          eve: 'Eve <eve@example.org>',
          sec: 'Sec <sec@example.org>',
          s1: 'Eve (CODE SIGNING KEY) <eve1@mybb.example>',
          s2: 'Eve (CODE SIGNING KEY) <eve2@mybb.example>',
          s3: 'Eve (CODE SIGNING KEY) <eve3@mybb.example>',
          // Never given to the log, so its policy (RSA-4096) does not apply: only ever an unknown signer.
          unknown: ['Mallory (CODE SIGNING KEY) <mallory@example.org>', 'ed25519'],
        },
        day(-30),
      ),
    );
    backend = await newBackend('pglite');
    s.setClock(day(0));
    env = {
      SIGNET_DATA_DIR: backend.config.dataDir,
      SIGNET_CLOCK_FILE: s.clockFile,
      SIGNET_OUTBOX_POLL_MS: '50',
      SIGNET_SWEEP_MS: '200',
    };
    ({ app, vkey } = await s.start(fpr.root!, env));

    // Alice (leader) authorizes Eve's three signing keys on day 0; Sec is the security team.
    for (const [who, role] of [
      ['alice', 'leader'],
      ['eve', 'member'],
      ['sec', 'security'],
    ] as const) {
      expect(
        s.post(fpr.root!, {
          type: 'AddMember',
          key: gpg.exportKey(fpr[who]!),
          username: who[0]!.toUpperCase() + who.slice(1),
          role,
        }).status,
      ).toBe(201);
    }
    for (const k of ['s1', 's2', 's3']) {
      gpg.certify(fpr.alice!, fpr[k]!, day(0));
      expect(s.post(fpr.eve!, { type: 'AddSigningKey', key: gpg.exportKey(fpr[k]!) }).status).toBe(201);
    }
    await s.settle();
    // Published package signatures: s1 and s2 on day 16, s3 on day 24, and on day 26 a signature
    // by s3 that claims day 24.5 (backdated: the key is stolen from day 25).
    const publish = async (k: string, version: string, signedAt: Date) => {
      const r = await s.publish(fpr[k]!, 'mybb', version, signedAt, 'the package bytes');
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    };
    s.setClock(day(16));
    await publish('s1', '1.8.39-s1', day(16));
    await publish('s2', '1.8.39-s2', day(16));
    // Day 20: s2 retired. Day 27: s3 revoked as compromised since day 25.
    s.setClock(day(20));
    expect(s.post(fpr.eve!, { type: 'RetireSigningKey', fingerprint: fpr.s2, reason: 'rotated' }).status).toBe(201);
    s.setClock(day(24));
    await publish('s3', '1.8.39-s3', day(24));
    const published = module('published-s3', fpr.s3!, day(24));
    const form = new FormData();
    form.append('modulesig', new Blob([readFileSync(join(published, 'module.sig'))]), 'module.sig');
    expect(
      (await fetch(`${s.url}/modules/published-s3/16.0.1/signatures`, { method: 'POST', body: form })).status,
    ).toBe(201);
    s.setClock(day(26));
    await publish('s3', '1.8.40-s3', day(24.5));
    s.setClock(day(27));
    expect(
      s.post(fpr.sec!, {
        type: 'RevokeSigningKey',
        fingerprint: fpr.s3,
        since: day(25).toISOString(),
        reason: 'laptop stolen',
      }).status,
    ).toBe(201);
    await s.settle();
  }, 300_000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await backend?.cleanup();
    gpg.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('serves the snapshot with a strong ETag, 304 on If-None-Match, the same bytes at an older size forever', async () => {
    const first = await fetch(`${s.url}/trust/snapshot`);
    const body = await first.text();
    const etag = first.headers.get('etag')!;
    expect(first.status).toBe(200);
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect(first.headers.get('cache-control')).toMatch(/max-age=60/);
    expect(await (await fetch(`${s.url}/trust/snapshot`)).text()).toBe(body);
    expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const cached = await fetch(`${s.url}/trust/snapshot`, { headers: { 'if-none-match': etag } });
    expect([cached.status, cached.headers.get('etag'), await cached.text()]).toEqual([304, etag, '']);
    for (const header of [`"other", ${etag}`, `W/${etag}`, '*'])
      expect((await fetch(`${s.url}/trust/snapshot`, { headers: { 'if-none-match': header } })).status).toBe(304);
    expect((await fetch(`${s.url}/trust/snapshot`, { headers: { 'if-none-match': '"other"' } })).status).toBe(200);
    const head = await fetch(`${s.url}/trust/snapshot`, { method: 'HEAD' });
    expect([head.status, head.headers.get('etag')]).toEqual([200, etag]);
    // Served before the framework, the head's snapshot is still counted in the request metrics.
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toMatch(
      /signet_http_request_duration_seconds_count\{[^}]*route="\/trust\/snapshot"[^}]*status="304"[^}]*\} [1-9]/,
    );
    const snapshot = (
      JSON.parse(body) as {
        snapshot: {
          version: number;
          signingKeys: {
            fingerprint: string;
            status: string;
            activeFrom: string;
            retiredAt: string | null;
            compromisedSince: string | null;
          }[];
        };
      }
    ).snapshot;
    expect(snapshot.signingKeys.map((k) => [k.fingerprint, k.status]).sort()).toEqual(
      [
        [fpr.s1, 'active'],
        [fpr.s2, 'retired'],
        [fpr.s3, 'revoked'],
      ].sort(),
    );
    expect(snapshot.signingKeys.find((k) => k.fingerprint === fpr.s3)!.compromisedSince).toBe(day(25).toISOString());
    const older = await fetch(`${s.url}/trust/snapshot?size=10`);
    expect(older.headers.get('cache-control')).toMatch(/immutable/);
    const olderBody = await older.text();
    for (const [query, status, code] of [
      ['size=0', 400, 'BAD_PARAMETER'],
      ['size=abc', 400, 'BAD_PARAMETER'],
      ['size=99999', 404, 'NOT_IN_LOG'],
    ] as const) {
      const res = await fetch(`${s.url}/trust/snapshot?${query}`);
      expect([query, res.status, ((await res.json()) as { code: string }).code]).toEqual([query, status, code]);
    }
    // Restarted, the server serves the same bytes (same state, same time).
    await app.stop('SIGTERM');
    app = await startApp(env);
    s.url = app.url;
    expect(await (await fetch(`${s.url}/trust/snapshot`)).text()).toBe(body);
    expect(await (await fetch(`${s.url}/trust/snapshot?size=10`)).text()).toBe(olderBody);
  });

  it('signet snapshot fetch pins the verifier key and keeps the snapshot; a wrong key is refused', () => {
    const none = signet('verify', 'package', join(work, 'x'), join(work, 'x.asc'));
    expect([none.code, none.err]).toEqual([2, expect.stringContaining('NO_SNAPSHOT')]);
    expect(signet('snapshot', 'fetch', '--server', s.url).code).toBe(2);
    const wrong = signet(
      'snapshot',
      'fetch',
      '--server',
      s.url,
      '--vkey',
      'e2e.signet.test/client+00000000+AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij',
    );
    // A malformed key is bad local input (2); a well-formed key of another log, a refusal (1).
    expect([wrong.code, wrong.err]).toEqual([2, expect.stringContaining('--vkey is not a verifier key')]);
    const other = signet(
      'snapshot',
      'fetch',
      '--server',
      s.url,
      '--vkey',
      encodeVerifierKey('e2e.signet.test/client', ed25519PublicKey(randomBytes(32))),
    );
    expect([other.code, other.err]).toEqual([1, expect.stringContaining('SNAPSHOT_WRONG_KEY')]);
    const ok = signet('snapshot', 'fetch', '--server', s.url, '--vkey', vkey, '--json');
    expect(ok.code, ok.err).toBe(0);
    expect(json(ok)).toMatchObject({ ok: true, origin: s.origin, signingKeys: 3 });
    const human = signet('snapshot', 'fetch', '--server', s.url);
    expect(human.out).toMatch(
      /^snapshot \d+ of e2e\.signet\.test\/client accepted from http:\/\/127\.0\.0\.1:\d+: issued .*, expires .*, 3 signing keys\n$/,
    );
  });

  it('snapshot fetch retries transient failures with backoff (--retries, --timeout) and tries mirrors in turn', async () => {
    // A server in front of the log that fails as told: HTTP 503 `failures` times, or never answers under /hang.
    let failures = 0;
    let hits = 0;
    const proxy = createServer((req, res) => {
      hits++;
      if (req.url?.startsWith('/hang')) return void setTimeout(() => res.writeHead(503).end(), 5_000);
      if (failures > 0) {
        failures--;
        return void res.writeHead(503).end();
      }
      void fetch(`${s.url}${req.url}`).then(async (upstream) => {
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' });
        res.end(Buffer.from(await upstream.arrayBuffer()));
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const mirror = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const dead = `http://127.0.0.1:${await freePort()}`;
    const fetchSnapshot = (...args: string[]) =>
      signetAsync('snapshot', 'fetch', '--vkey', vkey, '--state', mkdtempSync(join(work, 'fetch-')), ...args);
    try {
      // Twice 503, then the snapshot: accepted on the third try.
      [failures, hits] = [2, 0];
      const third = await fetchSnapshot('--server', mirror, '--retries', '2');
      expect([third.code, third.err, hits]).toEqual([0, '', 3]);
      // Not enough retries: exit 2, naming the last failure and the tries.
      [failures, hits] = [5, 0];
      const spent = await fetchSnapshot('--server', mirror, '--retries', '1');
      expect([spent.code, spent.err, hits]).toEqual([
        2,
        expect.stringMatching(
          /^signet: SOURCE_UNREACHABLE: cannot fetch the trust snapshot from .*: HTTP 503 \(2 tries\)\n$/,
        ),
        2,
      ]);
      // No answer within --timeout.
      const slow = await fetchSnapshot('--server', `${mirror}/hang`, '--timeout', '0.5', '--retries', '0');
      expect([slow.code, slow.err]).toEqual([2, expect.stringContaining('no answer within 0.5 s')]);
      // A dead mirror, then a good one: the snapshot from the good one; both remembered.
      [failures, hits] = [0, 0];
      const state = mkdtempSync(join(work, 'mirrors-'));
      const mirrors = await signetAsync(
        'snapshot',
        'fetch',
        '--vkey',
        vkey,
        '--state',
        state,
        '--server',
        dead,
        '--server',
        mirror,
        '--retries',
        '0',
        '--json',
      );
      expect([mirrors.code, mirrors.err]).toEqual([0, '']);
      expect(json(mirrors)).toMatchObject({ ok: true, server: mirror });
      expect(readFileSync(join(state, 'server'), 'utf8')).toBe(`${dead}\n${mirror}\n`);
      const again = await signetAsync('snapshot', 'fetch', '--state', state, '--retries', '0');
      expect([again.code, again.out]).toEqual([0, expect.stringContaining(`accepted from ${mirror}:`)]);
      // Every mirror dead: exit 2, each one's cause.
      const none = await signetAsync(
        'snapshot',
        'fetch',
        '--vkey',
        vkey,
        '--state',
        mkdtempSync(join(work, 'none-')),
        '--server',
        dead,
        '--server',
        `${dead}/b`,
        '--retries',
        '0',
      );
      expect([none.code, none.err]).toEqual([
        2,
        expect.stringMatching(/^signet: SOURCE_UNREACHABLE: no server answered: .*ECONNREFUSED.*; .*ECONNREFUSED/),
      ]);
    } finally {
      proxy.close();
    }
  });

  it('verifies package signatures offline: SHA-512 by a usable key only', () => {
    const artifact = join(work, 'mybb-1.8.39.zip');
    writeFileSync(artifact, 'the package bytes');
    const sign = (key: string, at: Date, digest = 'SHA512') => {
      const path = join(work, `sig-${key}-${at.getTime()}-${digest}.asc`);
      writeFileSync(path, gpg.detachSign(fpr[key]!, 'the package bytes', at, digest));
      return path;
    };
    const verdict = (key: string, at: Date, digest?: string) => {
      const r = signet('verify', 'package', artifact, sign(key, at, digest), '--json');
      return [r.code, json(r).code];
    };
    const good = signet('verify', 'package', artifact, sign('s1', day(16)));
    expect([good.code, good.out], good.err).toEqual([
      0,
      expect.stringMatching(/^GOOD: .* signed by ~Eve \([0-9A-F ]+\) at 2026-01-17/),
    ]);
    // only the very signature the log published: the same key and artifact at another time was not
    expect(verdict('s1', day(17))).toEqual([1, 'NOT_PUBLISHED']);
    // published on day 26, after the compromise from day 25, though it claims day 24.5
    expect(verdict('s3', day(24.5))).toEqual([1, 'KEY_REVOKED']);
    expect(verdict('s1', day(16), 'SHA1')).toEqual([1, 'SHA1_REFUSED']);
    expect(verdict('s1', day(16), 'SHA256')).toEqual([1, 'WEAK_DIGEST']);
    expect(verdict('s1', day(10))).toEqual([1, 'KEY_NOT_YET_ACTIVE']);
    expect(verdict('s2', day(16))).toEqual([0, null]);
    expect(verdict('s2', day(21))).toEqual([1, 'KEY_RETIRED']);
    expect(verdict('s3', day(24))).toEqual([0, null]);
    expect(verdict('s3', day(26))).toEqual([1, 'KEY_REVOKED']);
    expect(verdict('unknown', day(16))).toEqual([1, 'UNKNOWN_SIGNER']);
    writeFileSync(join(work, 'tampered.zip'), 'the package bytes!');
    const tampered = signet('verify', 'package', join(work, 'tampered.zip'), sign('s1', day(16)), '--json');
    expect([tampered.code, json(tampered).code]).toEqual([1, 'BAD_SIGNATURE']);
  });

  it("verifies FreePBX modules offline with FreePBX's status bits", () => {
    const check = (dir: string) => {
      const r = signet('verify', 'module', dir, '--json');
      const v = json(r) as { status: number; details: string[]; unlisted: string[] };
      return { code: r.code, status: v.status, details: v.details, unlisted: v.unlisted };
    };
    expect(check(module('good', fpr.s1!, day(16)))).toEqual({ code: 0, status: 129, details: [], unlisted: [] });
    const human = signet('verify', 'module', join(work, 'modules', 'good'));
    expect(human.out).toMatch(/^GOOD 129 \(GOOD\|TRUSTED\) signed by ~Eve/);

    const altered = module('altered', fpr.s1!, day(16));
    writeFileSync(join(altered, 'Main.class.php'), '<?php evil();\n');
    expect(check(altered)).toMatchObject({ code: 1, status: 130, details: ['Main.class.php altered'] });
    const missing = module('missing', fpr.s1!, day(16));
    rmSync(join(missing, 'assets', 'app.js'));
    expect(check(missing)).toMatchObject({ code: 1, status: 130, details: ['assets/app.js missing'] });

    expect(check(module('unsigned', null, day(16)))).toMatchObject({ code: 1, status: 8 });
    expect(check(module('unknown-key', fpr.unknown!, day(16)))).toMatchObject({ code: 1, status: 4 });
    expect(check(module('retired-before', fpr.s2!, day(16)))).toMatchObject({ code: 0, status: 129 });
    expect(check(module('retired-after', fpr.s2!, day(21)))).toMatchObject({ code: 1, status: 32 });
    expect(check(module('compromised-after', fpr.s3!, day(26)))).toMatchObject({ code: 1, status: 64 });
    // never published, claiming a time before the compromise: the key's holder can backdate
    expect(check(module('compromised-backdated', fpr.s3!, day(24)))).toMatchObject({ code: 1, status: 64 });
    // published on day 24, before the compromise: good
    expect(check(join(work, 'modules', 'published-s3'))).toMatchObject({ code: 0, status: 129 });
    expect(check(module('v3', fpr.s1!, day(16), { version: '3' }))).toMatchObject({ code: 1, status: 16 });
    const tamperedSig = module('tampered-sig', fpr.s1!, day(16));
    const text = gpg
      .clearSign(fpr.s1!, signet('module-sig', tamperedSig).out, day(16))
      .replace('app.js = ', 'app.js =  ');
    writeFileSync(
      join(tamperedSig, 'module.sig'),
      text.replace(/assets\/app\.js = [0-9a-f]/, (m) => `${m.slice(0, -1)}${m.endsWith('0') ? '1' : '0'}`),
    );
    expect(check(tamperedSig)).toMatchObject({ code: 1, status: 6 });
  });

  it('a file module.sig does not list (a dropped-in backdoor.php) is UNLISTED, not GOOD, unless --allow-unlisted', () => {
    const extra = module('extra', fpr.s1!, day(16));
    writeFileSync(join(extra, 'backdoor.php'), '<?php system($_GET["c"]);\n');
    const flagged = signet('verify', 'module', extra, '--json');
    expect([flagged.code, json(flagged)]).toEqual([
      1,
      expect.objectContaining({
        status: 384,
        flags: ['TRUSTED', 'UNLISTED'],
        good: false,
        details: [],
        unlisted: ['backdoor.php'],
      }),
    ]);
    const human = signet('verify', 'module', extra);
    expect([human.code, human.out]).toEqual([
      1,
      expect.stringMatching(
        /^BAD 384 \(TRUSTED\|UNLISTED\) signed by ~Eve \([0-9A-F ]+\): backdoor\.php not listed\n$/,
      ),
    ]);
    const allowed = signet('verify', 'module', extra, '--allow-unlisted', '--json');
    expect([allowed.code, json(allowed)]).toEqual([
      0,
      expect.objectContaining({ status: 129, flags: ['GOOD', 'TRUSTED'], good: true, unlisted: ['backdoor.php'] }),
    ]);
    expect(signet('verify', 'module', extra, '--allow-unlisted').out).toMatch(
      /^GOOD 129 \(GOOD\|TRUSTED\) signed by ~Eve .*: backdoor\.php not listed\n$/,
    );

    // With a listed file altered too: TAMPERED and UNLISTED (GOOD cleared by both).
    writeFileSync(join(extra, 'Main.class.php'), '<?php evil();\n');
    expect(json(signet('verify', 'module', extra, '--json'))).toMatchObject({
      status: 128 + 256 + 2,
      details: ['Main.class.php altered'],
      unlisted: ['backdoor.php'],
    });

    // A symbolic link is present too, though not a regular file (PHP follows it), in a subdirectory
    // as well; a name with control characters cannot rewrite the verdict line on a terminal.
    const linked = module('linked', fpr.s1!, day(16));
    symlinkSync('/etc/hostname', join(linked, 'assets', 'evil.php'));
    writeFileSync(join(linked, 'x\rGOOD 129.php'), '');
    const r = signet('verify', 'module', linked);
    expect([r.code, r.out]).toEqual([
      1,
      expect.stringMatching(/^BAD 384 .*: assets\/evil\.php not listed; x\\x0dGOOD 129\.php not listed\n$/),
    ]);
  });

  it('FreePBX-compatible mode: trusts keys certified by a master key, no log, SHA-1 reported', () => {
    const made = new Date('2017-01-01T00:00:00Z');
    // No log here, so no key policy: what counts is who certified whom. Ed25519 (quick to make) but
    // for the mirror key, RSA like FreePBX's: it makes the SHA-1 signatures, and openpgp.js refuses
    // SHA-1 with an EdDSA key ("Hash algorithm too weak for EdDSA").
    const master = gpg.genKey('FreePBX Master <master@freepbx.example>', 'ed25519', made);
    const mirror = gpg.genKey('FreePBX Mirror 1 <mirror1@freepbx.example>', 'rsa4096', made);
    const revoked = gpg.genKey('FreePBX Mirror 2 <mirror2@freepbx.example>', 'ed25519', made);
    const stranger = gpg.genKey('Someone <someone@example.org>', 'ed25519', made);
    // (Genuine mirror keys carry SHA-1 certifications of the old master; gpg 2.2.40 no longer
    // makes SHA-1 certifications at all, so this one is SHA-512.)
    gpg.certify(master, mirror, new Date('2018-01-01T00:00:00Z'));
    gpg.certify(master, revoked, day(0));
    gpg.revokeCertification(master, revoked, day(1));
    const roots = join(work, 'freepbx-master.asc');
    const keyring = join(work, 'freepbx-keyring.asc');
    writeFileSync(roots, gpg.exportKey(master));
    writeFileSync(keyring, gpg.run(['--armor', '--export', mirror, revoked, stranger]));
    const check = (dir: string) => {
      const r = signet('verify', 'module', dir, '--trust-root', roots, '--keyring', keyring, '--json');
      const v = json(r) as { status: number; details: string[] };
      return { code: r.code, status: v.status, details: v.details };
    };
    const genuine = check(module('genuine', mirror, day(5), { digest: 'SHA1' }));
    expect(genuine).toMatchObject({ code: 0, status: 129 });
    expect(genuine.details).toEqual([expect.stringMatching(/^old digest: module\.sig is clear-signed with SHA-1/)]);
    const altered = module('genuine-altered', mirror, day(5), { digest: 'SHA1' });
    writeFileSync(join(altered, 'module.xml'), '<module/>\n');
    expect(check(altered)).toMatchObject({ code: 1, status: 130 });
    expect(check(module('revoked-cert', revoked, day(5)))).toMatchObject({ code: 1, status: 64 });
    expect(check(module('uncertified', stranger, day(5)))).toMatchObject({ code: 1, status: 7 });
    expect(check(module('by-master', master, day(5)))).toMatchObject({ code: 0, status: 129 });
    expect(check(module('not-in-keyring', fpr.s1!, day(16)))).toMatchObject({ code: 1, status: 4 });
    const usage = signet('verify', 'module', join(work, 'modules', 'genuine'), '--trust-root', roots);
    expect(usage.code).toBe(2);

    // No log here: the signer is named by its key's user ID, and an unknown one by where keys come from.
    const human = signet(
      'verify',
      'module',
      join(work, 'modules', 'genuine'),
      '--trust-root',
      roots,
      '--keyring',
      keyring,
    );
    expect(human.out).toMatch(
      /^GOOD 129 \(GOOD\|TRUSTED\) signed by FreePBX Mirror 1 <mirror1@freepbx\.example> \([0-9A-F ]+\): old digest/,
    );
    expect(
      signet('verify', 'module', join(work, 'modules', 'by-master'), '--trust-root', roots, '--keyring', keyring).out,
    ).toMatch(/^GOOD 129 \(GOOD\|TRUSTED\) signed by FreePBX Master <master@freepbx\.example> \(/);
    const unknown = signet(
      'verify',
      'module',
      join(work, 'modules', 'not-in-keyring'),
      '--trust-root',
      roots,
      '--keyring',
      keyring,
    );
    expect(unknown.out).toMatch(
      /^BAD 4 \(INVALID\): UNKNOWN_SIGNER: module\.sig is signed by key [0-9A-F]{16}, which is neither a trust root \(--trust-root\) nor in the keyring \(--keyring\)\n$/,
    );
    for (const r of [
      human,
      unknown,
      signet('verify', 'module', join(work, 'modules', 'uncertified'), '--trust-root', roots, '--keyring', keyring),
    ]) {
      expect(r.out).not.toMatch(/~null|this log/);
    }
    expect(
      JSON.parse(
        signet(
          'verify',
          'module',
          join(work, 'modules', 'genuine'),
          '--trust-root',
          roots,
          '--keyring',
          keyring,
          '--json',
        ).out,
      ),
    ).toMatchObject({ signer: mirror, username: null, userId: 'FreePBX Mirror 1 <mirror1@freepbx.example>' });

    // Files module.sig does not list: listed, but the bits are FreePBX's (unlisted files ignored).
    const extra = module('genuine-extra', mirror, day(5), { digest: 'SHA1' });
    writeFileSync(join(extra, 'backdoor.php'), '<?php\n');
    const r = signet('verify', 'module', extra, '--trust-root', roots, '--keyring', keyring, '--json');
    expect([r.code, json(r)]).toEqual([
      0,
      expect.objectContaining({ status: 129, flags: ['GOOD', 'TRUSTED'], unlisted: ['backdoor.php'] }),
    ]);
    expect(signet('verify', 'module', extra, '--trust-root', roots, '--keyring', keyring).out).toMatch(
      /: old digest: .*; backdoor\.php not listed\n$/,
    );
    expect(
      signet('verify', 'module', extra, '--trust-root', roots, '--keyring', keyring, '--allow-unlisted').code,
    ).toBe(2);

    // A modules directory as FreePBX keeps it: every module checked, a table or JSON lines.
    const modules = join(work, 'pbx-modules');
    for (const name of ['genuine', 'genuine-altered', 'by-master', 'uncertified'])
      cpSync(join(work, 'modules', name), join(modules, name), { recursive: true });
    mkdirSync(join(modules, 'unsigned'));
    writeFileSync(
      join(modules, 'unsigned', 'module.xml'),
      '<module><rawname>unsigned</rawname><version>1.2</version></module>\n',
    );
    mkdirSync(join(modules, 'not-a-module')); // no module.xml, no module.sig: not listed
    const trust = ['--trust-root', roots, '--keyring', keyring];
    const table = signet('verify', 'modules', modules, ...trust);
    expect([table.code, table.err]).toEqual([1, '']);
    const lines = table.out.split('\n');
    expect(lines[0]).toMatch(/^MODULE +VERSION +STATUS +SIGNER$/);
    expect(lines.slice(1, 6).map((l) => l.split(/ {2,}/).slice(0, 3))).toEqual([
      ['by-master', '16.0.1', 'GOOD 129 (GOOD|TRUSTED)'],
      ['genuine', '16.0.1', 'GOOD 129 (GOOD|TRUSTED)'],
      ['genuine-altered', '-', 'BAD 130 (TAMPERED|TRUSTED)'],
      ['uncertified', '16.0.1', 'BAD 7 (GOOD|TAMPERED|INVALID)'],
      ['unsigned', '1.2', 'BAD 8 (UNSIGNED)'],
    ]);
    expect(lines[2]).toMatch(/ FreePBX Mirror 1 <mirror1@freepbx\.example> \([0-9A-F ]+\)$/);
    expect(lines[6]).toBe('5 modules, 2 GOOD, 3 not GOOD');
    const jsonLines = signet('verify', 'modules', modules, ...trust, '--json');
    expect(jsonLines.code).toBe(1);
    const rows = jsonLines.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => [r.module, r.version, r.status, r.good])).toEqual([
      ['by-master', '16.0.1', 129, true],
      ['genuine', '16.0.1', 129, true],
      ['genuine-altered', '-', 130, false],
      ['uncertified', '16.0.1', 7, false],
      ['unsigned', '1.2', 8, false],
    ]);
    expect(rows[1]).toMatchObject({ signer: mirror, directory: join(modules, 'genuine'), signatureVersion: '1' });
    // Only GOOD modules: exit 0.
    for (const name of ['genuine-altered', 'uncertified', 'unsigned']) rmSync(join(modules, name), { recursive: true });
    expect(signet('verify', 'modules', modules, ...trust).code).toBe(0);
  }, 300_000);

  it('reads every key of a keyring file: cat a.asc b.asc, gpg --export --armor A B and binary gpg --export give the same verdict', () => {
    const made = new Date('2017-01-01T00:00:00Z');
    // FreePBX-compatible mode: no log, so no key policy; Ed25519 keys are quick to make.
    const master = gpg.genKey('Ring Master <ring-master@freepbx.example>', 'ed25519', made);
    const other = gpg.genKey('Other Master <other-master@freepbx.example>', 'ed25519', made);
    const first = gpg.genKey('Ring Mirror 1 <ring1@freepbx.example>', 'ed25519', made);
    const second = gpg.genKey('Ring Mirror 2 <ring2@freepbx.example>', 'ed25519', made);
    gpg.certify(master, first, day(0));
    gpg.certify(master, second, day(0));
    const file = (name: string, content: string | Buffer) => {
      writeFileSync(join(work, name), content);
      return join(work, name);
    };
    // The trust roots in one file of two blocks too (FreePBX trusts two master keys).
    const roots = file('ring-roots.asc', gpg.exportKey(other) + gpg.exportKey(master));
    const rings = {
      cat: file('ring-cat.asc', gpg.exportKey(first) + gpg.exportKey(second)),
      exported: file('ring-export.asc', gpg.run(['--armor', '--export', first, second])),
      binary: file('ring.gpg', gpg.exportBinary(first, second)),
    };
    const dir = module('by-second-key', second, day(5));
    for (const [how, ring] of Object.entries(rings)) {
      const r = signet('verify', 'module', dir, '--trust-root', roots, '--keyring', ring, '--json');
      expect([how, r.code, json(r)]).toEqual([
        how,
        0,
        expect.objectContaining({ status: 129, signer: second, userId: 'Ring Mirror 2 <ring2@freepbx.example>' }),
      ]);
    }
    // A key file with no usable key is bad local input (exit 2), and says so.
    for (const [content, message] of [
      ['', 'holds no OpenPGP public key'],
      ['not a key\n', 'holds no OpenPGP public key'],
      [gpg.run(['--armor', '--export-secret-keys', first]), 'block 1 is a private key'],
    ] as const) {
      const empty = file('no-key.asc', content);
      for (const args of [
        ['--trust-root', empty, '--keyring', rings.cat],
        ['--trust-root', roots, '--keyring', empty],
      ]) {
        const r = signet('verify', 'module', dir, ...args);
        expect([r.code, r.out, r.err]).toEqual([
          2,
          '',
          expect.stringContaining(`BAD_KEY: ${empty}${message.startsWith('block') ? ': ' : ' '}${message}`),
        ]);
      }
    }
    const missing = signet('verify', 'module', dir, '--trust-root', roots, '--keyring', join(work, 'no-such.asc'));
    expect([missing.code, missing.err]).toEqual([2, expect.stringContaining('cannot read the key file')]);
  });

  it('refuses to verify with an expired snapshot (exit 2) until a fresh one is fetched', () => {
    const artifact = join(work, 'a.zip');
    writeFileSync(artifact, 'the package bytes');
    writeFileSync(join(work, 'a.zip.asc'), gpg.detachSign(fpr.s1!, 'the package bytes', day(16))); // as published
    s.setClock(day(40));
    const stale = signet('verify', 'package', artifact, join(work, 'a.zip.asc'));
    expect([stale.code, stale.err]).toEqual([2, expect.stringContaining('SNAPSHOT_EXPIRED')]);
    const fresh = signet('snapshot', 'fetch', '--server', s.url);
    expect([fresh.code, fresh.err]).toEqual([0, '']);
    expect(signet('verify', 'package', artifact, join(work, 'a.zip.asc')).code).toBe(0);
  });
});
