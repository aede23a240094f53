import type { Command, CommandOf, CommandType } from './commands.js';
import { DomainError, type DomainErrorCode, assertNever } from './errors.js';
import { groupFingerprint } from './fingerprint.js';
import { parseModuleSig } from './module-sig.js';
import {
  type DomainEvent,
  type EventDraft,
  type Evidence,
  type PackageSignaturePublished,
  type Role,
  draftOf,
  placeEvent,
} from './events.js';
import { type KeyPolicyFacts, checkKeyStrength, checkSigningKeyUserId } from './policy.js';
import {
  AUTHORIZER_ROLES,
  type SigningKeyState,
  type TrustState,
  activeMember,
  cloneForDecision,
  evolve,
  hasRole,
  keyStatus,
  moduleSignatureKey,
  packageSignatureKey,
  textDigest,
  usableFrom,
  validAuthorizers,
} from './state.js';

// The rules of the package signing protocol (MyBB) with FreePBX-style master keys, as pure
// decisions: given the trust state, a verified command and the log's time, the events to append
// — or a DomainError, and nothing is appended. Signature verification happens outside (libs/pgp)
// and comes in as facts.

/** Why a key's holder revoked it (the OpenPGP reason for revocation, RFC 9580 5.2.3.31). */
export type RevocationReason = 'unspecified' | 'superseded' | 'compromised' | 'retired';

/** A key revocation signature made by the key itself (`gpg --gen-revoke`), verified. */
export interface RevocationFacts {
  readonly created: string;
  readonly reason: RevocationReason;
  readonly description: string;
}

/** A key block as libs/pgp reads it, with the certifications made by keys the log knows. */
export interface KeyInput {
  readonly facts: Omit<KeyPolicyFacts, 'userIds'> & {
    readonly armored: string;
    readonly userIds: readonly { readonly userId: string; readonly comment: string }[];
    readonly selfRevoked: boolean;
    /** The key's own revocation, when it carries one that verifies. */
    readonly revocation?: RevocationFacts | null;
  };
  /**
   * Certifications by keys the log knows (roots and members, past ones included). `valid` is
   * false when the certification's signature does not verify (BAD_CERTIFICATION).
   */
  readonly certifications: readonly {
    readonly certifier: string;
    readonly created: string;
    readonly digest: string;
    readonly revoked: boolean;
    readonly valid?: boolean;
  }[];
}

export interface VerifiedCommand {
  readonly command: Command;
  /** Fingerprint of the key whose detached signature over the command verified. */
  readonly signer: string;
  readonly evidence: Evidence;
  /** For commands that carry a key (AddMember, AddSigningKey, UpdateSigningKey). */
  readonly key?: KeyInput;
}

/** A detached package signature that verified (SHA-512), with what it signs. */
export type VerifiedPackageSignature = PackageSignaturePublished['data'];

/**
 * The commands whose decision reads the certifications on the key block they carry, found among
 * the keys known when it is read: one decided on another key set would differ from its replay.
 */
export const READS_CERTIFICATIONS: ReadonlySet<Command['type']> = new Set(['AddSigningKey', 'UpdateSigningKey']);

const ADMIN: readonly Role[] = ['management'];
const SECURITY: readonly Role[] = ['security'];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export function memberStream(fpr: string): string {
  return `member/${fpr}`;
}
export function signingKeyStream(fpr: string): string {
  return `signing-key/${fpr}`;
}

/** The seed's exact announcement text. */
export function announcementText(kind: 'ADDING' | 'REMOVING', username: string, fpr: string): string {
  return `${kind} Package Signing Key of ~${username} (${groupFingerprint(fpr)}).`;
}

function refuse(code: DomainErrorCode, message: string): never {
  throw new DomainError(code, message);
}

function requireRole(state: TrustState, actor: string, roles: readonly Role[], what: string): void {
  if (!hasRole(state, actor, roles)) {
    refuse(
      'NOT_AUTHORIZED_ROLE',
      `${what} needs the root key or a current ${roles.join(' or ')} member; key ${actor} is neither`,
    );
  }
}

function signingKey(state: TrustState, fpr: string): SigningKeyState {
  return state.signingKeys.get(fpr) ?? refuse('UNKNOWN_SIGNING_KEY', `no package signing key ${fpr} is in the log`);
}

function requireLive(key: SigningKeyState): void {
  if (key.revokedSince) refuse('KEY_REVOKED', `signing key ${key.fingerprint} was revoked as compromised`);
  if (key.retiredAt) refuse('KEY_RETIRED', `signing key ${key.fingerprint} was retired`);
}

/** Checks that hold for every command: origin, freshness, a signer the log knows. */
export function checkEnvelope(state: TrustState, input: VerifiedCommand, now: Date): void {
  const { command } = input;
  if (command.origin !== state.origin) {
    refuse('WRONG_ORIGIN', `the command is for the log "${command.origin}", this is "${state.origin}"`);
  }
  const skew = Math.abs(Date.parse(command.issuedAt) - now.getTime());
  if (!(skew <= state.policy.commandWindowSeconds * 1000)) {
    refuse(
      'STALE_COMMAND',
      `the command was issued at ${command.issuedAt}, more than ${state.policy.commandWindowSeconds} s ` +
        `from the log's time ${now.toISOString()}; issue it again with a current issuedAt`,
    );
  }
  if (!hasRole(state, input.signer, ['member', 'leader', 'management', 'security'])) {
    refuse('UNKNOWN_SIGNER', `key ${input.signer} is neither a root key nor a current member of this log`);
  }
}

/** A verified command of one type. */
type Verified<T extends CommandType> = VerifiedCommand & { readonly command: CommandOf<T> };

/** What one command decides: its own events, all on one stream. */
interface Decided {
  readonly stream: string;
  readonly events: readonly DomainEvent[];
  /**
   * Why authorizations may have changed (the reason a SigningKeyAuthorizationLost gives); absent
   * when the command cannot change them, and no continuity events are looked for.
   */
  readonly cause?: string;
}

/** Decides a verified command. The result includes the continuity events it causes. */
export function decideCommand(state: TrustState, input: VerifiedCommand, now: Date): EventDraft[] {
  checkEnvelope(state, input, now);
  const { stream, events, cause = '' } = decidePrimary(state, input, now);
  const drafts = events.map((event) => draftOf(event, stream, input.signer, input.evidence));
  return [...drafts, ...continuity(state, drafts, now, cause)];
}

function decidePrimary(state: TrustState, input: VerifiedCommand, now: Date): Decided {
  const { command } = input;
  switch (command.type) {
    case 'AddMember':
      return decideAddMember(state, { ...input, command });
    case 'ChangeMemberRole':
      return decideChangeMemberRole(state, { ...input, command });
    case 'RemoveMember':
      return decideRemoveMember(state, { ...input, command });
    case 'AddSigningKey':
      return decideAddSigningKey(state, { ...input, command });
    case 'UpdateSigningKey':
      return decideUpdateSigningKey(state, { ...input, command }, now);
    case 'AuthorizeSigningKey':
      return decideAuthorizeSigningKey(state, { ...input, command }, now);
    case 'RevokeAuthorization':
      return decideRevokeAuthorization(state, { ...input, command });
    case 'RecordAnnouncement':
      return decideRecordAnnouncement(state, { ...input, command });
    case 'RetireSigningKey':
      return decideRetireSigningKey(state, { ...input, command });
    case 'RevokeSigningKey':
      return decideRevokeSigningKey(state, { ...input, command }, now);
    default:
      return assertNever(command);
  }
}

function requireKey(input: VerifiedCommand): KeyInput {
  return input.key ?? refuse('BAD_KEY', 'the command carries no readable key');
}

function requireActiveMember(state: TrustState, fpr: string) {
  return activeMember(state, fpr) ?? refuse('UNKNOWN_MEMBER', `no current member has key ${fpr}`);
}

function decideAddMember(state: TrustState, input: Verified<'AddMember'>): Decided {
  const { command } = input;
  requireRole(state, input.signer, ADMIN, 'adding a team member');
  const key = requireKey(input);
  checkKeyStrength(key.facts, state.policy);
  const fpr = key.facts.fingerprint;
  if (key.facts.selfRevoked) refuse('KEY_REVOKED', `key ${fpr} is revoked by its owner`);
  if (state.members.has(fpr)) refuse('MEMBER_EXISTS', `key ${fpr} is already a team member key`);
  if (state.signingKeys.has(fpr)) {
    refuse('KEY_IN_USE', `key ${fpr} is a package signing key; a team member key must be another key`);
  }
  const taken = [...state.members.values()].some((m) => !m.removedAt && m.username === command.username);
  if (taken) refuse('USERNAME_TAKEN', `a current member is already called ${command.username}`);
  const data = { fingerprint: fpr, username: command.username, role: command.role as Role, key: key.facts.armored };
  return { stream: memberStream(fpr), events: [{ type: 'MemberAdded', v: 1, data }] };
}

function decideChangeMemberRole(state: TrustState, input: Verified<'ChangeMemberRole'>): Decided {
  const { command } = input;
  requireRole(state, input.signer, ADMIN, 'changing a role');
  const member = requireActiveMember(state, command.member);
  if (member.role === command.role) refuse('NO_CHANGE', `${member.username} already has the role ${member.role}`);
  const data = { fingerprint: member.fingerprint, role: command.role as Role, previousRole: member.role };
  return {
    stream: memberStream(member.fingerprint),
    events: [{ type: 'MemberRoleChanged', v: 1, data }],
    cause: `${member.username} is no longer ${member.role}`,
  };
}

function decideRemoveMember(state: TrustState, input: Verified<'RemoveMember'>): Decided {
  requireRole(state, input.signer, ADMIN, 'removing a member');
  const member = requireActiveMember(state, input.command.member);
  return {
    stream: memberStream(member.fingerprint),
    events: [{ type: 'MemberRemoved', v: 1, data: { fingerprint: member.fingerprint } }],
    cause: `${member.username} left the team`,
  };
}

function decideAddSigningKey(state: TrustState, input: Verified<'AddSigningKey'>): Decided {
  const owner =
    activeMember(state, input.signer) ??
    refuse('NOT_AUTHORIZED_ROLE', 'only a current team member can add a package signing key (their own)');
  const key = requireKey(input);
  checkKeyStrength(key.facts, state.policy);
  checkSigningKeyUserId(key.facts, state.policy);
  const { facts } = key;
  const fpr = facts.fingerprint;
  if (facts.selfRevoked) refuse('KEY_REVOKED', `key ${fpr} is revoked by its owner`);
  if (state.signingKeys.has(fpr)) refuse('KEY_EXISTS', `signing key ${fpr} is already in the log`);
  if (state.members.has(fpr) || state.policy.rootKeys.some((r) => r.fingerprint === fpr)) {
    refuse('KEY_IN_USE', `key ${fpr} is a team member or root key; a package signing key must be its own key`);
  }
  const added: DomainEvent = {
    type: 'SigningKeyAdded',
    v: 1,
    data: {
      fingerprint: fpr,
      owner: owner.fingerprint,
      username: owner.username,
      key: facts.armored,
      algorithm: facts.algorithm,
      bits: facts.bits,
      userIds: facts.userIds.map((u) => u.userId),
    },
  };
  const certified = certificationEvents(state, fpr, owner.fingerprint, {}, key);
  return { stream: signingKeyStream(fpr), events: [added, ...certified], cause: 'certified' };
}

function decideUpdateSigningKey(state: TrustState, input: Verified<'UpdateSigningKey'>, now: Date): Decided {
  if (!activeMember(state, input.signer) && !hasRole(state, input.signer, ADMIN)) {
    refuse('NOT_AUTHORIZED_ROLE', 'only a current team member can update a signing key');
  }
  const key = requireKey(input);
  const current = signingKey(state, key.facts.fingerprint);
  // The key's own revocation (gpg --gen-revoke, imported and exported with the key, or the
  // certificate alone) is signed by the key itself: whoever relays it, it is recorded.
  const revocation = key.facts.revocation ? ownRevocation(current, key.facts.revocation, now, state.policy) : null;
  if (!revocation) requireLive(current);
  const changes =
    current.retiredAt || current.revokedSince
      ? []
      : certificationEvents(state, current.fingerprint, current.owner, current.certifications, key);
  if (changes.length === 0 && !revocation) {
    refuse(
      'NO_CHANGE',
      'the key block carries no new or revoked certification by a leader or management member, and no revocation',
    );
  }
  return {
    stream: signingKeyStream(current.fingerprint),
    events: revocation ? [...changes, revocation] : changes,
    cause: 'a certification was revoked',
  };
}

function decideAuthorizeSigningKey(state: TrustState, input: Verified<'AuthorizeSigningKey'>, now: Date): Decided {
  const actor = input.signer;
  const key = signingKey(state, input.command.fingerprint);
  if (actor === key.owner) {
    refuse('SELF_AUTHORIZATION', 'a member cannot authorize their own signing key; ask a leader or management member');
  }
  requireRole(state, actor, AUTHORIZER_ROLES, 'authorizing a signing key');
  requireLive(key);
  const prior = key.certifications[actor];
  if (prior && !prior.revoked) refuse('ALREADY_AUTHORIZED', `key ${actor} has already authorized ${key.fingerprint}`);
  const certifiedAt = now.toISOString();
  const data = { fingerprint: key.fingerprint, certifier: actor, via: 'command', certifiedAt } as const;
  return {
    stream: signingKeyStream(key.fingerprint),
    events: [{ type: 'SigningKeyCertified', v: 1, data }],
    cause: 'authorized',
  };
}

function decideRevokeAuthorization(state: TrustState, input: Verified<'RevokeAuthorization'>): Decided {
  const actor = input.signer;
  const key = signingKey(state, input.command.fingerprint);
  const certifier = input.command.certifier ?? actor;
  if (certifier !== actor) {
    requireRole(state, actor, [...ADMIN, ...SECURITY], "revoking another member's authorization");
  }
  const cert = key.certifications[certifier];
  if (!cert || cert.revoked) {
    refuse('NOT_AUTHORIZED_BY', `key ${certifier} has no standing authorization of ${key.fingerprint}`);
  }
  const data = { fingerprint: key.fingerprint, certifier, via: 'command' } as const;
  return {
    stream: signingKeyStream(key.fingerprint),
    events: [{ type: 'SigningKeyCertificationRevoked', v: 1, data }],
    cause: 'an authorization was revoked',
  };
}

function decideRecordAnnouncement(state: TrustState, input: Verified<'RecordAnnouncement'>): Decided {
  const { command } = input;
  requireRole(state, input.signer, [...ADMIN, ...SECURITY], 'recording an announcement');
  const key = signingKey(state, command.fingerprint);
  const fpr = key.fingerprint;
  if (command.kind === 'ADDING') {
    requireLive(key);
    if (!key.authorized) {
      refuse('KEY_NOT_AUTHORIZED', `signing key ${fpr} is not authorized; it cannot be announced as added`);
    }
    if (key.adding) refuse('ALREADY_ANNOUNCED', `the addition of ${fpr} was announced already (${key.adding.url})`);
  } else {
    if (!key.retiredAt && !key.revokedSince) {
      refuse('KEY_NOT_REMOVED', `signing key ${fpr} is neither retired nor revoked; retire or revoke it first`);
    }
    if (key.removing) refuse('ALREADY_ANNOUNCED', `the removal of ${fpr} was announced already (${key.removing.url})`);
  }
  const text = announcementText(command.kind, key.username, fpr);
  const data = { fingerprint: fpr, kind: command.kind, url: command.url, text };
  return { stream: signingKeyStream(fpr), events: [{ type: 'AnnouncementRecorded', v: 1, data }] };
}

function decideRetireSigningKey(state: TrustState, input: Verified<'RetireSigningKey'>): Decided {
  const key = signingKey(state, input.command.fingerprint);
  if (input.signer !== key.owner) {
    requireRole(state, input.signer, [...ADMIN, ...SECURITY], "retiring another member's signing key");
  }
  requireLive(key);
  const data = { fingerprint: key.fingerprint, reason: input.command.reason ?? 'retired' };
  return { stream: signingKeyStream(key.fingerprint), events: [{ type: 'SigningKeyRetired', v: 1, data }] };
}

function decideRevokeSigningKey(state: TrustState, input: Verified<'RevokeSigningKey'>, now: Date): Decided {
  const { command, signer: actor } = input;
  const key = signingKey(state, command.fingerprint);
  const stream = signingKeyStream(key.fingerprint);
  if (command.revocation !== undefined) {
    // The owner's own revocation certificate: compromised (or no reason) revokes, superseded
    // or no longer used retires.
    if (actor !== key.owner) {
      requireRole(state, actor, [...ADMIN, ...SECURITY], "revoking another member's signing key");
    }
    const revocation =
      input.key?.facts.revocation ??
      refuse(
        'BAD_REVOCATION',
        'the revocation field holds no key revocation that verifies (gpg --gen-revoke writes one)',
      );
    const revoked = input.key!.facts.fingerprint;
    if (revoked !== key.fingerprint) {
      refuse('BAD_REVOCATION', `the revocation is for key ${revoked}, not ${key.fingerprint}`);
    }
    const event =
      ownRevocation(key, revocation, now, state.policy, command) ??
      refuse(
        key.revokedSince ? 'KEY_REVOKED' : 'KEY_RETIRED',
        `signing key ${key.fingerprint} is already ${key.revokedSince ? 'revoked' : 'retired'}`,
      );
    return { stream, events: [event] };
  }
  requireRole(state, actor, SECURITY, 'revoking a signing key as compromised');
  if (key.revokedSince) refuse('KEY_REVOKED', `signing key ${key.fingerprint} is already revoked`);
  const since = command.since ?? now.toISOString();
  if (Date.parse(since) > now.getTime()) refuse('BAD_COMMAND', `a revocation cannot start in the future (${since})`);
  const data = { fingerprint: key.fingerprint, since: new Date(since).toISOString(), reason: command.reason! };
  return { stream, events: [{ type: 'SigningKeyRevoked', v: 1, data }] };
}

const REVOCATION_REASONS: Record<RevocationReason, string> = {
  unspecified: 'revoked by its holder (no reason given)',
  compromised: 'key compromised',
  superseded: 'key superseded',
  retired: 'key no longer used',
};

/**
 * The event of a signing key's own revocation (OpenPGP: a hard revocation, compromised or no
 * reason, makes it compromised from the revocation's creation time or an earlier `since`; a soft
 * one, superseded or no longer used, retires it), or null when it changes nothing.
 */
function ownRevocation(
  key: SigningKeyState,
  revocation: RevocationFacts,
  now: Date,
  policy: TrustState['policy'],
  stated: { since?: string | undefined; reason?: string | undefined } = {},
): DomainEvent | null {
  const created = Date.parse(revocation.created);
  if (created > now.getTime() + policy.commandWindowSeconds * 1000) {
    refuse(
      'FUTURE_SIGNATURE',
      `the revocation claims to be made at ${revocation.created}, after the log's time ${now.toISOString()}`,
    );
  }
  const label = REVOCATION_REASONS[revocation.reason];
  const reason = stated.reason ?? (revocation.description ? `${label}: ${revocation.description}` : label);
  if (revocation.reason === 'superseded' || revocation.reason === 'retired') {
    if (stated.since !== undefined) {
      refuse('BAD_COMMAND', `the revocation says "${label}", which retires the key; "since" is for a compromised key`);
    }
    if (key.retiredAt || key.revokedSince) return null;
    return { type: 'SigningKeyRetired', v: 1, data: { fingerprint: key.fingerprint, reason } };
  }
  if (key.revokedSince) return null;
  let since = Math.min(created, now.getTime());
  if (stated.since !== undefined) {
    if (Date.parse(stated.since) > since) {
      refuse(
        'BAD_COMMAND',
        `"since" (${stated.since}) cannot be after the revocation was made (${revocation.created})`,
      );
    }
    since = Date.parse(stated.since);
  }
  const data = { fingerprint: key.fingerprint, since: new Date(since).toISOString(), reason };
  return { type: 'SigningKeyRevoked', v: 1, data };
}

/**
 * The certification changes a key block brings: new, valid certifications by authorizers (not
 * the owner) and revocations of recorded ones — also by a certifier who has since left or lost
 * the role (the revocation is evidence). A certification that does not verify, or SHA-1, is refused.
 */
function certificationEvents(
  state: TrustState,
  fpr: string,
  owner: string,
  recorded: SigningKeyState['certifications'],
  key: KeyInput,
): DomainEvent[] {
  const out: DomainEvent[] = [];
  for (const cert of key.certifications) {
    if (cert.valid === false) {
      refuse(
        'BAD_CERTIFICATION',
        `the certification by ${cert.certifier} on ${fpr} does not verify; ` +
          'export the key again from the keyring that made it',
      );
    }
    if (cert.certifier === owner) continue; // the owner's own signature (MyBB step 2) is not an authorization
    const known = recorded[cert.certifier];
    if (cert.revoked) {
      if (known && !known.revoked && known.via === 'certification') {
        const data = { fingerprint: fpr, certifier: cert.certifier, via: 'certification' } as const;
        out.push({ type: 'SigningKeyCertificationRevoked', v: 1, data });
      }
      continue;
    }
    if (!hasRole(state, cert.certifier, AUTHORIZER_ROLES)) continue; // only leaders/management authorize
    if (cert.digest === 'SHA1' || cert.digest === 'MD5' || cert.digest === 'RIPEMD160') {
      refuse(
        'SHA1_REFUSED',
        `the certification by ${cert.certifier} uses ${cert.digest}; certify with cert-digest-algo SHA512`,
      );
    }
    if (known && !known.revoked) continue;
    out.push({
      type: 'SigningKeyCertified',
      v: 1,
      data: { fingerprint: fpr, certifier: cert.certifier, via: 'certification', certifiedAt: cert.created },
    });
  }
  return out;
}

/**
 * Signature continuity: after the primary events, every live signing key whose count of valid
 * authorizations crossed the policy's threshold gets SigningKeyAuthorized or
 * SigningKeyAuthorizationLost, by the log.
 */
function continuity(state: TrustState, drafts: EventDraft[], now: Date, cause: string): EventDraft[] {
  if (!cause) return [];
  const after = cloneForDecision(state);
  drafts.forEach((d, i) => evolve(after, placeEvent(d, state.size + i, now.toISOString())));
  const out: EventDraft[] = [];
  const required = state.policy.authorizationsRequired;
  for (const key of after.signingKeys.values()) {
    if (key.retiredAt || key.revokedSince) continue;
    const valid = validAuthorizers(after, key);
    if (!key.authorized && valid.length >= required) {
      const data = { fingerprint: key.fingerprint, authorizedBy: valid };
      out.push(draftOf({ type: 'SigningKeyAuthorized', v: 1, data }, signingKeyStream(key.fingerprint), 'log', null));
    } else if (key.authorized && valid.length < required) {
      const data = { fingerprint: key.fingerprint, valid: valid.length, required, reason: cause };
      const lost: DomainEvent = { type: 'SigningKeyAuthorizationLost', v: 1, data };
      out.push(draftOf(lost, signingKeyStream(key.fingerprint), 'log', null));
    }
  }
  return out;
}

/** The signer must be a usable signing key now, and the signature made while it was usable. */
function requireUsable(state: TrustState, signer: string, signatureCreated: string, now: Date): SigningKeyState {
  const key = signingKey(state, signer);
  const { status, reason } = keyStatus(state, key, now);
  switch (status) {
    case 'active':
      break;
    case 'revoked':
      return refuse('KEY_REVOKED', `the signing key is ${reason}`);
    case 'retired':
      return refuse(
        'KEY_RETIRED',
        `the signing key was retired (${key.retiredAt}); its earlier signatures stay valid, new ones are refused`,
      );
    case 'pending':
    case 'insufficient-authorizations':
      return refuse('KEY_NOT_AUTHORIZED', `the signing key is not authorized: ${reason}`);
    case 'awaiting-announcement':
    case 'waiting':
      return refuse('KEY_NOT_YET_ACTIVE', `the signing key cannot sign yet: ${reason}`);
  }
  const created = Date.parse(signatureCreated);
  if (created > now.getTime() + state.policy.commandWindowSeconds * 1000) {
    return refuse(
      'FUTURE_SIGNATURE',
      `the signature claims to be made at ${signatureCreated}, after the log's time ${now.toISOString()}`,
    );
  }
  const from = usableFrom(state, key)!;
  if (created < Date.parse(from)) {
    return refuse(
      'KEY_NOT_YET_ACTIVE',
      `the signature was made at ${signatureCreated}, before the key became usable at ${from}`,
    );
  }
  return key;
}

/** True when `text` may name a package, a module or a version (what a publication is checked against). */
export function isPackageName(text: string): boolean {
  return NAME.test(text);
}

function checkName(what: string, value: string): void {
  if (!NAME.test(value)) refuse('BAD_PACKAGE', `a ${what} is 1-128 letters, digits, ".", "_", "+" or "-"`);
}

/** Decides the publication of a detached package signature (already verified, SHA-512). */
export function decidePackageSignature(state: TrustState, input: VerifiedPackageSignature, now: Date): EventDraft[] {
  checkName('package name', input.package);
  checkName('version', input.version);
  requireUsable(state, input.signer, input.signatureCreated, now);
  if (state.published.has(packageSignatureKey(input))) {
    refuse('ALREADY_PUBLISHED', `${input.package} ${input.version} is already published with a signature by this key`);
  }
  const event: DomainEvent = { type: 'PackageSignaturePublished', v: 1, data: { ...input } };
  return [draftOf(event, `package/${input.package}`, input.signer, null)];
}

export interface VerifiedModuleSignature {
  readonly module: string;
  readonly version: string;
  readonly signer: string;
  readonly signatureCreated: string;
  /** The verified clear-signed text (the module.sig body). */
  readonly text: string;
  readonly moduleSig: string;
}

/** Decides the publication of a FreePBX module.sig whose clear signature verified. */
export function decideModuleSignature(state: TrustState, input: VerifiedModuleSignature, now: Date): EventDraft[] {
  checkName('module name', input.module);
  checkName('version', input.version);
  const { hashes } = parseModuleSig(input.text);
  requireUsable(state, input.signer, input.signatureCreated, now);
  if (state.published.has(moduleSignatureKey(input.module, input.version, textDigest(input.moduleSig)))) {
    refuse('ALREADY_PUBLISHED', `${input.module} ${input.version} is already published with this module.sig`);
  }
  const data = {
    module: input.module,
    version: input.version,
    signer: input.signer,
    signatureCreated: input.signatureCreated,
    hashes,
    moduleSig: input.moduleSig,
  };
  return [draftOf({ type: 'ModuleSignaturePublished', v: 1, data }, `module/${input.module}`, input.signer, null)];
}
