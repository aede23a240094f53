import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EventDraft,
  draftOf,
  encodeSignedSnapshot,
  parseSignedSnapshot,
  snapshotSigningBytes,
} from '@signet/domain';
import { openLog } from '@signet/store';
import { ed25519Signer, parseSignerKey, signNote, toBase64 } from '@signet/tlog';
import { CLI_BIN, type RunningApp, startApp } from '../support/app.js';
import { type Backend, newBackend } from '../support/backends.js';
import { Gpg } from '../support/gpg.js';
import { StoryClient, day } from '../support/story.js';

// Auditors: `signet audit` replays a log told through the real server with real GnuPG — every
// kind of event — and must find it clean; then each kind of tampering, by a database superuser,
// a mirror or a malicious server, must be caught at the right seq with a clear reason.

interface Report {
  ok: boolean;
  size: number;
  from: number;
  events: number;
  root: string;
  counts: Record<string, number>;
  snapshot: string;
  seq?: number | null;
  code?: string;
  message?: string;
  packageSignaturesNotReverified: number[];
}

describe('signet audit and signet mirror', () => {
  const gpg = new Gpg();
  const work = mkdtempSync(join(tmpdir(), 'signet-audit-e2e-'));
  const s = new StoryClient(gpg, work, 'e2e.signet.test/audit', join(work, 'clock'));
  const fpr: Record<string, string> = {};
  let backend: Backend;
  let app: RunningApp;
  let vkey = '';
  let env: Record<string, string | undefined>;

  const signet = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI_BIN, ...args], { encoding: 'utf8', env: { ...process.env } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const audit = (...args: string[]): Report & { exit: number | null; err: string } => {
    const r = signet('audit', '--vkey', vkey, '--json', ...args);
    return { ...(JSON.parse(r.out || '{}') as Report), exit: r.code, err: r.err };
  };
  async function publishModule(signer: string, name: string, version: string, at: Date) {
    const body = `; FreePBX module ${name}\n[config]\nversion=1\nhash=sha256\nsignedwith=${signer}\n[hashes]\nmodule.xml = ${'ab'.repeat(32)}\n`;
    const form = new FormData();
    form.append('modulesig', new Blob([gpg.clearSign(signer, body, at)]), 'module.sig');
    const res = await fetch(`${s.url}/modules/${name}/${version}/signatures`, { method: 'POST', body: form });
    expect(res.status).toBe(201);
  }

  beforeAll(async () => {
    Object.assign(
      fpr,
      gpg.genKeys(
        {
          root: 'Root (master) <root@example.org>',
          alice: 'Alice <alice@example.org>',
          bob: 'Bob <bob@example.org>',
          eve: 'Eve <eve@example.org>',
          sam: 'Sam <sam@example.org>',
          mallory: 'Mallory <m@example.org>',
          sign: 'Eve (CODE SIGNING KEY) <eve@mybb.example>',
        },
        day(-30),
      ),
    );
    backend = await newBackend('postgres');
    s.setClock(day(0));
    env = {
      SIGNET_DATA_DIR: backend.config.dataDir,
      DATABASE_URL: backend.config.databaseUrl,
      SIGNET_CLOCK_FILE: s.clockFile,
      SIGNET_SWEEP_MS: '200',
      SIGNET_OUTBOX_POLL_MS: '50',
    };
    ({ app, vkey } = await s.start(fpr.root!, env));
    // Members, a signing key certified by its owner and authorized by a leader's certification.
    for (const [who, role] of [
      ['alice', 'leader'],
      ['bob', 'leader'],
      ['eve', 'member'],
      ['sam', 'security'],
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
    gpg.certify(fpr.eve!, fpr.sign!, day(0));
    gpg.certify(fpr.alice!, fpr.sign!, day(0));
    expect(s.post(fpr.eve!, { type: 'AddSigningKey', key: gpg.exportKey(fpr.sign!) }).status).toBe(201);
    await s.settle();
    // Bob authorizes by command too; the workers announce, archive, then activate after 14 days.
    expect(s.post(fpr.bob!, { type: 'AuthorizeSigningKey', fingerprint: fpr.sign }).status).toBe(201);
    s.setClock(day(15));
    await s.settle();
    expect((await s.publish(fpr.sign!, 'mybb', '1.8.0', day(15))).status).toBe(201);
    await publishModule(fpr.sign!, 'core', '16.0.1', day(15));
    // Security revokes Alice's certification, Alice becomes a member, Bob leaves: the key loses its
    // last authorization (continuity: lost, alert, security notice).
    expect(s.post(fpr.sam!, { type: 'RevokeAuthorization', fingerprint: fpr.sign, certifier: fpr.alice }).status).toBe(
      201,
    );
    expect(s.post(fpr.root!, { type: 'ChangeMemberRole', member: fpr.alice, role: 'member' }).status).toBe(201);
    expect(s.post(fpr.root!, { type: 'RemoveMember', member: fpr.bob }).status).toBe(201);
    await s.settle();
    s.setClock(day(16));
    expect(s.post(fpr.sam!, { type: 'RevokeSigningKey', fingerprint: fpr.sign, reason: 'key stolen' }).status).toBe(
      201,
    );
    await s.settle();
  }, 300_000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await backend?.cleanup();
    await forgedBase?.backend.cleanup();
    gpg.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('a clean log of every kind of event audits OK, the snapshot identical, counts per event type', async () => {
    const size = await s.size();
    const report = audit('--server', s.url, '--save', join(work, 'audit-1.json'));
    expect([report.exit, report.err]).toEqual([0, '']);
    expect(report).toMatchObject({
      ok: true,
      size,
      from: 0,
      events: size,
      snapshot: 'identical, and the head snapshot too',
      packageSignaturesNotReverified: [],
    });
    const kinds = [
      'LogCreated',
      'MemberAdded',
      'SigningKeyAdded',
      'SigningKeyCertified',
      'SigningKeyAuthorized',
      'AnnouncementPosted',
      'ArchiveSnapshotTaken',
      'SigningKeyActivated',
      'PackageSignaturePublished',
      'ModuleSignaturePublished',
      'SigningKeyCertificationRevoked',
      'MemberRoleChanged',
      'MemberRemoved',
      'SigningKeyAuthorizationLost',
      'ContinuityAlertRaised',
      'SigningKeyRevoked',
    ];
    expect(kinds.filter((type) => !(report.counts[type]! > 0))).toEqual([]);
    expect(Object.values(report.counts).reduce((a, b) => a + b, 0)).toBe(size);
    // The human summary.
    const human = signet('audit', '--server', s.url, '--vkey', vkey);
    expect([human.code, human.out, human.err]).toEqual([
      0,
      expect.stringMatching(/^OK: e2e\.signet\.test\/audit at size \d+ .*checks out\n/),
      '',
    ]);
    // On a terminal (a pseudo-terminal from util-linux's script), a progress bar with rate and ETA.
    const tty = spawnSync(
      'script',
      ['-qec', `${process.execPath} ${CLI_BIN} audit --server ${s.url} --vkey '${vkey}'`, '/dev/null'],
      { encoding: 'utf8' },
    );
    expect([tty.status, tty.stdout]).toEqual([
      0,
      expect.stringMatching(new RegExp(`\\[#+\\] ${size}/${size} events +\\d+ ev/s +ETA 0s`)),
    ]);
    expect(human.out).toContain('trust snapshot: identical, and the head snapshot too');
  });

  it('mirrors the log into a directory (incrementally) that audits offline with the same result', async () => {
    const dir = join(work, 'mirror');
    const first = signet('mirror', '--server', s.url, '--vkey', vkey, '--artifacts', '--json', dir);
    expect(first.code, first.err).toBe(0);
    expect(JSON.parse(first.out)).toMatchObject({ size: await s.size(), from: 0, artifactsFetched: 1 });
    const again = JSON.parse(signet('mirror', '--server', s.url, '--vkey', vkey, '--json', dir).out) as {
      tilesFetched: number;
      from: number;
    };
    expect(again.from).toBe(await s.size());
    const offline = audit('--mirror', dir);
    const online = audit('--server', s.url);
    expect([offline.exit, offline.snapshot, online.snapshot]).toEqual([
      0,
      'identical',
      'identical, and the head snapshot too',
    ]);
    expect({ ...offline, seconds: 0, eventsPerSecond: 0, snapshot: '' }).toMatchObject({
      ...online,
      seconds: 0,
      eventsPerSecond: 0,
      snapshot: '',
      exit: 0,
    });
  });

  it('serves published artifacts by SHA-512 for auditors, and refuses a bad or unknown name', async () => {
    const size = await s.size();
    for (const [name, status, code] of [
      ['abc', 400, 'BAD_PARAMETER'],
      ['A'.repeat(128), 400, 'BAD_PARAMETER'],
      ['0'.repeat(128), 404, 'NOT_FOUND'],
    ] as const) {
      const res = await fetch(`${s.url}/artifacts/${name}`);
      expect([name.slice(0, 8), res.status, ((await res.json()) as { code: string }).code]).toEqual([
        name.slice(0, 8),
        status,
        code,
      ]);
    }
    expect(await s.size()).toBe(size);
  });

  it('resumes from an earlier audit: checks only the new part and reaches the result of a full audit', async () => {
    const before = JSON.parse(readFileSync(join(work, 'audit-1.json'), 'utf8')) as { size: number };
    s.setClock(day(17));
    expect(
      s.post(fpr.root!, { type: 'AddMember', key: gpg.exportKey(fpr.mallory!), username: 'Mallory', role: 'member' })
        .status,
    ).toBe(201);
    await s.settle();
    const resumed = audit('--server', s.url, '--from-checkpoint', join(work, 'audit-1.json'));
    const full = audit('--server', s.url);
    expect(resumed.exit).toBe(0);
    expect(resumed).toMatchObject({
      from: before.size,
      events: full.size - before.size,
      size: full.size,
      root: full.root,
      counts: full.counts,
      snapshot: 'identical, and the head snapshot too',
    });
  });

  it('refuses a checkpoint signed by another key, and a mirror whose tile or snapshot was changed', async () => {
    const dir = join(work, 'mirror');
    expect(signet('mirror', '--server', s.url, '--vkey', vkey, dir).code).toBe(0);
    const size = await s.size();
    const copy = (name: string) => {
      const to = join(work, name);
      cpSync(dir, to, { recursive: true });
      return to;
    };
    // Another key (same name) signs the checkpoint.
    const forged = copy('forged-checkpoint');
    const other = ed25519Signer('e2e.signet.test/audit', randomBytes(32));
    const note = readFileSync(join(forged, 'checkpoint'), 'utf8');
    writeFileSync(join(forged, 'checkpoint'), signNote(note.slice(0, note.indexOf('\n\n') + 1), [other]));
    expect(audit('--mirror', forged)).toMatchObject({ exit: 1, ok: false, code: 'BAD_CHECKPOINT', seq: null });
    // A leaf hash in the level-0 tile changed.
    const tiled = copy('tile-changed');
    const tilePath = join(tiled, 'tile', '0', `000.p`, String(size));
    const tile = readFileSync(tilePath);
    tile[5 * 32] ^= 1;
    writeFileSync(tilePath, tile);
    expect(audit('--mirror', tiled)).toMatchObject({ exit: 1, code: 'TILE_MISMATCH', seq: 5 });
    // A snapshot that does not match the history, signed with the log's own key.
    const snapped = copy('snapshot-changed');
    const snapshotPath = join(snapped, 'snapshot', `${size}.json`);
    const signed = parseSignedSnapshot(readFileSync(snapshotPath, 'utf8'));
    const logKey = readFileSync(join(backend.config.dataDir, 'log.key'), 'utf8').trim();
    const { signer } = parseSignerKey(logKey);
    const changed = {
      ...signed.snapshot,
      signingKeys: signed.snapshot.signingKeys.map((k) => ({ ...k, compromisedSince: null })),
    };
    const resigned = {
      snapshot: changed,
      signature: { ...signed.signature, value: toBase64(signer.sign(snapshotSigningBytes(changed))) },
    };
    writeFileSync(snapshotPath, encodeSignedSnapshot(resigned));
    const bad = audit('--mirror', snapped);
    expect(bad).toMatchObject({ exit: 1, code: 'SNAPSHOT_MISMATCH' });
    expect(bad.message).toContain('signingKeys');
  });

  it('a resumed audit of a log that forked from the audited one is refused before replaying', async () => {
    // The earlier audit saw a checkpoint the log signed for another tree of that size (a fork).
    const saved = JSON.parse(readFileSync(join(work, 'audit-1.json'), 'utf8')) as Record<string, unknown> & {
      size: number;
    };
    const { signer } = parseSignerKey(readFileSync(join(backend.config.dataDir, 'log.key'), 'utf8').trim());
    const forkedNote = signNote(`${s.origin}\n${saved.size}\n${toBase64(Buffer.alloc(32, 7))}\n`, [signer]);
    writeFileSync(join(work, 'audit-forked.json'), JSON.stringify({ ...saved, checkpoint: forkedNote }));
    expect(audit('--server', s.url, '--from-checkpoint', join(work, 'audit-forked.json'))).toMatchObject({
      exit: 1,
      code: 'INCONSISTENT',
    });
  });

  it('catches an event whose bytes a database superuser changed, at its seq', async () => {
    const sql = postgres(backend.config.databaseUrl!, { max: 1, onnotice: () => undefined });
    try {
      const [row] = await sql<{ entry: Buffer }[]>`SELECT entry FROM events WHERE seq = 3`;
      const changed = Buffer.from(row!.entry.toString('utf8').replace('"username":"', '"username":"X'));
      await sql.begin(async (tx) => {
        await tx`SET LOCAL session_replication_role = replica`;
        await tx`UPDATE events SET entry = ${changed} WHERE seq = 3`;
      });
      expect(audit('--server', s.url)).toMatchObject({ exit: 1, code: 'TILE_MISMATCH', seq: 3 });
    } finally {
      await sql.end();
    }
  });

  it('catches, in a log whose tree and checkpoints are consistent, an evidence signature replaced and an event no command implies', async () => {
    await app.stop('SIGTERM');
    const log = await openLog(backend.config, {});
    try {
      const size = await log.reader.size();
      const bytes = JSON.stringify({
        origin: s.origin,
        id: 'forged-1',
        issuedAt: day(17).toISOString(),
        type: 'ChangeMemberRole',
        member: fpr.eve,
        role: 'leader',
      });
      const evidence = { command: bytes, signature: gpg.detachSign(fpr.mallory!, bytes, day(17)) };
      await log.writer.append(
        [
          draftOf(
            {
              type: 'MemberRoleChanged',
              v: 1,
              data: { fingerprint: fpr.eve!, role: 'leader', previousRole: 'member' },
            },
            `member/${fpr.eve}`,
            fpr.root!,
            evidence,
          ),
        ],
        { recordedAt: day(17) },
      );
      const forgedAt = size;
      app = await startApp(env);
      s.url = app.url;
      const r = audit('--server', s.url);
      // The superuser's change at seq 3 comes first.
      expect(r).toMatchObject({ exit: 1, seq: 3 });
      const sql = postgres(backend.config.databaseUrl!, { max: 1, onnotice: () => undefined });
      try {
        const [row] = await sql<{ entry: Buffer }[]>`SELECT entry FROM events WHERE seq = 3`;
        await sql.begin(async (tx) => {
          await tx`SET LOCAL session_replication_role = replica`;
          await tx`UPDATE events SET entry = ${Buffer.from(row!.entry.toString('utf8').replace('"username":"X', '"username":"'))} WHERE seq = 3`;
        });
      } finally {
        await sql.end();
      }
      const evidenceReport = audit('--server', s.url);
      expect(evidenceReport).toMatchObject({ exit: 1, code: 'BAD_EVIDENCE', seq: forgedAt });
      expect(evidenceReport.message).toContain('does not verify');
    } finally {
      await log.close().catch(() => undefined);
    }
  });

  /**
   * A log told through the server (Eve a member with a signing key), then `forge` appends events
   * straight through the store — a consistent tree and a signed checkpoint, as a malicious or
   * broken server would make — and the audit must name the first forged seq. The told part is
   * the same for every case: it is told once (`forgedBase`, PGlite) and each case works on its own
   * copy of that data directory, copied while no process has it open.
   */
  let forgedBase: { backend: Backend; story: StoryClient; vkey: string } | null = null;
  async function baseForForging(): Promise<NonNullable<typeof forgedBase>> {
    if (forgedBase) return forgedBase;
    const backend = await newBackend('pglite');
    const story = new StoryClient(gpg, work, 'e2e.signet.test/forged', join(work, 'clock-forged'));
    story.setClock(day(0));
    const started = await story.start(fpr.root!, {
      SIGNET_DATA_DIR: backend.config.dataDir,
      DATABASE_URL: undefined,
      SIGNET_CLOCK_FILE: story.clockFile,
      SIGNET_WORKERS: 'off',
    });
    try {
      expect(
        story.post(fpr.root!, { type: 'AddMember', key: gpg.exportKey(fpr.eve!), username: 'Eve', role: 'member' })
          .status,
      ).toBe(201);
      expect(story.post(fpr.eve!, { type: 'AddSigningKey', key: gpg.exportKey(fpr.sign!) }).status).toBe(201);
    } finally {
      await started.app.stop('SIGTERM');
    }
    forgedBase = { backend, story, vkey: started.vkey };
    return forgedBase;
  }
  async function auditForged(
    forge: (origin: string) => EventDraft[],
  ): Promise<{ at: number; json: Report; human: string }> {
    await app.stop('SIGTERM');
    const base = await baseForForging();
    const other = await newBackend('pglite');
    cpSync(base.backend.config.dataDir, other.config.dataDir, { recursive: true });
    const env2 = {
      SIGNET_DATA_DIR: other.config.dataDir,
      DATABASE_URL: undefined,
      SIGNET_CLOCK_FILE: base.story.clockFile,
      SIGNET_WORKERS: 'off',
    };
    let app2: RunningApp | null = null;
    try {
      const log = await openLog(other.config, {});
      const at = await log.reader.size();
      await log.writer.append(forge(base.story.origin), { recordedAt: day(0) });
      await log.close();
      app2 = await startApp(env2);
      const r = signet('audit', '--server', app2.url, '--vkey', base.vkey, '--json');
      expect(r.code).toBe(1);
      return {
        at,
        json: JSON.parse(r.out) as Report,
        human: signet('audit', '--server', app2.url, '--vkey', base.vkey).out,
      };
    } finally {
      await app2?.stop('SIGKILL');
      await other.cleanup();
    }
  }
  const signedBy = (who: string, body: Record<string, unknown>) => {
    const command = JSON.stringify({ id: `forged-${Math.random()}`, issuedAt: day(0).toISOString(), ...body });
    return { command, signature: gpg.detachSign(who, command, day(0)) };
  };

  it('catches an authorization the log appended without a valid certification', async () => {
    const { at, json, human } = await auditForged(() => [
      draftOf(
        { type: 'SigningKeyAuthorized', v: 1, data: { fingerprint: fpr.sign!, authorizedBy: [fpr.root!] } },
        `signing-key/${fpr.sign}`,
        'log',
        null,
      ),
    ]);
    expect(json).toMatchObject({ ok: false, seq: at, code: 'UNEXPECTED_EVENT' });
    expect(human).toMatch(new RegExp(`^FAILED: UNEXPECTED_EVENT: seq ${at}: a SigningKeyAuthorized by the log`));
  });

  it('catches a genuinely signed command that the rules refuse (a member removing a member)', async () => {
    const { at, json } = await auditForged((origin) => {
      const evidence = signedBy(fpr.eve!, { origin, type: 'RemoveMember', member: fpr.eve });
      return [
        draftOf(
          { type: 'MemberRemoved', v: 1, data: { fingerprint: fpr.eve! } },
          `member/${fpr.eve}`,
          fpr.eve!,
          evidence,
        ),
      ];
    });
    expect(json).toMatchObject({
      ok: false,
      seq: at,
      code: 'REFUSED_BY_RULES',
      message: expect.stringContaining('NOT_AUTHORIZED_ROLE'),
    });
  });

  it('catches events that differ from what a genuine command implies', async () => {
    const { at, json } = await auditForged((origin) => {
      const evidence = signedBy(fpr.root!, { origin, type: 'ChangeMemberRole', member: fpr.eve, role: 'leader' });
      return [
        draftOf(
          {
            type: 'MemberRoleChanged',
            v: 1,
            data: { fingerprint: fpr.eve!, role: 'management', previousRole: 'member' },
          },
          `member/${fpr.eve}`,
          fpr.root!,
          evidence,
        ),
      ];
    });
    expect(json).toMatchObject({
      ok: false,
      seq: at,
      code: 'EVENT_MISMATCH',
      message: expect.stringContaining('its data is'),
    });
  });

  it('usage errors and an unreachable server exit 2', () => {
    expect(signet('audit', '--server', 'http://127.0.0.1:1', '--vkey', vkey).code).toBe(2);
    expect(signet('audit', '--server', s.url).code).toBe(2);
    expect(signet('audit', '--vkey', vkey).code).toBe(2);
  });
});
