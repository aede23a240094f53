import { type JsonValue, canonicalize } from './canonical-json.js';
import { DomainError } from './errors.js';
import { type SigningKeyState, type TrustState, keyStatus, usableFrom } from './state.js';

// The trust snapshot: what a PBX or any package consumer needs to verify signatures offline —
// every listed signing key with its armored key and validity windows, and every published
// signature revoked since — as one deterministic document (RFC 8785) at a checkpoint, signed by
// the log's key. The same state, checkpoint and times always give the same bytes.

export const SNAPSHOT_TYPE = 'signet-trust-snapshot';
/** 2: published signatures listed (a signature is judged by the log's record of it), not only revoked ones. */
export const SNAPSHOT_VERSION = 2;

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
  readonly v: typeof SNAPSHOT_VERSION;
  readonly origin: string;
  /** The tree size it describes (its checkpoint's size). */
  readonly version: number;
  /** The signed checkpoint (C2SP note) of that size. */
  readonly checkpoint: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
  readonly signingKeys: readonly SnapshotKey[];
  /**
   * Every package signature the log published, in log order: a signature is good only if it is
   * one of these (same signer, creation time and artifact) and was logged before any compromise.
   */
  readonly packageSignatures: readonly SnapshotPackageSignature[];
  /** Every module.sig the log published, by its SHA-256, in log order. */
  readonly moduleSignatures: readonly SnapshotModuleSignature[];
}

/** What the log recorded of a published signature: who, made when, logged when. */
export interface LoggedSignature {
  readonly signer: string;
  readonly signatureCreated: string;
  /** When the log appended it (its recordedAt): the time that counts against a compromise. */
  readonly loggedAt: string;
  readonly seq: number;
}
export interface SnapshotPackageSignature extends LoggedSignature {
  readonly package: string;
  readonly version: string;
  readonly artifactSha512: string;
}
export interface SnapshotModuleSignature extends LoggedSignature {
  readonly module: string;
  readonly version: string;
  readonly moduleSigSha256: string;
}

/** A snapshot and the log's detached Ed25519 signature over its canonical bytes. */
export interface SignedSnapshot {
  readonly snapshot: TrustSnapshot;
  readonly signature: {
    readonly alg: 'Ed25519';
    readonly keyName: string;
    readonly keyHash: string;
    readonly value: string;
  };
}

/** A signing key as the snapshot (and every verdict on its signatures) sees it at `at`. */
export function snapshotKey(state: TrustState, k: SigningKeyState, at: Date): SnapshotKey {
  return {
    fingerprint: k.fingerprint,
    username: k.username,
    owner: k.owner,
    key: k.key,
    status: keyStatus(state, k, at).status,
    activeFrom: usableFrom(state, k),
    retiredAt: k.retiredAt,
    compromisedSince: k.revokedSince,
    suspendedSince: k.authorized ? null : k.lostAt,
  };
}

/** The snapshot of a state (the first `version` events) at `issuedAt`. */
export function buildSnapshot(state: TrustState, checkpoint: string, issuedAt: Date, expiresAt: Date): TrustSnapshot {
  const keys = [...state.signingKeys.values()]
    .filter((k) => k.authorizedAt !== null)
    .sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : 1))
    .map((k) => snapshotKey(state, k, issuedAt));
  return {
    type: SNAPSHOT_TYPE,
    v: SNAPSHOT_VERSION,
    origin: state.origin,
    version: state.size,
    checkpoint,
    issuedAt: issuedAt.toISOString(),
    expiresAt: expiresAt.toISOString(),
    signingKeys: keys,
    packageSignatures: [...state.packageSignatures].map((s) => ({
      package: s.package,
      version: s.version,
      artifactSha512: s.artifactSha512,
      signer: s.signer,
      signatureCreated: s.signatureCreated,
      loggedAt: s.recordedAt,
      seq: s.seq,
    })),
    moduleSignatures: [...state.moduleSignatures].map((s) => ({
      module: s.module,
      version: s.version,
      moduleSigSha256: s.moduleSigSha256,
      signer: s.signer,
      signatureCreated: s.signatureCreated,
      loggedAt: s.recordedAt,
      seq: s.seq,
    })),
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
    s.v === SNAPSHOT_VERSION &&
    typeof s.origin === 'string' &&
    Number.isSafeInteger(s.version) &&
    typeof s.checkpoint === 'string' &&
    typeof s.issuedAt === 'string' &&
    ISO.test(s.issuedAt) &&
    typeof s.expiresAt === 'string' &&
    ISO.test(s.expiresAt) &&
    Array.isArray(s.signingKeys) &&
    s.signingKeys.every((k) => typeof k?.fingerprint === 'string' && typeof k.key === 'string') &&
    Array.isArray(s.packageSignatures) &&
    s.packageSignatures.every(
      (p) =>
        typeof p?.signer === 'string' &&
        typeof p.artifactSha512 === 'string' &&
        typeof p.signatureCreated === 'string' &&
        typeof p.loggedAt === 'string',
    ) &&
    Array.isArray(s.moduleSignatures) &&
    s.moduleSignatures.every(
      (m) => typeof m?.signer === 'string' && typeof m.moduleSigSha256 === 'string' && typeof m.loggedAt === 'string',
    ) &&
    sig.alg === 'Ed25519' &&
    typeof sig.keyName === 'string' &&
    typeof sig.keyHash === 'string' &&
    typeof sig.value === 'string';
  if (!ok)
    throw new DomainError('SNAPSHOT_MALFORMED', 'the document is not a Signet trust snapshot (type, version, fields)');
  return v as SignedSnapshot;
}

/**
 * Whether a signing key could sign at `created`: usable from `activeFrom`, and not retired,
 * compromised or suspended at or before that time. Null when it could, else why not.
 */
export function keyRefusal(key: SnapshotKey, created: Date): Refusal | null {
  const t = created.getTime();
  if (key.compromisedSince && t >= Date.parse(key.compromisedSince))
    return {
      code: 'KEY_REVOKED',
      reason: `the key of ~${key.username} is revoked as compromised since ${key.compromisedSince}`,
    };
  if (!key.activeFrom || t < Date.parse(key.activeFrom))
    return {
      code: 'KEY_NOT_YET_ACTIVE',
      reason: `the key of ~${key.username} was not usable yet at ${created.toISOString()}${key.activeFrom ? ` (usable from ${key.activeFrom})` : ''}`,
    };
  if (key.retiredAt && t >= Date.parse(key.retiredAt))
    return { code: 'KEY_RETIRED', reason: `the key of ~${key.username} was retired on ${key.retiredAt}` };
  if (key.suspendedSince && t >= Date.parse(key.suspendedSince))
    return {
      code: 'KEY_NOT_AUTHORIZED',
      reason: `the key of ~${key.username} has lacked its authorizations since ${key.suspendedSince}`,
    };
  return null;
}

export type Refusal = { readonly code: SignatureRefusalCode; readonly reason: string };
export type SignatureRefusalCode =
  | 'KEY_REVOKED'
  | 'KEY_NOT_YET_ACTIVE'
  | 'KEY_RETIRED'
  | 'KEY_NOT_AUTHORIZED'
  | 'NOT_PUBLISHED';

/**
 * The verdict on one signature that verified cryptographically, made at `created` by `key`, and
 * `logged` by the log (its record, or null when the log never published it). Good only if the
 * log published that signature, and not at or after the key's compromise: the log's time counts,
 * since whoever holds a stolen key can backdate a signature. A signature the log never published
 * gets the reason its key could not have made it then, or NOT_PUBLISHED. The server (POST
 * /verify), the client (snapshot) and the signature listings all judge by this.
 */
export function signatureRefusal(
  key: SnapshotKey,
  created: Date,
  logged: { readonly loggedAt: string } | null,
): Refusal | null {
  if (logged === null) {
    const refusal = keyRefusal(key, created);
    if (refusal) return refusal;
    return {
      code: 'NOT_PUBLISHED',
      reason: `this signature by ~${key.username} (made at ${created.toISOString()}) was never published in the log`,
    };
  }
  if (key.compromisedSince && Date.parse(logged.loggedAt) >= Date.parse(key.compromisedSince)) {
    return {
      code: 'KEY_REVOKED',
      reason: `the key of ~${key.username} is revoked as compromised since ${key.compromisedSince}; this signature was logged at ${logged.loggedAt}`,
    };
  }
  return null;
}

/**
 * The verdict on a module.sig whose clear signature verified. One the log published is judged by
 * its record, as a package signature is. One it did not publish is judged by the time it claims —
 * FreePBX modules travel with their module.sig — except that a compromised key vouches for none
 * (FreePBX: "all modules signed by that key will be disabled"): its holder can backdate.
 */
export function moduleSignatureRefusal(
  key: SnapshotKey,
  created: Date,
  logged: { readonly loggedAt: string } | null,
): Refusal | null {
  if (logged) return signatureRefusal(key, created, logged);
  if (key.compromisedSince) {
    return {
      code: 'KEY_REVOKED',
      reason: `the key of ~${key.username} is revoked as compromised since ${key.compromisedSince}, and the log never published this module.sig, so the time it claims (${created.toISOString()}) cannot be trusted`,
    };
  }
  return keyRefusal(key, created);
}

/** The log's record of a package signature (same signer, creation time and artifact), or null. */
export function findPackageSignature<T extends { signer: string; signatureCreated: string; artifactSha512: string }>(
  published: Iterable<T>,
  signer: string,
  created: string,
  artifactSha512: string,
): T | null {
  for (const p of published)
    if (
      p.signer === signer &&
      p.artifactSha512 === artifactSha512 &&
      Date.parse(p.signatureCreated) === Date.parse(created)
    )
      return p;
  return null;
}

/** The verdict of the log on a detached package signature that verified: POST /verify. */
export function judgePackageSignature(
  state: TrustState,
  sig: { artifactSha512: string; signer: string; signatureCreated: string },
  now: Date,
) {
  const key = state.signingKeys.get(sig.signer);
  const record = findPackageSignature(state.packageSignatures, sig.signer, sig.signatureCreated, sig.artifactSha512);
  const published = state.packageSignatures.filter(
    (s) => s.signer === sig.signer && s.artifactSha512 === sig.artifactSha512,
  );
  if (!key)
    return {
      valid: false,
      code: 'UNKNOWN_SIGNER',
      reasons: [`key ${sig.signer} is no package signing key of this log`],
      published,
    };
  const refusal = signatureRefusal(
    snapshotKey(state, key, now),
    new Date(sig.signatureCreated),
    record && { loggedAt: record.recordedAt },
  );
  const reasons = refusal
    ? [refusal.reason]
    : [`published at seq ${record!.seq}, logged at ${record!.recordedAt} while the key of ~${key.username} was usable`];
  if (!record && published.length > 0)
    reasons.push(
      `the log has other signatures of this artifact by this key (seq ${published.map((p) => p.seq).join(', ')}), not this one`,
    );
  return { valid: refusal === null, code: refusal?.code ?? null, reasons, published };
}
