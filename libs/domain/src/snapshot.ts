import { type JsonValue, canonicalize } from './canonical-json.js';
import { DomainError } from './errors.js';
import { type TrustState, keyStatus, packageSignatureValid, usableFrom } from './state.js';

// The trust snapshot: what a PBX or any package consumer needs to verify signatures offline —
// every listed signing key with its armored key and validity windows, and every published
// signature revoked since — as one deterministic document (RFC 8785) at a checkpoint, signed by
// the log's key. The same state, checkpoint and times always give the same bytes.

export const SNAPSHOT_TYPE = 'signet-trust-snapshot';

export interface SnapshotKey {
  readonly fingerprint: string;
  readonly username: string;
  /** The member who added it. */
  readonly owner: string;
  /** The armored public key as logged. */
  readonly key: string;
  /** Status at `issuedAt`. */
  readonly status: string;
  /** It may sign from this time (max(added, announced) + waiting period); null: never became usable. */
  readonly activeFrom: string | null;
  readonly retiredAt: string | null;
  /** Revoked as compromised: signatures from this time on are invalid. */
  readonly compromisedSince: string | null;
  /** Lost its authorizations at this time and is not re-authorized (continuity). */
  readonly suspendedSince: string | null;
}

export interface TrustSnapshot {
  readonly type: typeof SNAPSHOT_TYPE;
  readonly v: 1;
  readonly origin: string;
  /** The tree size it describes (its checkpoint's size). */
  readonly version: number;
  /** The signed checkpoint (C2SP note) of that size. */
  readonly checkpoint: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
  readonly signingKeys: readonly SnapshotKey[];
  readonly revokedPackageSignatures: readonly { package: string; version: string; artifactSha512: string; signer: string; seq: number }[];
  readonly revokedModuleSignatures: readonly { module: string; version: string; signer: string; seq: number }[];
}

/** A snapshot and the log's detached Ed25519 signature over its canonical bytes. */
export interface SignedSnapshot {
  readonly snapshot: TrustSnapshot;
  readonly signature: { readonly alg: 'Ed25519'; readonly keyName: string; readonly keyHash: string; readonly value: string };
}

/** The snapshot of a state (the first `version` events) at `issuedAt`. */
export function buildSnapshot(state: TrustState, checkpoint: string, issuedAt: Date, expiresAt: Date): TrustSnapshot {
  const keys = [...state.signingKeys.values()]
    .filter((k) => k.authorizedAt !== null)
    .sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : 1))
    .map((k) => ({
      fingerprint: k.fingerprint,
      username: k.username,
      owner: k.owner,
      key: k.key,
      status: keyStatus(state, k, issuedAt).status,
      activeFrom: usableFrom(state, k),
      retiredAt: k.retiredAt,
      compromisedSince: k.revokedSince,
      suspendedSince: k.authorized ? null : k.lostAt,
    }));
  return {
    type: SNAPSHOT_TYPE,
    v: 1,
    origin: state.origin,
    version: state.size,
    checkpoint,
    issuedAt: issuedAt.toISOString(),
    expiresAt: expiresAt.toISOString(),
    signingKeys: keys,
    revokedPackageSignatures: state.packageSignatures
      .filter((s) => !packageSignatureValid(state, s).valid)
      .map((s) => ({ package: s.package, version: s.version, artifactSha512: s.artifactSha512, signer: s.signer, seq: s.seq })),
    revokedModuleSignatures: state.moduleSignatures.filter((s) => !packageSignatureValid(state, s).valid).map((s) => ({ module: s.module, version: s.version, signer: s.signer, seq: s.seq })),
  };
}

/** The bytes the log signs: the snapshot's RFC 8785 form. */
export function snapshotSigningBytes(snapshot: TrustSnapshot): Uint8Array {
  return new TextEncoder().encode(canonicalize(snapshot as unknown as JsonValue));
}

/** The served document: `{signature, snapshot}` in RFC 8785 form. */
export function encodeSignedSnapshot(signed: SignedSnapshot): string {
  return canonicalize(signed as unknown as JsonValue);
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Reads a served document's shape (not its signature): SNAPSHOT_MALFORMED when it is not one. */
export function parseSignedSnapshot(text: string): SignedSnapshot {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DomainError('SNAPSHOT_MALFORMED', 'the trust snapshot is not JSON');
  }
  const v = value as Partial<SignedSnapshot>;
  const s = v?.snapshot as Partial<TrustSnapshot> | undefined;
  const sig = v?.signature;
  const ok =
    !!s &&
    !!sig &&
    s.type === SNAPSHOT_TYPE &&
    s.v === 1 &&
    typeof s.origin === 'string' &&
    Number.isSafeInteger(s.version) &&
    typeof s.checkpoint === 'string' &&
    typeof s.issuedAt === 'string' &&
    ISO.test(s.issuedAt) &&
    typeof s.expiresAt === 'string' &&
    ISO.test(s.expiresAt) &&
    Array.isArray(s.signingKeys) &&
    s.signingKeys.every((k) => typeof k?.fingerprint === 'string' && typeof k.key === 'string') &&
    Array.isArray(s.revokedPackageSignatures) &&
    Array.isArray(s.revokedModuleSignatures) &&
    sig.alg === 'Ed25519' &&
    typeof sig.keyName === 'string' &&
    typeof sig.keyHash === 'string' &&
    typeof sig.value === 'string';
  if (!ok) throw new DomainError('SNAPSHOT_MALFORMED', 'the document is not a Signet trust snapshot (type, version, fields)');
  return v as SignedSnapshot;
}

/**
 * Whether a signing key could sign at `created`: usable from `activeFrom`, and not retired,
 * compromised or suspended at or before that time. Null when it could, else why not.
 */
export function keyRefusal(key: SnapshotKey, created: Date): { code: string; reason: string } | null {
  const t = created.getTime();
  if (key.compromisedSince && t >= Date.parse(key.compromisedSince)) return { code: 'KEY_REVOKED', reason: `the key of ~${key.username} is revoked as compromised since ${key.compromisedSince}` };
  if (!key.activeFrom || t < Date.parse(key.activeFrom)) return { code: 'KEY_NOT_YET_ACTIVE', reason: `the key of ~${key.username} was not usable yet at ${created.toISOString()}${key.activeFrom ? ` (usable from ${key.activeFrom})` : ''}` };
  if (key.retiredAt && t >= Date.parse(key.retiredAt)) return { code: 'KEY_RETIRED', reason: `the key of ~${key.username} was retired on ${key.retiredAt}` };
  if (key.suspendedSince && t >= Date.parse(key.suspendedSince)) return { code: 'KEY_NOT_AUTHORIZED', reason: `the key of ~${key.username} has lacked its authorizations since ${key.suspendedSince}` };
  return null;
}
