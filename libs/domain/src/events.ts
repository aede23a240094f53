import type { Policy } from './policy.js';

/**
 * Every fact the log records. Names are past tense; a changed meaning gets a new `v`.
 * Fingerprints are 40 upper-case hex digits; times are ISO 8601 UTC.
 */
export type DomainEvent =
  | LogCreated
  | MemberAdded
  | MemberRoleChanged
  | MemberRemoved
  | SigningKeyAdded
  | SigningKeyCertified
  | SigningKeyCertificationRevoked
  | SigningKeyAuthorized
  | SigningKeyAuthorizationLost
  | AnnouncementRecorded
  | SigningKeyRetired
  | SigningKeyRevoked
  | PackageSignaturePublished
  | ModuleSignaturePublished
  | AnnouncementPosted
  | AnnouncementFailed
  | ArchiveSnapshotTaken
  | SigningKeyActivated
  | ContinuityAlertRaised;

export type Role = 'member' | 'leader' | 'management' | 'security';
export const ROLES: readonly Role[] = ['member', 'leader', 'management', 'security'];

interface E<T extends string, D> {
  readonly type: T;
  readonly v: 1;
  readonly data: D;
}

/** Seq 0: the log's origin, the verifier key its checkpoints are signed with, and its policy. */
export type LogCreated = E<
  'LogCreated',
  { readonly origin: string; readonly verifierKey: string; readonly policy: Policy }
>;
export type MemberAdded = E<
  'MemberAdded',
  { readonly fingerprint: string; readonly username: string; readonly role: Role; readonly key: string }
>;
export type MemberRoleChanged = E<
  'MemberRoleChanged',
  { readonly fingerprint: string; readonly role: Role; readonly previousRole: Role }
>;
export type MemberRemoved = E<'MemberRemoved', { readonly fingerprint: string }>;
export type SigningKeyAdded = E<
  'SigningKeyAdded',
  {
    readonly fingerprint: string;
    readonly owner: string;
    readonly username: string;
    readonly key: string;
    readonly algorithm: string;
    readonly bits: number | null;
    readonly userIds: readonly string[];
  }
>;
/** A leader/management certification: an OpenPGP certification in the key block, or a command. */
export type SigningKeyCertified = E<
  'SigningKeyCertified',
  {
    readonly fingerprint: string;
    readonly certifier: string;
    readonly via: 'certification' | 'command';
    readonly certifiedAt: string;
  }
>;
export type SigningKeyCertificationRevoked = E<
  'SigningKeyCertificationRevoked',
  { readonly fingerprint: string; readonly certifier: string; readonly via: 'certification' | 'command' }
>;
/** The key reached the required number of valid authorizations. */
export type SigningKeyAuthorized = E<
  'SigningKeyAuthorized',
  { readonly fingerprint: string; readonly authorizedBy: readonly string[] }
>;
/** Continuity: the key fell below the required number of valid authorizations. */
export type SigningKeyAuthorizationLost = E<
  'SigningKeyAuthorizationLost',
  { readonly fingerprint: string; readonly valid: number; readonly required: number; readonly reason: string }
>;
export type AnnouncementRecorded = E<
  'AnnouncementRecorded',
  { readonly fingerprint: string; readonly kind: 'ADDING' | 'REMOVING'; readonly url: string; readonly text: string }
>;
export type SigningKeyRetired = E<'SigningKeyRetired', { readonly fingerprint: string; readonly reason: string }>;
/** Compromise: every signature by the key logged from `since` on is invalid. */
export type SigningKeyRevoked = E<
  'SigningKeyRevoked',
  { readonly fingerprint: string; readonly since: string; readonly reason: string }
>;
export type PackageSignaturePublished = E<
  'PackageSignaturePublished',
  {
    readonly package: string;
    readonly version: string;
    readonly artifactSha512: string;
    readonly artifactSize: number;
    readonly signer: string;
    readonly signatureCreated: string;
    readonly signature: string;
  }
>;

/** A FreePBX module.sig, clear-signed by a usable key: the module's file hashes as signed. */
export type ModuleSignaturePublished = E<
  'ModuleSignaturePublished',
  {
    readonly module: string;
    readonly version: string;
    readonly signer: string;
    readonly signatureCreated: string;
    readonly hashes: Readonly<Record<string, string>>;
    /** The module.sig exactly as clear-signed. */
    readonly moduleSig: string;
  }
>;

// Workers' outcomes (actor `log`). `cause` is the seq of the event the worker acted on; each
// outcome has a key that may occur once in the log (`outcomeKey`, enforced by a unique index).

export type AnnouncementKind = 'ADDING' | 'REMOVING' | 'SECURITY';

/** An announcement posted on a channel (`atom`, `webhook`, `mastodon`): the one the waiting period counts from. */
export type AnnouncementPosted = E<
  'AnnouncementPosted',
  {
    readonly fingerprint: string;
    readonly kind: AnnouncementKind;
    readonly channel: string;
    readonly url: string;
    readonly text: string;
    readonly cause: number;
  }
>;
/** A channel refused the announcement until the retries ran out. */
export type AnnouncementFailed = E<
  'AnnouncementFailed',
  {
    readonly fingerprint: string;
    readonly kind: AnnouncementKind;
    readonly channel: string;
    readonly text: string;
    readonly error: string;
    readonly attempts: number;
    readonly cause: number;
  }
>;
/** The listing as it stood at `treeSize`, stored content-addressed (SHA-256, hex). */
export type ArchiveSnapshotTaken = E<
  'ArchiveSnapshotTaken',
  {
    readonly treeSize: number;
    readonly listing: string;
    readonly raw: string;
    /** Key pages that changed since the previous snapshot. */
    readonly keys: Readonly<Record<string, string>>;
    readonly triggers: readonly {
      readonly url: string;
      readonly ok: boolean;
      readonly status: number | null;
      readonly error: string | null;
    }[];
    readonly cause: number;
  }
>;
/** The key's waiting period is over: it may sign from `activeFrom`. Once per key. */
export type SigningKeyActivated = E<
  'SigningKeyActivated',
  { readonly fingerprint: string; readonly activeFrom: string }
>;
/** A key lost authorization (the loss at seq `cause`): announced as a security notice. */
export type ContinuityAlertRaised = E<
  'ContinuityAlertRaised',
  {
    readonly fingerprint: string;
    readonly username: string;
    readonly valid: number;
    readonly required: number;
    readonly reason: string;
    readonly cause: number;
  }
>;

export type EventType = DomainEvent['type'];
/** The event of a type, e.g. `EventOf<'MemberAdded'>`. */
export type EventOf<T extends EventType> = Extract<DomainEvent, { readonly type: T }>;

/** What lets an auditor re-check a decision alone: the exact bytes the actor signed. */
export interface Evidence {
  readonly command: string;
  readonly signature: string;
}

/** Where and by whom an event was recorded, whatever its type. */
interface Placement {
  /** The aggregate the event belongs to, e.g. `signing-key/<fingerprint>`. */
  readonly stream: string;
  /** The fingerprint of the acting key, or `log` for the log's own facts. */
  readonly actor: string;
  readonly evidence: Evidence | null;
}

interface Sequenced {
  readonly seq: number;
  /** The log's clock at sequencing, ISO 8601 UTC with milliseconds. */
  readonly recordedAt: string;
}

/**
 * An event as the log stores it; its RFC 8785 form is the Merkle leaf. A union over the event
 * types (distributed over `E`), so testing `type` narrows `data`.
 */
export type EventEnvelope<E extends DomainEvent = DomainEvent> = E extends DomainEvent
  ? Sequenced & Placement & E
  : never;

/** An event before the sequencer gives it a place and a time. */
export type EventDraft<E extends DomainEvent = DomainEvent> = E extends DomainEvent ? Placement & E : never;

/**
 * The envelope of `draft` at `seq` and `recordedAt`. Its fields written out rather than spread:
 * every append and fold makes one, and a literal of one shape is cheaper to make and to read than
 * a spread of drafts of many shapes (the spread was a fifth of the sequencer's fold, profiled).
 */
export function placeEvent(draft: EventDraft, seq: number, recordedAt: string): EventEnvelope {
  return {
    type: draft.type,
    v: draft.v,
    stream: draft.stream,
    actor: draft.actor,
    data: draft.data,
    evidence: draft.evidence,
    seq,
    recordedAt,
  } as EventEnvelope;
}

/** A draft of a known event type. */
export function draftOf(event: DomainEvent, stream: string, actor: string, evidence: Evidence | null): EventDraft {
  return { ...event, stream, actor, evidence };
}

/**
 * The key an outcome may have once in the log (null for events that are not outcomes): a
 * retried or re-dispatched job finds its outcome already there instead of appending another.
 */
export function outcomeKey(type: string, data: unknown): string | null {
  const d = data as Record<string, unknown>;
  switch (type) {
    case 'AnnouncementPosted':
    case 'AnnouncementFailed':
      return `announce/${String(d.channel)}/${String(d.cause)}`;
    case 'ArchiveSnapshotTaken':
      return `archive/${String(d.cause)}`;
    case 'SigningKeyActivated':
      return `activate/${String(d.fingerprint)}`;
    case 'ContinuityAlertRaised':
      return `continuity/${String(d.cause)}`;
    default:
      return null;
  }
}
