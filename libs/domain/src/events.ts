import type { JsonValue } from './canonical-json.js';
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
  | ModuleSignaturePublished;

export type Role = 'member' | 'leader' | 'management' | 'security';
export const ROLES: readonly Role[] = ['member', 'leader', 'management', 'security'];

interface E<T extends string, D> {
  readonly type: T;
  readonly v: 1;
  readonly data: D;
}

/** Seq 0: the log's origin, the verifier key its checkpoints are signed with, and its policy. */
export type LogCreated = E<'LogCreated', { readonly origin: string; readonly verifierKey: string; readonly policy: Policy }>;
export type MemberAdded = E<'MemberAdded', { readonly fingerprint: string; readonly username: string; readonly role: Role; readonly key: string }>;
export type MemberRoleChanged = E<'MemberRoleChanged', { readonly fingerprint: string; readonly role: Role; readonly previousRole: Role }>;
export type MemberRemoved = E<'MemberRemoved', { readonly fingerprint: string }>;
export type SigningKeyAdded = E<'SigningKeyAdded', { readonly fingerprint: string; readonly owner: string; readonly username: string; readonly key: string; readonly algorithm: string; readonly bits: number | null; readonly userIds: readonly string[] }>;
/** A leader/management certification: an OpenPGP certification in the key block, or a command. */
export type SigningKeyCertified = E<'SigningKeyCertified', { readonly fingerprint: string; readonly certifier: string; readonly via: 'certification' | 'command'; readonly certifiedAt: string }>;
export type SigningKeyCertificationRevoked = E<'SigningKeyCertificationRevoked', { readonly fingerprint: string; readonly certifier: string; readonly via: 'certification' | 'command' }>;
/** The key reached the required number of valid authorizations. */
export type SigningKeyAuthorized = E<'SigningKeyAuthorized', { readonly fingerprint: string; readonly authorizedBy: readonly string[] }>;
/** Continuity: the key fell below the required number of valid authorizations. */
export type SigningKeyAuthorizationLost = E<'SigningKeyAuthorizationLost', { readonly fingerprint: string; readonly valid: number; readonly required: number; readonly reason: string }>;
export type AnnouncementRecorded = E<'AnnouncementRecorded', { readonly fingerprint: string; readonly kind: 'ADDING' | 'REMOVING'; readonly url: string; readonly text: string }>;
export type SigningKeyRetired = E<'SigningKeyRetired', { readonly fingerprint: string; readonly reason: string }>;
/** Compromise: every signature by the key logged from `since` on is invalid. */
export type SigningKeyRevoked = E<'SigningKeyRevoked', { readonly fingerprint: string; readonly since: string; readonly reason: string }>;
export type PackageSignaturePublished = E<'PackageSignaturePublished', {
  readonly package: string;
  readonly version: string;
  readonly artifactSha512: string;
  readonly artifactSize: number;
  readonly signer: string;
  readonly signatureCreated: string;
  readonly signature: string;
}>;

/** A FreePBX module.sig, clear-signed by a usable key: the module's file hashes as signed. */
export type ModuleSignaturePublished = E<'ModuleSignaturePublished', {
  readonly module: string;
  readonly version: string;
  readonly signer: string;
  readonly signatureCreated: string;
  readonly hashes: Readonly<Record<string, string>>;
  /** The module.sig exactly as clear-signed. */
  readonly moduleSig: string;
}>;

export type EventType = DomainEvent['type'];

/** What lets an auditor re-check a decision alone: the exact bytes the actor signed. */
export interface Evidence {
  readonly command: string;
  readonly signature: string;
  readonly [more: string]: JsonValue;
}

/** An event as the log stores it; its RFC 8785 form is the Merkle leaf. */
export interface EventEnvelope {
  readonly seq: number;
  readonly type: string;
  readonly v: number;
  /** The log's clock at sequencing, ISO 8601 UTC with milliseconds. */
  readonly recordedAt: string;
  /** The aggregate the event belongs to, e.g. `signing-key/<fingerprint>`. */
  readonly stream: string;
  /** The fingerprint of the acting key, or `log` for the log's own facts. */
  readonly actor: string;
  readonly data: JsonValue;
  readonly evidence: Evidence | null;
}

/** An event before the sequencer gives it a place and a time. */
export type EventDraft = Omit<EventEnvelope, 'seq' | 'recordedAt'>;

/** A draft of a known event type. */
export function draftOf(event: DomainEvent, stream: string, actor: string, evidence: Evidence | null): EventDraft {
  return { type: event.type, v: event.v, stream, actor, data: event.data as unknown as JsonValue, evidence };
}
