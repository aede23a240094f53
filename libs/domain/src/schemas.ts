import { z } from 'zod';
import { type EventEnvelope, type EventOf, type EventType, ROLES } from './events.js';

// One schema per event type and version, taken from the exact shapes the decisions write
// (decide.ts, outcomes.ts, genesis.ts): a leaf read from the log is attacker-controlled until it
// passes one. Strict: a field the type does not have is refused, never dropped, so what parses is
// what the leaf says (the canonical-form check compares the leaf with the same value).

const fingerprint = z.string().regex(/^[0-9A-F]{40}$/, 'a fingerprint is 40 upper-case hex digits');
/** Date.prototype.toISOString's form: every time the decisions write comes from it. */
const isoTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'a time is ISO 8601 UTC with milliseconds')
  .refine((s) => !Number.isNaN(Date.parse(s)), 'not a valid time');
const count = z.int().min(0);
const role = z.enum(ROLES);
const via = z.enum(['certification', 'command']);
const announcementKind = z.enum(['ADDING', 'REMOVING', 'SECURITY']);

const policy = z.strictObject({
  rootKeys: z.array(z.strictObject({ fingerprint, key: z.string() })),
  waitingPeriodDays: count,
  authorizationsRequired: count,
  rsaMinBits: count,
  allowEd25519: z.boolean(),
  signingKeyComment: z.string(),
  commandWindowSeconds: count,
});

/** The data of each event type at v1. */
const DATA_V1 = {
  LogCreated: z.strictObject({ origin: z.string(), verifierKey: z.string(), policy }),
  MemberAdded: z.strictObject({ fingerprint, username: z.string(), role, key: z.string() }),
  MemberRoleChanged: z.strictObject({ fingerprint, role, previousRole: role }),
  MemberRemoved: z.strictObject({ fingerprint }),
  SigningKeyAdded: z.strictObject({
    fingerprint,
    owner: fingerprint,
    username: z.string(),
    key: z.string(),
    algorithm: z.string(),
    // libs/pgp gives null when openpgp.js reports no size for an RSA key.
    bits: count.nullable(),
    userIds: z.array(z.string()),
  }),
  SigningKeyCertified: z.strictObject({ fingerprint, certifier: fingerprint, via, certifiedAt: isoTime }),
  SigningKeyCertificationRevoked: z.strictObject({ fingerprint, certifier: fingerprint, via }),
  SigningKeyAuthorized: z.strictObject({ fingerprint, authorizedBy: z.array(fingerprint) }),
  SigningKeyAuthorizationLost: z.strictObject({ fingerprint, valid: count, required: count, reason: z.string() }),
  AnnouncementRecorded: z.strictObject({
    fingerprint,
    kind: z.enum(['ADDING', 'REMOVING']),
    url: z.string(),
    text: z.string(),
  }),
  SigningKeyRetired: z.strictObject({ fingerprint, reason: z.string() }),
  SigningKeyRevoked: z.strictObject({ fingerprint, since: isoTime, reason: z.string() }),
  PackageSignaturePublished: z.strictObject({
    package: z.string(),
    version: z.string(),
    artifactSha512: z.string().regex(/^[0-9a-f]{128}$/, 'a SHA-512 is 128 lower-case hex digits'),
    artifactSize: count,
    signer: fingerprint,
    signatureCreated: isoTime,
    signature: z.string(),
  }),
  ModuleSignaturePublished: z.strictObject({
    module: z.string(),
    version: z.string(),
    signer: fingerprint,
    signatureCreated: isoTime,
    hashes: z.record(z.string(), z.string()),
    moduleSig: z.string(),
  }),
  AnnouncementPosted: z.strictObject({
    fingerprint,
    kind: announcementKind,
    channel: z.string(),
    url: z.string(),
    text: z.string(),
    cause: count,
  }),
  AnnouncementFailed: z.strictObject({
    fingerprint,
    kind: announcementKind,
    channel: z.string(),
    text: z.string(),
    error: z.string(),
    attempts: count,
    cause: count,
  }),
  ArchiveSnapshotTaken: z.strictObject({
    treeSize: count,
    listing: z.string(),
    raw: z.string(),
    keys: z.record(fingerprint, z.string()),
    triggers: z.array(
      z.strictObject({ url: z.string(), ok: z.boolean(), status: z.int().nullable(), error: z.string().nullable() }),
    ),
    cause: count,
  }),
  SigningKeyActivated: z.strictObject({ fingerprint, activeFrom: isoTime }),
  ContinuityAlertRaised: z.strictObject({
    fingerprint,
    username: z.string(),
    valid: count,
    required: count,
    reason: z.string(),
    cause: count,
  }),
} satisfies { readonly [T in EventType]: z.ZodType<EventOf<T>['data']> };

// The other direction, at compile time: each schema takes every value its type allows (a field
// added to a type and not to its schema would make the log refuse its own events).
type Mutable<T> = T extends readonly (infer U)[]
  ? Mutable<U>[]
  : T extends object
    ? { -readonly [K in keyof T]: Mutable<T[K]> }
    : T;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Accepts = {
  [T in EventType]: Mutable<EventOf<T>['data']> extends z.input<(typeof DATA_V1)[T]>
    ? Same<keyof EventOf<T>['data'], keyof z.input<(typeof DATA_V1)[T]>>
    : false;
};
const everyTypeAccepted: false extends Accepts[EventType] ? never : true = true;
void everyTypeAccepted;

const evidence = z.strictObject({ command: z.string(), signature: z.string() }).nullable();

// The envelope's own fields are checked with their reasons in parseEntry first; here they only
// need their types.
const placed = { seq: z.number(), recordedAt: z.string(), stream: z.string(), actor: z.string(), evidence };

function envelopeOf<T extends EventType>(type: T) {
  return z.strictObject({ ...placed, type: z.literal(type), v: z.literal(1), data: DATA_V1[type] });
}

// Spelled out type by type: TypeScript checks each schema's output against its own envelope.
const ENVELOPES_V1: { readonly [T in EventType]: z.ZodType<EventEnvelope<EventOf<T>>> } = {
  LogCreated: envelopeOf('LogCreated'),
  MemberAdded: envelopeOf('MemberAdded'),
  MemberRoleChanged: envelopeOf('MemberRoleChanged'),
  MemberRemoved: envelopeOf('MemberRemoved'),
  SigningKeyAdded: envelopeOf('SigningKeyAdded'),
  SigningKeyCertified: envelopeOf('SigningKeyCertified'),
  SigningKeyCertificationRevoked: envelopeOf('SigningKeyCertificationRevoked'),
  SigningKeyAuthorized: envelopeOf('SigningKeyAuthorized'),
  SigningKeyAuthorizationLost: envelopeOf('SigningKeyAuthorizationLost'),
  AnnouncementRecorded: envelopeOf('AnnouncementRecorded'),
  SigningKeyRetired: envelopeOf('SigningKeyRetired'),
  SigningKeyRevoked: envelopeOf('SigningKeyRevoked'),
  PackageSignaturePublished: envelopeOf('PackageSignaturePublished'),
  ModuleSignaturePublished: envelopeOf('ModuleSignaturePublished'),
  AnnouncementPosted: envelopeOf('AnnouncementPosted'),
  AnnouncementFailed: envelopeOf('AnnouncementFailed'),
  ArchiveSnapshotTaken: envelopeOf('ArchiveSnapshotTaken'),
  SigningKeyActivated: envelopeOf('SigningKeyActivated'),
  ContinuityAlertRaised: envelopeOf('ContinuityAlertRaised'),
};

const SCHEMAS: ReadonlyMap<string, z.ZodType<EventEnvelope>> = new Map(
  Object.entries(ENVELOPES_V1).map(([type, schema]) => [`${type}@1`, schema]),
);

const EVENT_TYPES: ReadonlySet<string> = new Set(Object.keys(DATA_V1));

/** True for the event types this version of the protocol knows (the database's `type` column is a string). */
export function isEventType(type: string): type is EventType {
  return EVENT_TYPES.has(type);
}

/**
 * Checks an envelope (attacker-controlled) against the schema of the type and version it claims:
 * the typed envelope, or a sentence naming the event type and the field that does not fit.
 */
export function checkEvent(type: string, v: number, envelope: unknown): { event: EventEnvelope } | { refusal: string } {
  const schema = SCHEMAS.get(`${type}@${v}`);
  if (!schema) {
    const why = isEventType(type) ? `has no version ${v}` : 'is not one this log knows';
    return { refusal: `the event type ${type} ${why}` };
  }
  const parsed = schema.safeParse(envelope);
  if (parsed.success) return { event: parsed.data };
  const issue = parsed.error.issues[0]!;
  // zod names unrecognized keys in its message, a wrong or missing field by its path.
  return { refusal: `a ${type} event's ${issue.path.join('.') || 'envelope'} is not valid: ${issue.message}` };
}
