import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  type DomainEvent,
  type EventDraft,
  type EventOf,
  type EventType,
  canonicalBytes,
  draftOf,
  parseEntry,
  sealEvent,
} from '@signet/domain';

// The log is untrusted input to an auditor: every leaf is parsed by its event type's schema.

const ALICE = 'A11CEA11CEA11CEA11CEA11CEA11CEA11CEA11CE';
const EVE = 'E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0';
const SIGN = 'FEEDDEAFABBABEADBABEFACEDEADBEEFCEDECAFE';
const AT = '2026-11-24T10:00:00.000Z';
const KEY = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxsFNBGd\n-----END PGP PUBLIC KEY BLOCK-----\n';

/** One event of every type, as the decisions write it (a missing type is a compile error). */
/** The data of one event of every type, as the decisions write it (a missing type is a compile error). */
const DATA: { readonly [T in EventType]: EventOf<T>['data'] } = {
  LogCreated: {
    origin: 'signet.example/log',
    verifierKey: 'signet.example/log+1234abcd+AQ',
    policy: { ...DEFAULT_POLICY, rootKeys: [{ fingerprint: ALICE, key: KEY }] },
  },
  MemberAdded: { fingerprint: EVE, username: 'Eve', role: 'member', key: KEY },
  MemberRoleChanged: { fingerprint: EVE, role: 'leader', previousRole: 'member' },
  MemberRemoved: { fingerprint: EVE },
  SigningKeyAdded: {
    fingerprint: SIGN,
    owner: EVE,
    username: 'Eve',
    key: KEY,
    algorithm: 'rsa',
    bits: 4096,
    userIds: ['Eve (CODE SIGNING KEY) <eve@example.org>'],
  },
  SigningKeyCertified: { fingerprint: SIGN, certifier: ALICE, via: 'certification', certifiedAt: AT },
  SigningKeyCertificationRevoked: { fingerprint: SIGN, certifier: ALICE, via: 'command' },
  SigningKeyAuthorized: { fingerprint: SIGN, authorizedBy: [ALICE] },
  SigningKeyAuthorizationLost: { fingerprint: SIGN, valid: 0, required: 1, reason: 'Alice left the team' },
  AnnouncementRecorded: { fingerprint: SIGN, kind: 'ADDING', url: 'https://community.example/t/1', text: 'ADDING …' },
  SigningKeyRetired: { fingerprint: SIGN, reason: 'retired' },
  SigningKeyRevoked: { fingerprint: SIGN, since: AT, reason: 'key compromised' },
  PackageSignaturePublished: {
    package: 'example',
    version: '1.0.0',
    artifactSha512: 'ab'.repeat(64),
    artifactSize: 1234,
    signer: SIGN,
    signatureCreated: AT,
    signature: '-----BEGIN PGP SIGNATURE-----\n\nwsFz\n-----END PGP SIGNATURE-----\n',
  },
  ModuleSignaturePublished: {
    module: 'core',
    version: '16.0.1',
    signer: SIGN,
    signatureCreated: AT,
    hashes: { 'module.xml': 'cd'.repeat(32) },
    moduleSig: '-----BEGIN PGP SIGNED MESSAGE-----\n…',
  },
  AnnouncementPosted: {
    fingerprint: SIGN,
    kind: 'SECURITY',
    channel: 'atom',
    url: 'https://log.example/announcements/7',
    text: 'SECURITY NOTICE: …',
    cause: 7,
  },
  AnnouncementFailed: {
    fingerprint: SIGN,
    kind: 'REMOVING',
    channel: 'webhook',
    text: 'REMOVING …',
    error: 'HTTP 500',
    attempts: 5,
    cause: 9,
  },
  ArchiveSnapshotTaken: {
    treeSize: 12,
    listing: 'ef'.repeat(32),
    raw: '01'.repeat(32),
    keys: { [SIGN]: '23'.repeat(32) },
    triggers: [
      { url: 'https://web.archive.org/save/https://log.example/keys', ok: true, status: 200, error: null },
      { url: 'https://archive.example/submit', ok: false, status: null, error: 'connection refused' },
    ],
    cause: 11,
  },
  SigningKeyActivated: { fingerprint: SIGN, activeFrom: AT },
  ContinuityAlertRaised: { fingerprint: SIGN, username: 'Eve', valid: 0, required: 1, reason: 'Alice left', cause: 8 },
};

/** The event of a type with its sample data. */
const SAMPLES = Object.fromEntries(Object.entries(DATA).map(([type, data]) => [type, { type, v: 1, data }])) as {
  readonly [T in EventType]: EventOf<T>;
};

function draftFor(event: DomainEvent): EventDraft {
  // A command's event carries its evidence and its signer; the log's own, neither.
  if (event.type !== 'MemberAdded') return draftOf(event, `stream/${event.type}`, 'log', null);
  return draftOf(event, `member/${EVE}`, ALICE, { command: '{"id":"c1","type":"AddMember"}', signature: 'wsFz…' });
}

const sealed = (draft: EventDraft, seq = 5) => sealEvent(draft, seq, new Date(AT));

/** The canonical leaf of an envelope changed by `change` (so only the schema can refuse it). */
function tampered(type: EventType, change: (envelope: Record<string, unknown>) => void): Uint8Array {
  const envelope: Record<string, unknown> = JSON.parse(JSON.stringify(sealed(draftFor(SAMPLES[type])).envelope));
  change(envelope);
  return canonicalBytes(envelope);
}

function refusal(entry: Uint8Array): { code: string; message: string } {
  try {
    parseEntry(entry, 5);
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message };
  }
  throw new Error('the entry was accepted');
}

/** The message refusing the tampered leaf, once its code is checked to be BAD_ENTRY. */
function refused(type: EventType, change: (envelope: Record<string, unknown>) => void): string {
  const { code, message } = refusal(tampered(type, change));
  expect(code).toBe('BAD_ENTRY');
  return message;
}

// The tampering helpers below reach into parsed JSON, which is untyped by nature.
const data = (envelope: Record<string, unknown>) => envelope.data as Record<string, any>;

describe('event schemas', () => {
  const samples = Object.values(SAMPLES).map((e) => [e.type, e] as const);
  it.each(samples)('a %s round-trips: sealed, parsed back equal', (type, event) => {
    const { envelope, entry } = sealed(draftFor(event));
    const parsed = parseEntry(entry, 5);
    expect(parsed).toEqual(envelope);
    expect(parsed.type).toBe(type);
  });

  it('takes what the decisions may write: a key with no size, empty lists and maps, a failed trigger', () => {
    const variants: EventDraft[] = [
      draftFor({ type: 'SigningKeyAdded', v: 1, data: { ...DATA.SigningKeyAdded, bits: null, userIds: [] } }),
      draftFor({ type: 'SigningKeyAuthorized', v: 1, data: { fingerprint: SIGN, authorizedBy: [] } }),
      draftFor({ type: 'ArchiveSnapshotTaken', v: 1, data: { ...DATA.ArchiveSnapshotTaken, keys: {}, triggers: [] } }),
      draftFor({ type: 'LogCreated', v: 1, data: { ...DATA.LogCreated, policy: { ...DEFAULT_POLICY, rootKeys: [] } } }),
    ];
    for (const d of variants) expect(parseEntry(sealed(d).entry, 5)).toEqual(sealed(d).envelope);
  });

  it('narrows data by type, no cast', () => {
    const event = parseEntry(sealed(draftFor(SAMPLES.MemberAdded)).entry, 5);
    if (event.type !== 'MemberAdded') throw new Error('not MemberAdded');
    expect(event.data.username).toBe('Eve');
    expect(event.evidence?.command).toContain('AddMember');
  });

  it('refuses a field of the wrong type, naming the event type and the field', () => {
    const r = refusal(tampered('MemberAdded', (e) => void (data(e).username = 42)));
    expect(r.code).toBe('BAD_ENTRY');
    expect(r.message).toContain('MemberAdded');
    expect(r.message).toContain('data.username');
    expect(refused('SigningKeyAdded', (e) => void (data(e).bits = '4096'))).toContain('data.bits');
    expect(refused('AnnouncementPosted', (e) => void (data(e).cause = 1.5))).toContain('data.cause');
    expect(refused('MemberAdded', (e) => void (data(e).role = 'owner'))).toContain('data.role');
  });

  it('refuses a field the type does not have', () => {
    const message = refused('SigningKeyRetired', (e) => void (data(e).note = 'x'));
    expect(message).toContain('SigningKeyRetired');
    expect(message).toContain('note');
    expect(refused('ArchiveSnapshotTaken', (e) => void (data(e).triggers[0].extra = true))).toContain(
      'data.triggers.0',
    );
    expect(refused('LogCreated', (e) => void (data(e).policy.quorum = 2))).toContain('quorum');
  });

  it('refuses a missing field', () => {
    const message = refused('SigningKeyAdded', (e) => void delete data(e).bits);
    expect(message).toContain('SigningKeyAdded');
    expect(message).toContain('data.bits');
    const policy = refused('LogCreated', (e) => void delete data(e).policy.commandWindowSeconds);
    expect(policy).toContain('data.policy.commandWindowSeconds');
  });

  it('refuses an unknown event type, and a version no schema has', () => {
    expect(refused('MemberRemoved', (e) => void (e.type = 'MemberPromoted'))).toContain('MemberPromoted');
    expect(refused('MemberRemoved', (e) => void (e.v = 2))).toContain('MemberRemoved');
  });

  it('refuses a fingerprint that is not 40 upper-case hex digits', () => {
    for (const bad of [SIGN.toLowerCase(), SIGN.slice(1), `${SIGN}00`, 'log']) {
      expect(refused('SigningKeyActivated', (e) => void (data(e).fingerprint = bad))).toContain('data.fingerprint');
    }
    expect(refused('SigningKeyAuthorized', (e) => void (data(e).authorizedBy = ['alice']))).toContain(
      'data.authorizedBy.0',
    );
    expect(refused('SigningKeyCertified', (e) => void (data(e).certifier = 'log'))).toContain('data.certifier');
    expect(refused('LogCreated', (e) => void (data(e).policy.rootKeys[0].fingerprint = 'x'))).toContain(
      'rootKeys.0.fingerprint',
    );
  });

  it('refuses a time that is not ISO 8601 UTC, an artifact name that is not a SHA-512, and bad evidence', () => {
    expect(refused('SigningKeyRevoked', (e) => void (data(e).since = '2026-11-24'))).toContain('data.since');
    expect(refused('SigningKeyCertified', (e) => void (data(e).certifiedAt = '2026-13-40T10:00:00.000Z'))).toContain(
      'certifiedAt',
    );
    expect(refused('PackageSignaturePublished', (e) => void (data(e).artifactSha512 = '../../x'))).toContain(
      'artifactSha512',
    );
    expect(refused('MemberAdded', (e) => void (e.evidence = { command: '{}' }))).toContain('evidence.signature');
    expect(refused('MemberAdded', (e) => void (e.evidence = { command: '{}', signature: 's', extra: 1 }))).toContain(
      'extra',
    );
  });
});
