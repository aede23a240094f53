import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_TYPES, canonicalize } from '@signet/domain';
import { CLI_BIN, type RunningApp } from '../support/app.js';
import { type Backend, newBackend } from '../support/backends.js';
import { Gpg } from '../support/gpg.js';
import { StoryClient, day } from '../support/story.js';

// `signet command` as a person runs it: their own gpg (GNUPGHOME), the built server, the log's
// clock set far from this host's (SIGNET_CLOCK_FILE), so a command only passes when the builder
// took issuedAt from the log.

const ORIGIN = 'builder.signet.test/log';

/** A port nothing listens on (one the system just handed out and took back). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe('signet command: commands built, signed with gpg and sent', () => {
  const gpg = new Gpg();
  const work = mkdtempSync(join(tmpdir(), 'signet-builder-'));
  const story = new StoryClient(gpg, work, ORIGIN, join(work, 'clock'));
  let backend: Backend;
  let app: RunningApp;
  const fpr: Record<string, string> = {};
  const keyFile = (name: string) => {
    const file = join(work, `${name}.asc`);
    writeFileSync(file, gpg.exportKey(fpr[name]!));
    return file;
  };

  /** Runs the CLI with the test keyring as the user's GNUPGHOME (and no clock file: the host's time). */
  function signet(args: string[], env: Record<string, string | undefined> = {}) {
    const base: Record<string, string | undefined> = { ...process.env, GNUPGHOME: gpg.home, ...env };
    delete base.SIGNET_CLOCK_FILE;
    const r = spawnSync(process.execPath, [CLI_BIN, 'command', ...args], {
      env: base as NodeJS.ProcessEnv,
      encoding: 'utf8',
      cwd: work,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Sends a command signed by `signer`; expects it appended, and returns the events' types. */
  function send(signer: string, type: string, ...fields: string[]): string[] {
    const r = signet([type, ...fields, '--sign-with', fpr[signer]!, '--send', app.url]);
    expect([r.status, r.stderr]).toEqual([0, '']);
    return [...r.stdout.matchAll(/^ {2}seq \d+ (\w+)/gm)].map((m) => m[1]!);
  }

  /** A refusal or a usage error: its exit code and message, and the log did not grow. */
  async function rejected(args: string[], status: number, message: RegExp, env?: Record<string, string | undefined>) {
    const before = await story.size();
    const r = signet(args, env);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status, stderr: expect.stringMatching(message) });
    expect(await story.size()).toBe(before);
    return r;
  }

  beforeAll(async () => {
    Object.assign(
      fpr,
      gpg.genKeys(
        {
          root: ['Root (master) <root@example.org>', 'ed25519'],
          alice: ['Alice <alice@example.org>', 'ed25519'],
          eve: ['Eve <eve@example.org>', 'ed25519'],
          bob: ['Bob <bob@example.org>', 'ed25519'],
          sign: ['Eve (CODE SIGNING KEY) <eve@mybb.example>', 'ed25519'],
          sign2: ['Eve (CODE SIGNING KEY) <eve2@mybb.example>', 'ed25519'],
        },
        day(-30),
      ),
    );
    backend = await newBackend('postgres');
    story.setClock(day(0));
    const env = {
      SIGNET_DATA_DIR: backend.config.dataDir,
      DATABASE_URL: backend.config.databaseUrl,
      SIGNET_CLOCK_FILE: story.clockFile,
      SIGNET_WORKERS: 'off',
      SIGNET_ALLOW_ED25519: 'true',
    };
    ({ app } = await story.start(fpr.root!, env));
  }, 300_000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await backend?.cleanup();
    gpg.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it("GET /log/time answers the log's injected clock, and every answer carries it in signet-log-time", async () => {
    for (const at of [day(0), day(0.5), day(0)]) {
      story.setClock(at);
      const res = await fetch(`${app.url}/log/time`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ time: at.toISOString(), ms: at.getTime() });
      expect(res.headers.get('signet-log-time')).toBe(at.toISOString());
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    const refused = await fetch(`${app.url}/log/events/999999`);
    expect(refused.status).toBe(404);
    expect(refused.headers.get('signet-log-time')).toBe(day(0).toISOString());
  });

  it('builds every command type as canonical JSON the server accepts, issued at the log time', async () => {
    expect(send('root', 'add-member', 'username=Eve', 'role=member', `key=@${keyFile('eve')}`)).toEqual([
      'MemberAdded',
    ]);
    expect(send('root', 'AddMember', 'username=Alice', 'role=leader', `key=@${keyFile('alice')}`)).toEqual([
      'MemberAdded',
    ]);
    expect(send('root', 'add-member', 'username=Bob', 'role=member', `key=@${keyFile('bob')}`)).toEqual([
      'MemberAdded',
    ]);
    expect(send('root', 'change-member-role', `member=${fpr.bob}`, 'role=management')).toEqual(['MemberRoleChanged']);
    expect(send('eve', 'add-signing-key', `key=@${keyFile('sign')}`)).toEqual(['SigningKeyAdded']);
    expect(send('alice', 'authorize-signing-key', `fingerprint=${fpr.sign}`)).toEqual([
      'SigningKeyCertified',
      'SigningKeyAuthorized',
    ]);
    expect(
      send('root', 'record-announcement', `fingerprint=${fpr.sign}`, 'kind=ADDING', 'url=https://social.example/@p/1'),
    ).toEqual(['AnnouncementRecorded']);
    // Bob certifies with gpg, and Eve relays the key block again.
    gpg.certify(fpr.bob!, fpr.sign!, day(-1));
    expect(send('eve', 'update-signing-key', `key=@${keyFile('sign')}`)).toEqual(['SigningKeyCertified']);
    expect(send('bob', 'revoke-authorization', `fingerprint=${fpr.sign}`, `certifier=${fpr.bob}`)).toEqual([
      'SigningKeyCertificationRevoked',
    ]);
    expect(send('eve', 'add-signing-key', `key=@${keyFile('sign2')}`)).toEqual(['SigningKeyAdded']);
    expect(send('eve', 'retire-signing-key', `fingerprint=${fpr.sign2}`, 'reason=rotating keys')).toEqual([
      'SigningKeyRetired',
    ]);
    expect(send('root', 'revoke-signing-key', `fingerprint=${fpr.sign}`, 'reason=laptop stolen')).toEqual([
      'SigningKeyRevoked',
    ]);
    expect(send('root', 'remove-member', `member=${fpr.bob}`)).toEqual(['MemberRemoved']);

    // Every type went through the builder, each logged as canonical JSON issued at the log's time.
    const size = await story.size();
    const types = new Set<string>();
    for (let seq = 1; seq < size; seq++) {
      const { event } = await story.json<{ event: { evidence: { command: string } | null } }>(`/log/events/${seq}`);
      if (!event.evidence) continue;
      const command = JSON.parse(event.evidence.command) as { type: string; issuedAt: string; origin: string };
      expect(canonicalize(command)).toBe(event.evidence.command);
      expect([command.issuedAt, command.origin]).toEqual([day(0).toISOString(), ORIGIN]);
      types.add(command.type);
    }
    expect([...types].sort()).toEqual([...COMMAND_TYPES].sort());
  }, 120_000);

  it('refuses a bad field before signing: exit 2 naming the field and what it expects, nothing appended', async () => {
    const eve = `key=@${keyFile('eve')}`;
    const send = ['--sign-with', fpr.root!, '--send', app.url];
    await rejected(
      ['add-member', 'username=Carol', 'role=boss', eve, ...send],
      2,
      /BAD_FIELD: field "role": expected one of member, leader, management, security/,
    );
    await rejected(['add-member', 'role=member', eve, ...send], 2, /field "username" is missing: AddMember needs/);
    await rejected(
      ['add-member', 'usrname=Carol', 'role=member', eve, ...send],
      2,
      /field "usrname": AddMember has no such field; its fields are key, username, role/,
    );
    await rejected(
      ['authorize-signing-key', 'fingerprint=abc', ...send],
      2,
      /field "fingerprint": a fingerprint is 40 upper-case hex digits/,
    );
    await rejected(
      ['record-announcement', `fingerprint=${fpr.sign}`, 'kind=ADDING', 'url=ftp://x.example/1', ...send],
      2,
      /field "url": an http\(s\) URL/,
    );
    await rejected(
      ['add-signing-key', `key=@${join(work, 'missing.asc')}`, ...send],
      2,
      /field "key": cannot read .*ENOENT/,
    );
    writeFileSync(join(work, 'binary.gpg'), gpg.exportBinary(fpr.eve!));
    await rejected(
      ['add-signing-key', `key=@${join(work, 'binary.gpg')}`, ...send],
      2,
      /expected an armored OpenPGP block/,
    );
    await rejected(['add-signing-key', 'key', ...send], 2, /"key" is not a field: write name=value/);
    await rejected(['add-signing-key', `key=@${keyFile('sign')}`, 'id=x', ...send], 2, /"id" is filled in.*--id/);
    await rejected(['become-root', ...send], 2, /unknown command type "become-root"; the types are add-member, /);
    await rejected(['add-signing-key', `key=@${keyFile('sign')}`, '--frobnicate', ...send], 2, /unknown option/);
  });

  it("exits 1 with the log's code and message when the log refuses, and appends nothing", async () => {
    await rejected(
      ['authorize-signing-key', `fingerprint=${fpr.sign2}`, '--sign-with', fpr.eve!, '--send', app.url],
      1,
      /SELF_AUTHORIZATION: refused: .*own signing key/,
    );
    await rejected(
      [
        'add-member',
        'username=Eve2',
        'role=member',
        `key=@${keyFile('eve')}`,
        '--sign-with',
        fpr.root!,
        '--send',
        app.url,
      ],
      1,
      /MEMBER_EXISTS: refused: /,
    );
  });

  it('exits 2 when the log cannot be reached or gpg is missing or fails', async () => {
    const args = ['remove-member', `member=${fpr.eve}`, '--sign-with', fpr.root!];
    const closed = await closedPort();
    await rejected(
      [...args, '--send', `http://127.0.0.1:${closed}`],
      2,
      new RegExp(`UNREACHABLE: cannot reach http://127\\.0\\.0\\.1:${closed}/log/time: .*ECONNREFUSED`),
    );
    await rejected(
      [...args, '--send', `${app.url}/not-a-log`],
      2,
      /UNREACHABLE: .*\/not-a-log\/log\/time answered HTTP 404: NOT_FOUND/,
    );
    await rejected([...args, '--send', app.url], 2, /GPG_FAILED: gpg was not found on PATH/, { PATH: '/nonexistent' });
    await rejected(
      ['remove-member', `member=${fpr.eve}`, '--sign-with', 'nobody@nowhere.example', '--send', app.url],
      2,
      /GPG_FAILED: gpg --detach-sign failed .*--local-user nobody@nowhere\.example/,
    );
  });

  it('without --send writes command.json and its .asc: gpg --verify checks them, curl posts them', async () => {
    const out = join(work, 'files', 'command.json');
    mkdirSync(join(work, 'files'));
    fpr.carol = gpg.genKey('Carol <carol@example.org>', 'ed25519', day(-30));
    const ok = signet([
      'add-member',
      'username=Carol',
      'role=member',
      `key=@${keyFile('carol')}`,
      '--sign-with',
      fpr.root!,
      '--server',
      app.url,
      '-o',
      out,
    ]);
    expect([ok.status, ok.stderr]).toEqual([0, '']);
    expect(ok.stdout).toContain(`wrote ${out}`);
    expect(ok.stdout).toContain(`curl -F command=@${out} -F signature=@${out}.asc ${app.url}/commands`);
    const bytes = readFileSync(out, 'utf8');
    expect(canonicalize(JSON.parse(bytes))).toBe(bytes);
    expect(JSON.parse(bytes)).toMatchObject({ type: 'AddMember', origin: ORIGIN, issuedAt: day(0).toISOString() });
    const verified = spawnSync('gpg', ['--homedir', gpg.home, '--verify', `${out}.asc`, out], { encoding: 'utf8' });
    expect([verified.status, verified.stderr]).toEqual([0, expect.stringContaining('Good signature')]);

    const before = await story.size();
    const posted = execFileSync(
      'curl',
      ['-s', '-w', '\n%{http_code}', '-F', `command=@${out}`, '-F', `signature=@${out}.asc`, `${app.url}/commands`],
      { encoding: 'utf8' },
    );
    expect(posted.slice(posted.lastIndexOf('\n') + 1)).toBe('201');
    expect(JSON.parse(posted.slice(0, posted.lastIndexOf('\n'))).events[0].type).toBe('MemberAdded');
    expect(await story.size()).toBe(before + 1);
  });

  it("offline it needs --origin, says it uses this host's clock, and the log then judges that clock", async () => {
    const out = join(work, 'offline.json');
    const args = ['remove-member', `member=${fpr.carol}`, '--sign-with', fpr.root!, '-o', out];
    await rejected(args, 2, /give the log's origin \(--origin/);
    const r = signet([...args, '--origin', ORIGIN]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/issuedAt \S+ is this host's clock \(no --server\)/);
    expect(existsSync(`${out}.asc`)).toBe(true);
    // This host's clock is months from the log's (day 0): curl gets STALE_COMMAND, nothing appended.
    const before = await story.size();
    const posted = execFileSync(
      'curl',
      ['-s', '-F', `command=@${out}`, '-F', `signature=@${out}.asc`, `${app.url}/commands`],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(posted).code).toBe('STALE_COMMAND');
    expect(await story.size()).toBe(before);
    await rejected(
      [...args, '--origin', 'another.example/log', '--server', app.url],
      2,
      /--origin another\.example\/log, but the log at .* is builder\.signet\.test\/log/,
    );
  });

  it("publishes every command's JSON schema, from the server's zod schemas, and the package version", async () => {
    const doc = (await (await fetch(`${app.url}/docs/openapi.json`)).json()) as {
      info: { version: string };
      components: {
        schemas: Record<string, { required?: string[]; properties?: Record<string, { enum?: string[] }> }>;
      };
      paths: Record<
        string,
        { post?: { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } } }
      >;
    };
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(doc.info.version).toBe(pkg.version);
    for (const type of COMMAND_TYPES) expect(doc.components.schemas[`${type}Command`], type).toBeDefined();
    const addMember = doc.components.schemas.AddMemberCommand!;
    expect(addMember.required).toEqual(['origin', 'id', 'issuedAt', 'type', 'key', 'username', 'role']);
    expect(addMember.properties?.role?.enum).toEqual(['member', 'leader', 'management', 'security']);
    expect(doc.components.schemas.Command).toMatchObject({ discriminator: { propertyName: 'type' } });
    expect(
      doc.paths['/commands']?.post?.requestBody?.content['multipart/form-data']?.schema.properties.command,
    ).toEqual(expect.objectContaining({ allOf: [{ $ref: '#/components/schemas/Command' }] }));
  });
});
