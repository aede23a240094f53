import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApp } from '../support/app.js';
import { type Backend, newBackend } from '../support/backends.js';
import {
  canonicalize,
  decideCommand,
  decideModuleSignature,
  decidePackageSignature,
  emptyState,
  evolve,
  parseCommand,
  parseEntry,
  type EventDraft,
  type EventEnvelope,
} from '@signet/domain';
import { readPublicKey, verifyCleartext, verifyDetached } from '@signet/pgp';
import { Keyring } from '@signet/service';
import { checkInclusion, tilePathOf } from '../support/c2sp-client.js';
import { Gpg } from '../support/gpg.js';
import { StoryClient, day } from '../support/story.js';

// The whole MyBB story against the built server, with real GnuPG making every key, certification
// and signature, and the log's clock moved through SIGNET_CLOCK_FILE — never by sleeping.

const ORIGIN = 'e2e.signet.test/log';

describe('the signing protocol over HTTP with real GnuPG', () => {
  const gpg = new Gpg();
  const work = mkdtempSync(join(tmpdir(), 'signet-e2e-'));
  const story = new StoryClient(gpg, work, ORIGIN, join(work, 'clock'));
  const clockFile = story.clockFile;
  let backend: Backend;
  let app: RunningApp;
  const fpr: Record<string, string> = {};
  const setClock = (at: Date) => story.setClock(at);
  const size = () => story.size();
  const post = (signer: string, body: Record<string, unknown>, opts?: Parameters<StoryClient['post']>[2]) =>
    story.post(signer, body, opts) as { status: number; body: any; bytes: string };

  /** A refusal: its status and code, and the log did not grow. */
  async function refused(
    call: () => { status: number; body: { code: string } } | Promise<{ status: number; body: { code: string } }>,
    status: number,
    code: string,
  ) {
    const before = await size();
    const res = await call();
    expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
    expect(await size()).toBe(before);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  }

  const publish = (version: string, signedAt: Date, content = `mybb ${version}`) =>
    story.publish(fpr.sign!, 'mybb', version, signedAt, content);

  async function keyStatus(): Promise<string> {
    const state = (await (await fetch(`${app.url}/trust/state`)).json()) as {
      signingKeys: { fingerprint: string; status: string }[];
    };
    return state.signingKeys.find((k) => k.fingerprint === fpr.sign)!.status;
  }

  beforeAll(async () => {
    Object.assign(
      fpr,
      gpg.genKeys(
        {
          root: 'Root (master) <root@example.org>',
          alice: 'Alice <alice@example.org>',
          eve: 'Eve <eve@example.org>',
          bob: 'Bob <bob@example.org>',
          // Never a member: an unknown signer and a truncated key, which the log refuses before
          // its policy (RSA-4096) would judge the key, so a quick Ed25519 key does.
          mallory: ['Mallory <mallory@example.org>', 'ed25519'],
          weak: ['Weak <weak@example.org>', 'rsa2048'],
          sign: 'Eve (CODE SIGNING KEY) <eve@mybb.example>',
          nocomment: 'Eve <eve2@mybb.example>',
          sign2: 'Eve (CODE SIGNING KEY) <eve3@mybb.example>',
          sign3: 'Eve (CODE SIGNING KEY) <eve4@mybb.example>',
        },
        day(-30),
      ),
    );
    backend = await newBackend('postgres');
    setClock(day(0));
    // Workers off: this story records its announcements by command (a log without channels);
    // test/e2e/workers.e2e.test.ts tells it with the workers posting them.
    const env = {
      SIGNET_DATA_DIR: backend.config.dataDir,
      DATABASE_URL: backend.config.databaseUrl,
      SIGNET_CLOCK_FILE: clockFile,
      SIGNET_WORKERS: 'off',
    };
    ({ app } = await story.start(fpr.root!, env));
  }, 300_000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await backend?.cleanup();
    gpg.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('root adds Alice (leader), Eve (member) and Bob (management)', () => {
    for (const [who, role] of [
      ['alice', 'leader'],
      ['eve', 'member'],
      ['bob', 'management'],
    ] as const) {
      const res = post(fpr.root!, {
        type: 'AddMember',
        key: gpg.exportKey(fpr[who]!),
        username: who[0]!.toUpperCase() + who.slice(1),
        role,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.events.map((e: { type: string }) => e.type)).toEqual(['MemberAdded']);
    }
  });

  it('Eve adds her signing key (signed by her own key): pending', async () => {
    gpg.certify(fpr.eve!, fpr.sign!, day(0));
    const res = post(fpr.eve!, { type: 'AddSigningKey', key: gpg.exportKey(fpr.sign!) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.events.map((e: { type: string }) => e.type)).toEqual(['SigningKeyAdded']);
    expect(await keyStatus()).toBe('pending');
  });

  it('Eve cannot authorize it herself', async () => {
    await refused(
      () => post(fpr.eve!, { type: 'AuthorizeSigningKey', fingerprint: fpr.sign }),
      403,
      'SELF_AUTHORIZATION',
    );
  });

  it('Alice certifies it with gpg --quick-sign-key: authorized; the ADDING announcement is recorded', async () => {
    gpg.certify(fpr.alice!, fpr.sign!, day(0));
    const res = post(fpr.alice!, { type: 'UpdateSigningKey', key: gpg.exportKey(fpr.sign!) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.events.map((e: { type: string }) => e.type)).toEqual([
      'SigningKeyCertified',
      'SigningKeyAuthorized',
    ]);
    expect(await keyStatus()).toBe('awaiting-announcement');
    const ann = post(fpr.bob!, {
      type: 'RecordAnnouncement',
      fingerprint: fpr.sign,
      kind: 'ADDING',
      url: 'https://social.example/@mybbsecurity/1',
    });
    expect(ann.status).toBe(201);
    const grouped = fpr.sign!.replace(/(.{4})(?!$)/g, '$1 ');
    expect(ann.body.events[0].data.text).toBe(`ADDING Package Signing Key of ~Eve (${grouped}).`);
    expect(await keyStatus()).toBe('waiting');
  });

  it("Eve's signature on day 10 is refused, on day 15 accepted", async () => {
    setClock(day(10));
    await refused(() => publish('1.8.1', day(10)), 422, 'KEY_NOT_YET_ACTIVE');
    // the artifact is archived once its signature verifies, before the rules decide (and append)
    const sha512 = (text: string) => createHash('sha512').update(text).digest('hex');
    expect((await fetch(`${app.url}/artifacts/${sha512('mybb 1.8.1')}`)).status).toBe(200);
    await refused(
      () => story.publish(fpr.mallory!, 'mybb', '1.8.1', day(10), 'mybb by mallory'),
      403,
      'UNKNOWN_SIGNER',
    );
    expect((await fetch(`${app.url}/artifacts/${sha512('mybb by mallory')}`)).status).toBe(404);
    setClock(day(15));
    expect(await keyStatus()).toBe('active');
    const res = await publish('1.8.2', day(15));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });

  it('publishes a FreePBX module.sig made with gpg --clearsign; refuses a SHA-1 one', async () => {
    const body = [
      ';################################################',
      ';#        FreePBX Module Signature File         #',
      ';################################################',
      '',
      '[config]',
      'version=1',
      'hash=sha256',
      `signedwith=${fpr.sign}`,
      "signedby='sign.php'",
      'repo=standard',
      '[hashes]',
      `module.xml = ${'a'.repeat(64)}`,
      `Backup.class.php = ${'b'.repeat(64)}`,
      ';# End',
      '',
    ].join('\n');
    const post = async (sig: string) => {
      const form = new FormData();
      form.append('modulesig', new Blob([sig]), 'module.sig');
      const r = await fetch(`${app.url}/modules/backup/16.0.1/signatures`, { method: 'POST', body: form });
      return {
        status: r.status,
        body: (await r.json()) as { code: string; event: { data: { hashes: Record<string, string> } } },
      };
    };
    const ok = await post(gpg.clearSign(fpr.sign!, body, day(15)));
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.event.data.hashes).toEqual({ 'module.xml': 'a'.repeat(64), 'Backup.class.php': 'b'.repeat(64) });
    await refused(() => post(gpg.clearSign(fpr.sign!, body.replace('1.', '2.'), day(15), 'SHA1')), 422, 'SHA1_REFUSED');
    await refused(
      () => post(gpg.clearSign(fpr.sign!, body.replace('hash=sha256', 'hash=md5'), day(15))),
      422,
      'UNSUPPORTED_MODULE_SIG',
    );
    await refused(() => post(gpg.clearSign(fpr.eve!, body, day(15))), 403, 'UNKNOWN_SIGNER');
    const listed = (await (await fetch(`${app.url}/modules/backup/signatures`)).json()) as {
      signatures: { version: string; valid: boolean }[];
    };
    expect(listed.signatures.map((s) => [s.version, s.valid])).toEqual([['16.0.1', true]]);
  });

  /** POST /verify of `content` with a signature by the signing key made at `signedAt`. */
  const verify = async (content: string, signedAt = day(15), signedContent = content) => {
    const form = new FormData();
    form.append('signature', new Blob([gpg.detachSign(fpr.sign!, signedContent, signedAt)]), 'pkg.zip.asc');
    form.append('artifact', new Blob([content]), 'pkg.zip');
    const r = await fetch(`${app.url}/verify`, { method: 'POST', body: form });
    expect(r.status).toBe(200);
    return (await r.json()) as { valid: boolean; code: string | null; reasons: string[] };
  };

  it('verifies an artifact and signature against the log: the very signature it published', async () => {
    expect(await verify('mybb 1.8.2')).toMatchObject({ valid: true, code: null });
    const tampered = await verify('mybb 1.8.2 with a backdoor', day(15), 'mybb 1.8.2');
    expect(tampered).toMatchObject({ valid: false, code: 'BAD_SIGNATURE' });
    expect(tampered.reasons.join()).toContain('BAD_SIGNATURE');
    const unpublished = await verify('never published');
    expect(unpublished).toMatchObject({ valid: false, code: 'NOT_PUBLISHED' });
    expect(unpublished.reasons.join()).toContain('never published');
    // the same artifact, signed again by the same key: in the waiting period (the log refused such
    // a signature on day 10), and later but never published
    expect(await verify('mybb 1.8.2', day(10))).toMatchObject({ valid: false, code: 'KEY_NOT_YET_ACTIVE' });
    expect(await verify('mybb 1.8.2', day(15.5))).toMatchObject({ valid: false, code: 'NOT_PUBLISHED' });
  });

  it('Alice leaves: the key is insufficiently authorized until Bob re-certifies it', async () => {
    const res = post(fpr.bob!, { type: 'RemoveMember', member: fpr.alice });
    expect(res.body.events.map((e: { type: string }) => e.type)).toEqual([
      'MemberRemoved',
      'SigningKeyAuthorizationLost',
    ]);
    expect(await keyStatus()).toBe('insufficient-authorizations');
    await refused(() => publish('1.8.3', day(15)), 422, 'KEY_NOT_AUTHORIZED');
    gpg.certify(fpr.bob!, fpr.sign!, day(15));
    const again = post(fpr.bob!, { type: 'UpdateSigningKey', key: gpg.exportKey(fpr.sign!) });
    expect(again.body.events.map((e: { type: string }) => e.type)).toEqual([
      'SigningKeyCertified',
      'SigningKeyAuthorized',
    ]);
    expect(await keyStatus()).toBe('active');
  });

  it("Alice's gpg --quick-revoke-sig, sent after she left, is still recorded as evidence", async () => {
    gpg.revokeCertification(fpr.alice!, fpr.sign!, day(15));
    const res = post(fpr.eve!, { type: 'UpdateSigningKey', key: gpg.exportKey(fpr.sign!) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(
      res.body.events.map((e: { type: string; data: Record<string, unknown> }) => [e.type, e.data.certifier]),
    ).toEqual([['SigningKeyCertificationRevoked', fpr.alice]]);
    expect(await keyStatus()).toBe('active');
  });

  it('a certification whose signature does not verify is refused (BAD_CERTIFICATION)', async () => {
    const block = (await readPublicKey(gpg.exportKey(fpr.sign!))).key;
    const cert = block.users
      .flatMap((u) => u.otherCertifications)
      .find((c) => fpr.bob!.endsWith(c.issuerKeyID.toHex().toUpperCase()))! as unknown as {
      signedHashValue: Uint8Array;
    };
    cert.signedHashValue = Uint8Array.from(cert.signedHashValue, (b) => b ^ 0xff);
    await refused(() => post(fpr.eve!, { type: 'UpdateSigningKey', key: block.armor() }), 400, 'BAD_CERTIFICATION');
  });

  it('gpg --quick-revoke-sig removes an authorization; certifying again restores it', async () => {
    setClock(day(16));
    gpg.revokeCertification(fpr.bob!, fpr.sign!, day(16));
    const revoked = post(fpr.bob!, { type: 'UpdateSigningKey', key: gpg.exportKey(fpr.sign!) });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(201);
    expect(revoked.body.events.map((e: { type: string }) => e.type)).toEqual([
      'SigningKeyCertificationRevoked',
      'SigningKeyAuthorizationLost',
    ]);
    expect(await keyStatus()).toBe('insufficient-authorizations');
    await refused(() => post(fpr.bob!, { type: 'UpdateSigningKey', key: gpg.exportKey(fpr.sign!) }), 409, 'NO_CHANGE');
    const again = post(fpr.bob!, { type: 'AuthorizeSigningKey', fingerprint: fpr.sign });
    expect(again.body.events.map((e: { type: string }) => e.type)).toEqual([
      'SigningKeyCertified',
      'SigningKeyAuthorized',
    ]);
    expect(await keyStatus()).toBe('active');
  });

  it('retiring keeps earlier signatures; a compromise revocation from day 20 invalidates the day-21 signature only', async () => {
    setClock(day(21));
    expect((await publish('1.8.4', day(21))).status).toBe(201);
    setClock(day(22));
    const retire = post(fpr.eve!, { type: 'RetireSigningKey', fingerprint: fpr.sign, reason: 'rotating keys' });
    expect(retire.status).toBe(201);
    await refused(() => publish('1.8.5', day(22)), 422, 'KEY_RETIRED');
    let sigs = (await (await fetch(`${app.url}/packages/mybb/signatures`)).json()) as {
      signatures: { version: string; valid: boolean }[];
    };
    expect(sigs.signatures.map((s) => [s.version, s.valid])).toEqual([
      ['1.8.2', true],
      ['1.8.4', true],
    ]);

    await refused(
      () =>
        post(fpr.eve!, {
          type: 'RevokeSigningKey',
          fingerprint: fpr.sign,
          since: day(20).toISOString(),
          reason: 'stolen',
        }),
      403,
      'NOT_AUTHORIZED_ROLE',
    );
    const revoke = post(fpr.root!, {
      type: 'RevokeSigningKey',
      fingerprint: fpr.sign,
      since: day(20).toISOString(),
      reason: 'laptop stolen',
    });
    expect(revoke.status, JSON.stringify(revoke.body)).toBe(201);
    sigs = (await (await fetch(`${app.url}/packages/mybb/signatures`)).json()) as {
      signatures: { version: string; valid: boolean }[];
    };
    expect(sigs.signatures.map((s) => [s.version, s.valid])).toEqual([
      ['1.8.2', true],
      ['1.8.4', false],
    ]);
    expect(await keyStatus()).toBe('revoked');
    // POST /verify agrees with the listing; a new signature backdated before the compromise, by
    // whoever holds the stolen key, was never published
    expect(await verify('mybb 1.8.2')).toMatchObject({ valid: true });
    expect(await verify('mybb 1.8.4', day(21))).toMatchObject({ valid: false, code: 'KEY_REVOKED' });
    expect(await verify('mybb 1.8.9 with a backdoor', day(19))).toMatchObject({ valid: false, code: 'NOT_PUBLISHED' });
  });

  it("the key's owner revokes it with gpg --gen-revoke: compromised, or no longer used", async () => {
    setClock(day(23));
    for (const k of ['sign2', 'sign3']) {
      gpg.certify(fpr.eve!, fpr[k]!, day(23));
      gpg.certify(fpr.bob!, fpr[k]!, day(23));
      const added = post(fpr.eve!, { type: 'AddSigningKey', key: gpg.exportKey(fpr[k]!) });
      expect(added.body.events.map((e: { type: string }) => e.type)).toEqual([
        'SigningKeyAdded',
        'SigningKeyCertified',
        'SigningKeyAuthorized',
      ]);
    }
    setClock(day(24));
    // the certificate as gpg writes it, in RevokeSigningKey's "revocation"; someone else's, or garbage, is refused
    const compromised = gpg.genRevoke(fpr.sign2!, 1, 'laptop stolen', day(24));
    await refused(
      () => post(fpr.eve!, { type: 'RevokeSigningKey', fingerprint: fpr.sign3, revocation: compromised }),
      400,
      'BAD_REVOCATION',
    );
    await refused(
      () => post(fpr.eve!, { type: 'RevokeSigningKey', fingerprint: fpr.sign2, revocation: 'garbage' }),
      400,
      'BAD_REVOCATION',
    );
    await refused(
      () => post(fpr.mallory!, { type: 'RevokeSigningKey', fingerprint: fpr.sign2, revocation: compromised }),
      403,
      'UNKNOWN_SIGNER',
    );
    const revoked = post(fpr.eve!, { type: 'RevokeSigningKey', fingerprint: fpr.sign2, revocation: compromised });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(201);
    expect(revoked.body.events.map((e: { type: string; data: unknown }) => [e.type, e.data])).toEqual([
      [
        'SigningKeyRevoked',
        { fingerprint: fpr.sign2, since: day(24).toISOString(), reason: 'key compromised: laptop stolen' },
      ],
    ]);
    // "no longer used", imported into the keyring and the key exported again, as UpdateSigningKey
    gpg.importKey(gpg.genRevoke(fpr.sign3!, 3, 'moved to a new key', day(24)));
    const retired = post(fpr.eve!, { type: 'UpdateSigningKey', key: gpg.exportKey(fpr.sign3!) });
    expect(retired.status, JSON.stringify(retired.body)).toBe(201);
    expect(retired.body.events.map((e: { type: string; data: unknown }) => [e.type, e.data])).toEqual([
      ['SigningKeyRetired', { fingerprint: fpr.sign3, reason: 'key no longer used: moved to a new key' }],
    ]);
    const state = await story.json<{ signingKeys: { fingerprint: string; status: string }[] }>('/trust/state');
    expect(
      state.signingKeys
        .filter((k) => k.fingerprint === fpr.sign2 || k.fingerprint === fpr.sign3)
        .map((k) => k.status)
        .sort(),
    ).toEqual(['retired', 'revoked']);
    await refused(
      () => post(fpr.eve!, { type: 'UpdateSigningKey', key: gpg.exportKey(fpr.sign3!) }),
      422,
      'KEY_RETIRED',
    );
  });

  it('lists the keys as raw.txt and serves the key history with inclusion proofs', async () => {
    const raw = await (await fetch(`${app.url}/keys/raw.txt`)).text();
    const grouped = fpr.sign!.replace(/(.{4})(?!$)/g, '$1 ');
    expect(raw).toContain(
      `## ACTIVE KEYS BEGIN\n## ACTIVE KEYS END\n## REMOVED KEYS BEGIN\nUSER: Eve\nFINGERPRINT: ${grouped}\nADD_DATE: 2026-01-01\nADD_ANNOUNCEMENT: https://social.example/@mybbsecurity/1\nREMOVE_DATE: 2026-01-23\n`,
    );
    expect(raw).toContain('-----BEGIN PGP PUBLIC KEY BLOCK-----');
    const earlier = await (await fetch(`${app.url}/keys/raw.txt?size=12`)).text();
    expect(earlier).toContain(`## ACTIVE KEYS BEGIN\nUSER: Eve\nFINGERPRINT: ${grouped}`);

    const history = (await (await fetch(`${app.url}/keys/${fpr.sign}/history`)).json()) as {
      treeSize: number;
      rootHash: string;
      events: { event: { seq: number; type: string }; leafHash: string; inclusionProof: string[] }[];
    };
    expect(history.events.map((e) => e.event.type)).toEqual([
      'SigningKeyAdded',
      'SigningKeyCertified',
      'SigningKeyAuthorized',
      'AnnouncementRecorded',
      'PackageSignaturePublished',
      'ModuleSignaturePublished',
      'SigningKeyAuthorizationLost',
      'SigningKeyCertified',
      'SigningKeyAuthorized',
      'SigningKeyCertificationRevoked',
      'SigningKeyCertificationRevoked',
      'SigningKeyAuthorizationLost',
      'SigningKeyCertified',
      'SigningKeyAuthorized',
      'PackageSignaturePublished',
      'SigningKeyRetired',
      'SigningKeyRevoked',
    ]);
    for (const e of history.events) {
      const proof = e.inclusionProof.map((p) => Buffer.from(p, 'base64'));
      expect(
        checkInclusion(
          e.event.seq,
          history.treeSize,
          Buffer.from(e.leafHash, 'base64'),
          proof,
          Buffer.from(history.rootHash, 'base64'),
        ),
      ).toBe(true);
    }
    expect((await fetch(`${app.url}/keys/nothex/history`)).status).toBe(400);

    // the same listing for people
    const home = await fetch(`${app.url}/`);
    expect(home.headers.get('content-type')).toContain('text/html');
    const html = await home.text();
    expect(html).toContain('<meta name="viewport"');
    expect(html).toContain(grouped);
    expect(html).toContain('https://social.example/@mybbsecurity/1');
    const keyPage = await (await fetch(`${app.url}/keys/${fpr.sign}`)).text();
    expect(keyPage).toContain('Package Signing Key of ~Eve');
    expect(keyPage).toContain('compromised since 2026-01-21T00:00:00.000Z');
    expect(keyPage).toContain('-----BEGIN PGP PUBLIC KEY BLOCK-----');
    expect((await fetch(`${app.url}/keys/${'0'.repeat(40)}`)).status).toBe(404);
    expect((await fetch(`${app.url}/keys/${'0'.repeat(40)}/history`)).status).toBe(404);
  });

  it('answers every kind of bad input with a typed 4xx, appends nothing and stays up', async () => {
    const json = (body: unknown) =>
      fetch(`${app.url}/commands`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { code: string } }));
    const goodSig = gpg.detachSign(fpr.bob!, 'x', story.now);
    await refused(() => json({ command: '{"not json', signature: goodSig }), 400, 'BAD_COMMAND');
    await refused(
      () => post(fpr.bob!, { type: 'RemoveMember', member: fpr.eve }, { origin: 'other.example/log' }),
      422,
      'WRONG_ORIGIN',
    );
    await refused(
      () =>
        post(
          fpr.bob!,
          { type: 'RemoveMember', member: fpr.eve },
          { issuedAt: new Date(story.now.getTime() - 3_600_000) },
        ),
      422,
      'STALE_COMMAND',
    );
    await refused(
      () =>
        post(
          fpr.bob!,
          { type: 'RemoveMember', member: fpr.eve },
          { issuedAt: new Date(story.now.getTime() + 3_600_000) },
        ),
      422,
      'STALE_COMMAND',
    );
    // the same id again: same bytes replay the first result, other bytes are refused
    const first = post(fpr.bob!, { type: 'ChangeMemberRole', member: fpr.eve, role: 'leader' }, { id: 'fixed-id' });
    expect(first.status).toBe(201);
    const before = await size();
    const replay = post(fpr.bob!, {}, { raw: first.bytes });
    expect(replay.status).toBe(200);
    expect(replay.body.replayed).toBe(true);
    expect(await size()).toBe(before);
    await refused(
      () => post(fpr.bob!, { type: 'ChangeMemberRole', member: fpr.eve, role: 'member' }, { id: 'fixed-id' }),
      409,
      'ID_REUSED',
    );
    // a replay is answered only to the sender's signature over the bytes: not a missing, garbage or foreign one
    await refused(() => json({ command: first.bytes, signature: '' }), 400, 'BAD_SIGNATURE');
    await refused(() => json({ command: first.bytes, signature: 'garbage' }), 400, 'BAD_SIGNATURE');
    await refused(
      () => json({ command: first.bytes, signature: gpg.detachSign(fpr.eve!, first.bytes, story.now) }),
      400,
      'BAD_SIGNATURE',
    );
    await refused(
      () => json({ command: first.bytes, signature: gpg.detachSign(fpr.mallory!, first.bytes, story.now) }),
      400,
      'BAD_SIGNATURE',
    );
    await refused(
      () => json({ command: first.bytes, signature: gpg.detachSign(fpr.bob!, 'other bytes', story.now) }),
      400,
      'BAD_SIGNATURE',
    );
    // signatures: truncated, garbage, unknown signer, SHA-1
    const cmd = JSON.stringify({
      origin: ORIGIN,
      id: 'sig-test',
      issuedAt: story.now.toISOString(),
      type: 'RemoveMember',
      member: fpr.eve,
    });
    const sig = gpg.detachSign(fpr.bob!, cmd, story.now);
    await refused(() => json({ command: cmd, signature: sig.slice(0, sig.length / 2) }), 400, 'BAD_SIGNATURE');
    await refused(
      () => json({ command: cmd, signature: '-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n' }),
      400,
      'BAD_SIGNATURE',
    );
    await refused(() => json({ command: cmd, signature: 'garbage' }), 400, 'BAD_SIGNATURE');
    await refused(
      () => json({ command: cmd, signature: gpg.detachSign(fpr.bob!, `${cmd} `, story.now) }),
      400,
      'BAD_SIGNATURE',
    );
    await refused(() => post(fpr.mallory!, { type: 'RemoveMember', member: fpr.eve }), 403, 'UNKNOWN_SIGNER');
    await refused(
      () => post(fpr.bob!, { type: 'RemoveMember', member: fpr.eve }, { digest: 'SHA1' }),
      422,
      'SHA1_REFUSED',
    );
    // keys: RSA-2048, truncated armor, a signing key without the CODE SIGNING KEY comment
    await refused(
      () => post(fpr.root!, { type: 'AddMember', key: gpg.exportKey(fpr.weak!), username: 'Weak', role: 'member' }),
      422,
      'WEAK_KEY',
    );
    const armored = gpg.exportKey(fpr.mallory!);
    await refused(
      () =>
        post(fpr.root!, {
          type: 'AddMember',
          key: armored.slice(0, armored.length - 200),
          username: 'Mal',
          role: 'member',
        }),
      400,
      'BAD_KEY',
    );
    await refused(
      () => post(fpr.eve!, { type: 'AddSigningKey', key: gpg.exportKey(fpr.nocomment!) }),
      422,
      'MISSING_USER_ID',
    );
    // sizes and shapes
    await refused(() => json({ command: 'x'.repeat(300_000), signature: goodSig }), 413, 'TOO_LARGE');
    // Beyond the body limit the server answers 413 at once and may close the connection while
    // the client is still writing (the client then sees EPIPE or a reset instead of the answer).
    const big = await fetch(`${app.url}/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'x'.repeat(2_000_000), signature: goodSig }),
    }).then(
      (r) => r.status,
      (error: Error & { cause?: { code?: string } }) => error.cause?.code ?? error.message,
    );
    expect([413, 'EPIPE', 'ECONNRESET']).toContain(big);
    await refused(() => json({}), 400, 'BAD_REQUEST');
    const raw = (path: string, type: string, body: string) =>
      fetch(`${app.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { code: string },
      }));
    await refused(() => raw('/commands', 'application/json', '{"command": '), 400, 'BAD_REQUEST');
    await refused(() => raw('/commands', 'multipart/form-data; boundary=zz', 'garbage'), 400, 'BAD_REQUEST');
    await refused(
      () =>
        raw(
          '/commands',
          'multipart/form-data; boundary=zz',
          '--zz\r\nContent-Disposition: form-data; name="command"; filename="c"\r\n\r\nabc',
        ),
      400,
      'BAD_REQUEST',
    );
    await refused(
      () =>
        raw(
          '/packages/mybb/1.0/signatures',
          'multipart/form-data; boundary=zz',
          '--zz\r\nContent-Disposition: form-data; name="artifact"; filename="a"\r\n\r\nabc',
        ),
      400,
      'BAD_REQUEST',
    );
    await refused(() => raw('/verify', 'multipart/form-data; boundary=zz', 'garbage'), 400, 'BAD_REQUEST');
    await refused(
      async () => {
        const r = await fetch(`${app.url}/packages/mybb/1.0/signatures`, { method: 'POST', body: 'x' });
        return { status: r.status, body: (await r.json()) as { code: string } };
      },
      400,
      'BAD_REQUEST',
    );
  });

  it('documents every route with its error codes in OpenAPI at /docs', async () => {
    expect((await fetch(`${app.url}/docs`)).status).toBe(200);
    const doc = (await (await fetch(`${app.url}/docs/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/',
        '/artifacts/{sha512}',
        '/announcements.atom',
        '/announcements/{seq}',
        '/archive/{sha256}',
        '/outbox',
        '/keys/{fingerprint}',
        '/keys/{fingerprint}.asc',
        '/people/{fingerprint}',
        '/packages/{name}',
        '/modules/{name}',
        '/search',
        '/commands',
        '/healthz',
        '/keys',
        '/keys/raw.txt',
        '/keys/{fingerprint}/history',
        '/log/checkpoint',
        '/log/checkpoint/cosigned',
        '/log/cosignature',
        '/log/events/{seq}',
        '/log/proof/consistency',
        '/log/proof/inclusion',
        '/log/tile/{path}',
        '/log/time',
        '/log/verifier-key',
        '/metrics',
        '/modules/{name}/signatures',
        '/modules/{name}/{version}/signatures',
        '/packages/{name}/signatures',
        '/packages/{name}/{version}/signatures',
        '/readyz',
        '/trust/snapshot',
        '/trust/state',
        '/verify',
      ].sort(),
    );
    const commands = JSON.stringify(doc.paths['/commands']!.post!.responses);
    for (const code of ['SELF_AUTHORIZATION', 'STALE_COMMAND', 'WRONG_ORIGIN', 'SHA1_REFUSED', 'WEAK_KEY', 'ID_REUSED'])
      expect(commands).toContain(code);
  });

  it('replays every decision from the log alone (entry bundles) and reaches exactly the logged events', async () => {
    const total = await size();
    const entries: EventEnvelope[] = [];
    for (let t = 0; t * 256 < total; t++) {
      const width = Math.min(256, total - t * 256);
      const bundle = Buffer.from(
        await (await fetch(`${app.url}/log/${tilePathOf('entries', t, width)}`)).arrayBuffer(),
      );
      for (let at = 0; at < bundle.length; ) {
        const len = bundle.readUInt16BE(at);
        entries.push(parseEntry(bundle.subarray(at + 2, at + 2 + len), entries.length));
        at += 2 + len;
      }
    }
    const state = emptyState();
    const keyring = new Keyring();
    const same = (drafts: EventDraft[], logged: EventEnvelope[]) =>
      expect(drafts.map((d) => canonicalize(d))).toEqual(
        logged.map(({ type, v, stream, actor, data, evidence }) =>
          canonicalize({ type, v, stream, actor, data, evidence }),
        ),
      );
    let i = 0;
    while (i < entries.length) {
      const e = entries[i]!;
      const now = new Date(e.recordedAt);
      let drafts: EventDraft[];
      if (e.type === 'LogCreated') {
        drafts = [{ type: e.type, v: e.v, stream: e.stream, actor: e.actor, data: e.data, evidence: e.evidence }];
      } else if (e.evidence) {
        const command = parseCommand(e.evidence.command);
        const actors = await keyring.actors(state);
        const sig = await verifyDetached(new TextEncoder().encode(e.evidence.command), e.evidence.signature, actors);
        const key = await keyring.commandKey(state, command);
        drafts = decideCommand(state, { command, signer: sig.signer, evidence: e.evidence, key }, now);
      } else if (e.type === 'PackageSignaturePublished') {
        drafts = decidePackageSignature(state, e.data as never, now);
      } else if (e.type === 'ModuleSignaturePublished') {
        const data = e.data as { module: string; version: string; moduleSig: string };
        const sig = await verifyCleartext(data.moduleSig, await keyring.signingKeys(state));
        drafts = decideModuleSignature(
          state,
          {
            module: data.module,
            version: data.version,
            signer: sig.signer,
            signatureCreated: sig.created,
            text: sig.text,
            moduleSig: data.moduleSig,
          },
          now,
        );
      } else {
        throw new Error(`seq ${e.seq}: ${e.type} is not implied by any command`);
      }
      const logged = entries.slice(i, i + drafts.length);
      same(drafts, logged);
      for (const l of logged) evolve(state, l);
      i += drafts.length;
    }
    expect(state.size).toBe(total);
  });

  it('serves the trust state at an older size', async () => {
    const res = await fetch(`${app.url}/trust/state?size=4`);
    const state = (await res.json()) as { treeSize: number; members: unknown[] };
    expect(state.treeSize).toBe(4);
    expect(state.members).toHaveLength(3);
    expect((await fetch(`${app.url}/trust/state?size=999999`)).status).toBe(404);
  });
});
