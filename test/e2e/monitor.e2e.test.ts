import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519PublicKey, encodeVerifierKey } from '@signet/tlog';
import { CLI_BIN, type RunningApp, startApp } from '../support/app.js';
import { type Backend, newBackend } from '../support/backends.js';
import { Gpg } from '../support/gpg.js';
import { StoryClient, day } from '../support/story.js';
import { type Receiver, receiver } from '../support/workers.js';

// Monitors: `signet monitor` follows a log for the keys, users and packages it watches, and
// catches a log that forks its history — two servers grown from the same prefix, diverging.

describe('signet monitor', () => {
  const gpg = new Gpg();
  const work = mkdtempSync(join(tmpdir(), 'signet-monitor-e2e-'));
  const s = new StoryClient(gpg, work, 'e2e.signet.test/monitor', join(work, 'clock'));
  const fpr: Record<string, string> = {};
  let backend: Backend;
  let app: RunningApp;
  let fork: RunningApp | null = null;
  let vkey = '';
  let hook: Receiver;
  let env: Record<string, string | undefined>;

  // Asynchronous: the webhook receiver lives in this process and must answer meanwhile.
  const monitor = (...args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI_BIN, 'monitor', '--vkey', vkey, '--once', ...args]);
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.on('close', (code) => resolve({ code, out, err }));
    });

  beforeAll(async () => {
    Object.assign(
      fpr,
      gpg.genKeys(
        {
          root: 'Root <root@example.org>',
          alice: 'Alice <alice@example.org>',
          eve: 'Eve <eve@example.org>',
          sign: 'Eve (CODE SIGNING KEY) <eve@mybb.example>',
        },
        day(-30),
      ),
    );
    hook = await receiver((_d, res) => res.writeHead(200).end());
    backend = await newBackend('pglite');
    s.setClock(day(0));
    env = {
      SIGNET_DATA_DIR: backend.config.dataDir,
      DATABASE_URL: undefined,
      SIGNET_CLOCK_FILE: s.clockFile,
      SIGNET_WORKERS: 'off',
    };
    ({ app, vkey } = await s.start(fpr.root!, env));
    expect(
      s.post(fpr.root!, { type: 'AddMember', key: gpg.exportKey(fpr.alice!), username: 'Alice', role: 'leader' })
        .status,
    ).toBe(201);
    expect(
      s.post(fpr.root!, { type: 'AddMember', key: gpg.exportKey(fpr.eve!), username: 'Eve', role: 'member' }).status,
    ).toBe(201);
  }, 300_000);

  afterAll(async () => {
    await fork?.stop('SIGKILL');
    await app?.stop('SIGKILL');
    await hook?.close();
    await backend?.cleanup();
    gpg.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('reports the events about watched keys, users and packages once each, as lines or JSON lines, and posts them to the webhook', async () => {
    const state = join(work, 'state-eve');
    const first = await monitor(
      '--server',
      s.url,
      '--watch',
      'Eve',
      '--state',
      state,
      '--webhook',
      `${hook.url}/alerts`,
    );
    expect(first.code).toBe(0);
    expect(first.out).toMatch(
      /^seq 2 2026-01-01T00:00:00.000Z MemberAdded ~Eve [0-9A-F]{40} \(by [0-9A-F]{40}\) \[watching Eve\]\n$/,
    );
    gpg.certify(fpr.eve!, fpr.sign!, day(0));
    expect(s.post(fpr.eve!, { type: 'AddSigningKey', key: gpg.exportKey(fpr.sign!) }).status).toBe(201);
    expect(s.post(fpr.alice!, { type: 'AuthorizeSigningKey', fingerprint: fpr.sign }).status).toBe(201);
    const second = await monitor(
      '--server',
      s.url,
      '--watch',
      'Eve',
      '--watch',
      fpr.sign!.toLowerCase(),
      '--state',
      state,
      '--json',
      '--webhook',
      `${hook.url}/alerts`,
    );
    expect([second.code, second.err]).toEqual([0, '']);
    const findings = second.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; seq: number; type: string; matched: string[] });
    expect(findings.map((f) => [f.kind, f.type])).toEqual([
      ['event', 'SigningKeyAdded'],
      ['event', 'SigningKeyCertified'],
      ['event', 'SigningKeyAuthorized'],
    ]);
    expect(findings[0]!.matched).toEqual(['Eve', fpr.sign]);
    expect((await monitor('--server', s.url, '--watch', 'Eve', '--state', state)).out).toBe('');
    expect(hook.deliveries.map((d) => (JSON.parse(d.body) as { type: string }).type)).toEqual([
      'MemberAdded',
      'SigningKeyAdded',
      'SigningKeyCertified',
      'SigningKeyAuthorized',
    ]);
  });

  it('reports a forked log as equivocation with both checkpoints, against a peer and against its own last checkpoint', async () => {
    const state = join(work, 'state-fork');
    expect((await monitor('--server', s.url, '--watch', 'nobody', '--state', state)).code).toBe(0);
    // A second server from a copy of the same log: the same prefix, then each goes its own way.
    await app.stop('SIGTERM');
    const copy = join(work, 'fork-data');
    cpSync(backend.config.dataDir, copy, { recursive: true });
    app = await startApp(env);
    s.url = app.url;
    fork = await startApp({ ...env, SIGNET_DATA_DIR: copy });
    const forkClient = new StoryClient(gpg, work, s.origin, s.clockFile);
    forkClient.url = fork.url;
    forkClient.now = s.now;
    expect(s.post(fpr.root!, { type: 'ChangeMemberRole', member: fpr.eve, role: 'leader' }).status).toBe(201);
    expect(forkClient.post(fpr.root!, { type: 'RemoveMember', member: fpr.eve }, { id: 'fork-1' }).status).toBe(201);
    expect(await s.size()).toBe(await forkClient.size());

    const peer = await monitor('--server', s.url, '--watch', 'nobody', '--state', state, '--peer', fork.url);
    expect(peer.code).toBe(1);
    expect(peer.out).toContain(
      `ALERT equivocation: ${s.url} and ${fork.url} serve checkpoints of size ${await s.size()} with different roots`,
    );
    const notes = peer.out.match(/^e2e\.signet\.test\/monitor\n\d+\n\S+\n\n— e2e\.signet\.test\/monitor \S+\n/gm)!;
    expect(notes).toHaveLength(2);
    expect(notes[0]).not.toBe(notes[1]);

    // The fork grows: a peer of another size whose tree does not contain ours.
    expect(forkClient.post(fpr.root!, { type: 'RemoveMember', member: fpr.alice }, { id: 'fork-2' }).status).toBe(201);
    const inconsistent = await monitor(
      '--server',
      s.url,
      '--watch',
      'nobody',
      '--state',
      state,
      '--peer',
      fork.url,
      '--json',
    );
    expect(inconsistent.code).toBe(1);
    const alert = inconsistent.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; summary: string; ours: string; theirs: string })
      .find((f) => f.kind === 'equivocation')!;
    expect(alert.summary).toMatch(/are not consistent/);
    expect([alert.ours.split('\n')[1], alert.theirs.split('\n')[1]]).toEqual([
      String(await s.size()),
      String(await forkClient.size()),
    ]);

    // Pointed at the fork itself, the monitor finds that its last accepted tree is not a prefix.
    const own = await monitor('--server', fork.url, '--watch', 'nobody', '--state', state);
    expect(own.code).toBe(1);
    expect(own.out).toMatch(/^ALERT inconsistent: the entries after \d+ do not lead from the last accepted tree/);
  });

  it('refuses a checkpoint signed by another key and usage errors (exit 2)', async () => {
    expect((await monitor('--watch', 'Eve')).code).toBe(2);
    expect(
      spawnSync(process.execPath, [CLI_BIN, 'monitor', '--server', s.url, '--once'], { encoding: 'utf8' }).status,
    ).toBe(2);
    expect((await monitor('--server', s.url, '--interval', '0')).code).toBe(2);
    const other = spawnSync(
      process.execPath,
      [
        CLI_BIN,
        'monitor',
        '--server',
        s.url,
        '--vkey',
        encodeVerifierKey('e2e.signet.test/monitor', ed25519PublicKey(randomBytes(32))),
        '--once',
        '--state',
        join(work, 'state-other'),
      ],
      { encoding: 'utf8' },
    );
    expect(other.status).toBe(1);
    expect(other.stdout).toMatch(/^FAILED: UNVERIFIED_NOTE: the note is not signed by any known key/);
  });
});
