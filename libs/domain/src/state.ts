import { hash } from 'node:crypto';
import { GrowList, GrowMap, KeySet } from './collections.js';
import { InfrastructureError } from './errors.js';
import {
  type AnnouncementPosted,
  type ArchiveSnapshotTaken,
  type EventEnvelope,
  type ModuleSignaturePublished,
  type PackageSignaturePublished,
  type Role,
  outcomeKey,
} from './events.js';
import type { Policy } from './policy.js';

// The trust state is the fold of the log's events (`evolve`), so the state at any tree size is
// the fold of that many events. It is a projection: mutable for speed, rebuilt from the log.

export interface MemberState {
  readonly fingerprint: string;
  readonly username: string;
  role: Role;
  readonly key: string;
  readonly addedAt: string;
  removedAt: string | null;
}

export interface CertificationState {
  readonly via: 'certification' | 'command';
  readonly certifiedAt: string;
  revoked: boolean;
}

export interface SigningKeyState {
  readonly fingerprint: string;
  readonly owner: string;
  readonly username: string;
  readonly key: string;
  readonly algorithm: string;
  readonly bits: number | null;
  readonly userIds: readonly string[];
  readonly addedAt: string;
  certifications: Record<string, CertificationState>;
  /** Has the required number of valid authorizations (as of the last SigningKeyAuthorized/Lost). */
  authorized: boolean;
  authorizedAt: string | null;
  /** Seq of the key's first SigningKeyAuthorized (the one its ADDING announcement answers). */
  firstAuthorizedSeq: number | null;
  lostReason: string | null;
  /** Seq and time of the SigningKeyAuthorizationLost in force, while unauthorized after a loss. */
  lostSeq: number | null;
  lostAt: string | null;
  /** When SigningKeyActivated was recorded. */
  activatedAt: string | null;
  adding: { url: string; text: string; at: string } | null;
  removing: { url: string; text: string; at: string } | null;
  retiredAt: string | null;
  revokedSince: string | null;
  revokedAt: string | null;
  revokeReason: string | null;
  /** Seqs of every event about the key: its own, and the signatures it made. */
  history: GrowList<number>;
}

/** A published signature, where the log put it. */
interface Logged {
  readonly seq: number;
  readonly recordedAt: string;
}

/**
 * The state keeps what decisions, validity and the snapshot need of a published signature, not
 * its bulk (the armored signature, module.sig and its file list stay in the event, a read away):
 * a replay of millions of signatures holds a few hundred bytes for each.
 */
export type PackageSignatureState = Logged & Omit<PackageSignaturePublished['data'], 'signature'>;
export type ModuleSignatureState = Logged &
  Omit<ModuleSignaturePublished['data'], 'moduleSig' | 'hashes'> & {
    readonly moduleSigSha256: string;
    readonly files: number;
  };

let lastText: string | null = null;
let lastDigest = '';

/** SHA-256 of a text, hex: how the state remembers a large text it only compares. */
export function textDigest(text: string): string {
  // A decision and the fold of its event ask for the same text in turn: hash it once.
  if (text !== lastText) {
    lastDigest = hash('sha256', text, 'hex');
    lastText = text;
  }
  return lastDigest;
}

/** The identity of a published package signature (ALREADY_PUBLISHED compares it). */
export const packageSignatureKey = (s: { package: string; version: string; signer: string; artifactSha512: string }) =>
  `p\u0000${s.package}\u0000${s.version}\u0000${s.signer}\u0000${s.artifactSha512}`;
/** The identity of a published module signature: its module, version and module.sig. */
export const moduleSignatureKey = (module: string, version: string, moduleSigSha256: string) =>
  `m\u0000${module}\u0000${version}\u0000${moduleSigSha256}`;

export type AnnouncementState = Logged & AnnouncementPosted['data'];
/** The latest archive snapshot; `keys` holds the latest page hash of every key archived so far. */
export type ArchiveState = Pick<ArchiveSnapshotTaken['data'], 'treeSize' | 'listing' | 'raw'> & {
  keys: Record<string, string>;
};

export interface TrustState {
  size: number;
  /** Bumped whenever the set of keys that can sign something changes (members, signing keys). */
  keysVersion: number;
  /** recordedAt of the last event folded in ('' before any). */
  lastRecordedAt: string;
  origin: string;
  verifierKey: string;
  policy: Policy;
  members: GrowMap<string, MemberState>;
  signingKeys: GrowMap<string, SigningKeyState>;
  packageSignatures: GrowList<PackageSignatureState>;
  moduleSignatures: GrowList<ModuleSignatureState>;
  /** Identities of every published signature (packageSignatureKey, moduleSignatureKey). */
  published: KeySet;
  /** Command id → the SHA-256 of the exact signed bytes and the seqs it produced (idempotency). */
  commands: GrowMap<string, { readonly commandSha256: string; readonly seqs: readonly number[] }>;
  /** Outcome keys of the workers' events in the log (`outcomeKey`). */
  outcomes: KeySet;
  /** Every posted announcement, in log order. */
  announcements: GrowList<AnnouncementState>;
  archive: ArchiveState | null;
  /** Seq of the latest member event (who certifies what may have changed on every key page). */
  lastMemberChange: number;
}

export function emptyState(): TrustState {
  return {
    size: 0,
    keysVersion: 0,
    lastRecordedAt: '',
    origin: '',
    verifierKey: '',
    policy: {
      rootKeys: [],
      waitingPeriodDays: 14,
      authorizationsRequired: 1,
      rsaMinBits: 4096,
      allowEd25519: false,
      signingKeyComment: '',
      commandWindowSeconds: 300,
    },
    members: new GrowMap(),
    signingKeys: new GrowMap(),
    packageSignatures: new GrowList(),
    moduleSignatures: new GrowList(),
    published: new KeySet(),
    commands: new GrowMap(),
    outcomes: new KeySet(),
    announcements: new GrowList(),
    archive: null,
    lastMemberChange: -1,
  };
}

/**
 * A decision's copy → the state it copies. The copy's member and signing-key maps are layers
 * over the state's, and it shares their records until it changes one (`ownMember`, `ownKey`):
 * copying the maps or the records made every copy cost O(members + keys), every group of
 * decisions and every continuity check (about 1 ms a group at 1,000 members and 5,000 keys).
 */
const copied = new WeakMap<TrustState, TrustState>();

/** A copy a decision may evolve without touching the projection. */
export function cloneForDecision(state: TrustState): TrustState {
  const copy: TrustState = {
    ...state,
    // The collections that grow with the log are layered, not copied (collections.ts).
    packageSignatures: state.packageSignatures.layer(),
    moduleSignatures: state.moduleSignatures.layer(),
    published: state.published.layer(),
    members: state.members.layer(),
    signingKeys: state.signingKeys.layer(),
    commands: state.commands.layer(),
    outcomes: state.outcomes.layer(),
    announcements: state.announcements.layer(),
  };
  copied.set(copy, state);
  return copy;
}

/** The member's record in `state`, its own: copied first if `state` still shares it with the state it copies. */
function ownMember(state: TrustState, m: MemberState): MemberState {
  if (copied.get(state)?.members.get(m.fingerprint) !== m) return m;
  const own = { ...m };
  state.members.set(m.fingerprint, own);
  return own;
}

/** The signing key's record in `state`, its own (see ownMember): history layered, certifications copied. */
function ownKey(state: TrustState, key: SigningKeyState): SigningKeyState {
  if (copied.get(state)?.signingKeys.get(key.fingerprint) !== key) return key;
  const own: SigningKeyState = {
    ...key,
    history: key.history.layer(),
    certifications: Object.fromEntries(Object.entries(key.certifications).map(([c, v]) => [c, { ...v }])),
  };
  state.signingKeys.set(key.fingerprint, own);
  return own;
}

/**
 * Makes `state` what `decided` is: `decided` is a `cloneForDecision` of `state` into which events
 * were folded, and those events are now in the log. The state takes the copy's layers into its
 * own collections instead of folding the same events a second time. Only while `state` has not
 * changed since the copy was made (the caller checks its size).
 */
export function adoptDecision(state: TrustState, decided: TrustState): void {
  // Only the keys the decision owns have a layered history (ownKey); the others are the state's.
  for (const key of decided.signingKeys.layerValues()) key.history = key.history.collapse();
  Object.assign(state, {
    ...decided,
    members: decided.members.collapse(),
    signingKeys: decided.signingKeys.collapse(),
    packageSignatures: decided.packageSignatures.collapse(),
    moduleSignatures: decided.moduleSignatures.collapse(),
    published: decided.published.collapse(),
    commands: decided.commands.collapse(),
    outcomes: decided.outcomes.collapse(),
    announcements: decided.announcements.collapse(),
  });
}

/**
 * `decided` is a `cloneForDecision` of a decision's copy that `state` has since adopted (a group
 * decided while the one before it was being appended): makes it a copy of `state` itself, so that
 * `state` adopts it in turn without a layer more for each such group.
 */
export function rebaseDecision(decided: TrustState, state: TrustState): void {
  for (const key of decided.signingKeys.layerValues()) key.history.rebase();
  decided.members.rebase();
  decided.signingKeys.rebase();
  decided.packageSignatures.rebase();
  decided.moduleSignatures.rebase();
  decided.published.rebase();
  decided.commands.rebase();
  decided.outcomes.rebase();
  decided.announcements.rebase();
  copied.set(decided, state);
}

export function isRoot(state: TrustState, fingerprint: string): boolean {
  return state.policy.rootKeys.some((k) => k.fingerprint === fingerprint);
}

export function activeMember(state: TrustState, fingerprint: string): MemberState | undefined {
  const m = state.members.get(fingerprint);
  return m && !m.removedAt ? m : undefined;
}

/** Root, or a current member with one of the roles. */
export function hasRole(state: TrustState, fingerprint: string, roles: readonly Role[]): boolean {
  if (isRoot(state, fingerprint)) return true;
  const m = activeMember(state, fingerprint);
  return !!m && roles.includes(m.role);
}

export const AUTHORIZER_ROLES: readonly Role[] = ['leader', 'management'];

/** Certifiers whose authorization counts now: current leaders/management (or root), not the owner. */
export function validAuthorizers(state: TrustState, key: SigningKeyState): string[] {
  return Object.entries(key.certifications)
    .filter(([certifier, c]) => !c.revoked && certifier !== key.owner && hasRole(state, certifier, AUTHORIZER_ROLES))
    .map(([certifier]) => certifier)
    .sort();
}

/** The signing key's record, to change (copied first in a decision's copy that shares it). */
function mustKey(state: TrustState, fingerprint: string): SigningKeyState {
  const key = state.signingKeys.get(fingerprint);
  if (!key)
    throw new InfrastructureError(
      'CORRUPT_LOG',
      `an event names signing key ${fingerprint}, which the log never added`,
    );
  return ownKey(state, key);
}

/** The member's record, to change (as mustKey). */
function mustMember(state: TrustState, fingerprint: string): MemberState {
  const m = state.members.get(fingerprint);
  if (!m)
    throw new InfrastructureError('CORRUPT_LOG', `an event names member ${fingerprint}, whom the log never added`);
  return ownMember(state, m);
}

function commandId(envelope: EventEnvelope): string | null {
  if (!envelope.evidence) return null;
  try {
    const parsed = JSON.parse(envelope.evidence.command) as { id?: unknown };
    return typeof parsed.id === 'string' ? parsed.id : null;
  } catch {
    return null;
  }
}

/** Applies one event (in log order) to the state. */
export function evolve(state: TrustState, envelope: EventEnvelope): TrustState {
  const event = envelope;
  const at = envelope.recordedAt;
  switch (event.type) {
    case 'LogCreated':
      state.keysVersion++;
      state.origin = event.data.origin;
      state.verifierKey = event.data.verifierKey;
      state.policy = event.data.policy;
      break;
    case 'MemberAdded':
      state.keysVersion++;
      state.members.set(event.data.fingerprint, {
        fingerprint: event.data.fingerprint,
        username: event.data.username,
        role: event.data.role,
        key: event.data.key,
        addedAt: at,
        removedAt: null,
      });
      break;
    case 'MemberRoleChanged':
      mustMember(state, event.data.fingerprint).role = event.data.role;
      break;
    case 'MemberRemoved':
      state.keysVersion++;
      mustMember(state, event.data.fingerprint).removedAt = at;
      break;
    case 'SigningKeyAdded':
      state.keysVersion++;
      state.signingKeys.set(event.data.fingerprint, {
        fingerprint: event.data.fingerprint,
        owner: event.data.owner,
        username: event.data.username,
        key: event.data.key,
        algorithm: event.data.algorithm,
        bits: event.data.bits,
        userIds: event.data.userIds,
        addedAt: at,
        certifications: {},
        authorized: false,
        authorizedAt: null,
        firstAuthorizedSeq: null,
        lostReason: null,
        lostSeq: null,
        lostAt: null,
        activatedAt: null,
        adding: null,
        removing: null,
        retiredAt: null,
        revokedSince: null,
        revokedAt: null,
        revokeReason: null,
        history: new GrowList(),
      });
      break;
    case 'SigningKeyCertified':
      mustKey(state, event.data.fingerprint).certifications[event.data.certifier] = {
        via: event.data.via,
        certifiedAt: event.data.certifiedAt,
        revoked: false,
      };
      break;
    case 'SigningKeyCertificationRevoked': {
      const c = mustKey(state, event.data.fingerprint).certifications[event.data.certifier];
      if (c) c.revoked = true;
      break;
    }
    case 'SigningKeyAuthorized': {
      const key = mustKey(state, event.data.fingerprint);
      key.authorized = true;
      key.authorizedAt ??= at;
      key.firstAuthorizedSeq ??= envelope.seq;
      key.lostReason = null;
      key.lostSeq = null;
      key.lostAt = null;
      break;
    }
    case 'SigningKeyAuthorizationLost': {
      const key = mustKey(state, event.data.fingerprint);
      key.authorized = false;
      key.lostReason = event.data.reason;
      key.lostSeq = envelope.seq;
      key.lostAt = at;
      break;
    }
    case 'AnnouncementRecorded': {
      const key = mustKey(state, event.data.fingerprint);
      const record = { url: event.data.url, text: event.data.text, at };
      if (event.data.kind === 'ADDING') key.adding ??= record;
      else key.removing ??= record;
      break;
    }
    case 'SigningKeyRetired':
      mustKey(state, event.data.fingerprint).retiredAt = at;
      break;
    case 'SigningKeyRevoked': {
      const key = mustKey(state, event.data.fingerprint);
      key.revokedSince = event.data.since;
      key.revokedAt = at;
      key.revokeReason = event.data.reason;
      break;
    }
    case 'PackageSignaturePublished': {
      const { signature: _, ...kept } = event.data;
      state.packageSignatures.push({ ...kept, seq: envelope.seq, recordedAt: at });
      state.published.add(packageSignatureKey(kept));
      break;
    }
    case 'ModuleSignaturePublished': {
      const { moduleSig, hashes, ...kept } = event.data;
      const moduleSigSha256 = textDigest(moduleSig);
      state.moduleSignatures.push({
        ...kept,
        seq: envelope.seq,
        recordedAt: at,
        moduleSigSha256,
        files: Object.keys(hashes).length,
      });
      state.published.add(moduleSignatureKey(kept.module, kept.version, moduleSigSha256));
      break;
    }
    case 'AnnouncementPosted': {
      const key = mustKey(state, event.data.fingerprint);
      // A webhook is a private delivery: the listing links, and the waiting period counts from,
      // the first public post (the Atom feed, which is always on, or a Mastodon status).
      if (event.data.channel !== 'webhook') {
        const record = { url: event.data.url, text: event.data.text, at };
        if (event.data.kind === 'ADDING') key.adding ??= record;
        else if (event.data.kind === 'REMOVING') key.removing ??= record;
      }
      state.announcements.push({ ...event.data, seq: envelope.seq, recordedAt: at });
      break;
    }
    case 'SigningKeyActivated':
      mustKey(state, event.data.fingerprint).activatedAt = at;
      break;
    case 'ArchiveSnapshotTaken':
      state.archive = {
        treeSize: event.data.treeSize,
        listing: event.data.listing,
        raw: event.data.raw,
        keys: { ...state.archive?.keys, ...event.data.keys },
      };
      break;
    case 'AnnouncementFailed':
    case 'ContinuityAlertRaised':
      break;
    default: {
      // Compile time: every DomainEvent is handled above. Run time: events of other kinds
      // (tests, later capabilities) do not change the trust state.
      const unhandled: never = event;
      void unhandled;
    }
  }
  const keyFpr = envelope.stream.startsWith('signing-key/')
    ? envelope.stream.slice('signing-key/'.length)
    : event.type === 'PackageSignaturePublished' || event.type === 'ModuleSignaturePublished'
      ? event.data.signer
      : null;
  const keyOfEvent = keyFpr ? state.signingKeys.get(keyFpr) : undefined;
  if (keyOfEvent) ownKey(state, keyOfEvent).history.push(envelope.seq);
  const once = envelope.actor === 'log' ? outcomeKey(envelope.type, envelope.data) : null;
  if (once) state.outcomes.add(once);
  const id = commandId(envelope);
  if (id) {
    const prior = state.commands.get(id);
    // A new record, never a change to one an earlier layer holds.
    if (prior) state.commands.set(id, { ...prior, seqs: [...prior.seqs, envelope.seq] });
    else state.commands.set(id, { commandSha256: textDigest(envelope.evidence!.command), seqs: [envelope.seq] });
  }
  if (event.type === 'MemberAdded' || event.type === 'MemberRoleChanged' || event.type === 'MemberRemoved')
    state.lastMemberChange = envelope.seq;
  state.size = Math.max(state.size, envelope.seq + 1);
  state.lastRecordedAt = at;
  return state;
}

export type KeyStatus =
  | 'pending'
  | 'awaiting-announcement'
  | 'waiting'
  | 'active'
  | 'insufficient-authorizations'
  | 'retired'
  | 'revoked';

const DAY = 24 * 60 * 60 * 1000;

/** When the key may first sign: max(added, ADDING announcement) + waiting period; null before the announcement. */
export function usableFrom(state: TrustState, key: SigningKeyState): string | null {
  if (!key.adding) return null;
  const start = Math.max(Date.parse(key.addedAt), Date.parse(key.adding.at));
  return new Date(start + state.policy.waitingPeriodDays * DAY).toISOString();
}

export function keyStatus(
  state: TrustState,
  key: SigningKeyState,
  now: Date,
): { status: KeyStatus; reason: string; usableFrom: string | null } {
  const from = usableFrom(state, key);
  const result = (status: KeyStatus, reason: string) => ({ status, reason, usableFrom: from });
  if (key.revokedSince)
    return result('revoked', `revoked as compromised since ${key.revokedSince}: ${key.revokeReason}`);
  if (key.retiredAt) return result('retired', `retired on ${key.retiredAt}`);
  const valid = validAuthorizers(state, key).length;
  const required = state.policy.authorizationsRequired;
  if (!key.authorized) {
    if (key.authorizedAt)
      return result(
        'insufficient-authorizations',
        `${key.lostReason ?? 'authorizations lost'}: ${valid} of ${required} valid authorizations; needs re-authorization`,
      );
    return result('pending', `${valid} of ${required} authorizations from leaders or management`);
  }
  if (!from) return result('awaiting-announcement', 'authorized; its ADDING announcement is not posted yet');
  if (now.getTime() < Date.parse(from)) return result('waiting', `in its waiting period until ${from}`);
  return result('active', `usable since ${from}`);
}

/** A published package or module signature stays good unless its key was revoked as compromised since a time at or before it was logged. */
export function packageSignatureValid(
  state: TrustState,
  sig: { readonly signer: string; readonly recordedAt: string },
): { valid: boolean; reason: string } {
  const key = state.signingKeys.get(sig.signer);
  if (key?.revokedSince && Date.parse(sig.recordedAt) >= Date.parse(key.revokedSince)) {
    return {
      valid: false,
      reason: `signing key revoked as compromised since ${key.revokedSince}; this signature was logged at ${sig.recordedAt}`,
    };
  }
  return { valid: true, reason: `logged at ${sig.recordedAt} while the key was usable` };
}

/** The trust state as JSON for people and programs (the /trust/state view). */
export function describeState(state: TrustState, now: Date) {
  return {
    treeSize: state.size,
    origin: state.origin,
    policy: { ...state.policy, rootKeys: state.policy.rootKeys.map((k) => k.fingerprint) },
    members: [...state.members.values()].map((m) => ({
      fingerprint: m.fingerprint,
      username: m.username,
      role: m.role,
      addedAt: m.addedAt,
      removedAt: m.removedAt,
    })),
    signingKeys: [...state.signingKeys.values()].map((k) => {
      const { status, reason, usableFrom: from } = keyStatus(state, k, now);
      return {
        fingerprint: k.fingerprint,
        owner: k.owner,
        username: k.username,
        status,
        reason,
        algorithm: k.algorithm,
        bits: k.bits,
        userIds: k.userIds,
        addedAt: k.addedAt,
        authorizedBy: validAuthorizers(state, k),
        added: k.adding,
        usableFrom: from,
        retiredAt: k.retiredAt,
        revokedSince: k.revokedSince,
        removed: k.removing,
      };
    }),
    packageSignatures: state.packageSignatures.length,
    moduleSignatures: state.moduleSignatures.length,
  };
}
