import {
  DomainError,
  type SignedSnapshot,
  type SnapshotKey,
  type TrustSnapshot,
  parseSignedSnapshot,
  snapshotSigningBytes,
} from '@signet/domain/core';
import { type PublicKey, readPublicKey } from '@signet/pgp';
import { fromBase64, hash8, openCheckpoint, parseVerifierKey } from '@signet/tlog';

// Verifying a trust snapshot offline: the log's signature over its canonical bytes (with the
// verifier key the client pinned, never one the server hands out), the checkpoint inside it,
// and its freshness.

/** A snapshot whose signature, checkpoint and freshness were checked, with its keys ready to verify with. */
export class TrustedSnapshot {
  private keys: Promise<Map<string, { key: PublicKey; info: SnapshotKey }>> | null = null;
  private readonly parsed = new Map<string, Promise<{ key: PublicKey; info: SnapshotKey }>>();

  constructor(
    readonly snapshot: TrustSnapshot,
    /** The checkpoint's root hash. */
    readonly root: Uint8Array,
  ) {}

  /**
   * The keys that may have made a signature by `issuer` (a key ID): the one whose fingerprint
   * ends with it, parsed alone — or every key when none does (a signing subkey) or it is unknown.
   */
  async keysFor(issuer: string | null): Promise<{ key: PublicKey; info: SnapshotKey }[]> {
    const candidates = issuer ? this.snapshot.signingKeys.filter((k) => k.fingerprint.endsWith(issuer)) : [];
    if (candidates.length === 0) return [...(await this.publicKeys()).values()];
    return Promise.all(
      candidates.map((info) => {
        let key = this.parsed.get(info.fingerprint);
        if (!key) {
          key = readPublicKey(info.key).then(({ key: k }) => ({ key: k, info }));
          this.parsed.set(info.fingerprint, key);
        }
        return key;
      }),
    );
  }

  /** The snapshot's signing keys as OpenPGP keys, by fingerprint (parsed once). */
  publicKeys(): Promise<Map<string, { key: PublicKey; info: SnapshotKey }>> {
    this.keys ??= (async () => {
      const map = new Map<string, { key: PublicKey; info: SnapshotKey }>();
      for (const info of this.snapshot.signingKeys)
        map.set(info.fingerprint, { key: (await readPublicKey(info.key)).key, info });
      return map;
    })();
    return this.keys;
  }
}

export interface VerifyOptions {
  /** The time to judge freshness at (the host's clock by default). */
  readonly now?: Date;
  /** Tolerated clock difference for a snapshot issued "in the future". */
  readonly skewMs?: number;
  /** Skip the expiry check (audits of old snapshots). */
  readonly allowExpired?: boolean;
}

/**
 * Checks a served snapshot document against the pinned verifier key (`name+hash+base64`).
 * Refusals: SNAPSHOT_MALFORMED, SNAPSHOT_WRONG_KEY, SNAPSHOT_BAD_SIGNATURE,
 * SNAPSHOT_BAD_CHECKPOINT, SNAPSHOT_EXPIRED, SNAPSHOT_FROM_THE_FUTURE.
 */
export function verifySnapshot(
  document: string,
  verifierKey: string,
  options: VerifyOptions = {},
): { trusted: TrustedSnapshot; signed: SignedSnapshot } {
  const signed = parseSignedSnapshot(document);
  const verifier = parseVerifierKey(verifierKey);
  const { snapshot, signature } = signed;
  if (signature.keyName !== verifier.name || signature.keyHash !== hash8(verifier.keyHash)) {
    throw new DomainError(
      'SNAPSHOT_WRONG_KEY',
      `the snapshot is signed by ${signature.keyName}+${signature.keyHash}, not by the pinned key ${verifier.name}+${hash8(verifier.keyHash)}`,
    );
  }
  let sig: Uint8Array;
  try {
    sig = fromBase64(signature.value);
  } catch {
    throw new DomainError('SNAPSHOT_BAD_SIGNATURE', 'the snapshot signature is not base64');
  }
  if (!verifier.verify(snapshotSigningBytes(snapshot), sig))
    throw new DomainError('SNAPSHOT_BAD_SIGNATURE', 'the snapshot signature does not verify with the pinned key');
  let checkpoint;
  try {
    checkpoint = openCheckpoint(snapshot.checkpoint, verifier);
  } catch (error) {
    throw new DomainError(
      'SNAPSHOT_BAD_CHECKPOINT',
      `the snapshot's checkpoint does not verify: ${(error as Error).message}`,
    );
  }
  if (checkpoint.size !== snapshot.version || checkpoint.origin !== snapshot.origin) {
    throw new DomainError(
      'SNAPSHOT_BAD_CHECKPOINT',
      `the snapshot says version ${snapshot.version} of ${snapshot.origin}; its checkpoint is size ${checkpoint.size} of ${checkpoint.origin}`,
    );
  }
  const now = (options.now ?? new Date()).getTime();
  if (!options.allowExpired && Date.parse(snapshot.expiresAt) <= now) {
    throw new DomainError(
      'SNAPSHOT_EXPIRED',
      `the snapshot expired at ${snapshot.expiresAt}; fetch a fresh one (signet snapshot fetch)`,
    );
  }
  if (Date.parse(snapshot.issuedAt) > now + (options.skewMs ?? 10 * 60_000)) {
    throw new DomainError(
      'SNAPSHOT_FROM_THE_FUTURE',
      `the snapshot is issued at ${snapshot.issuedAt}, after this host's time; check the clock`,
    );
  }
  return { trusted: new TrustedSnapshot(snapshot, checkpoint.root), signed };
}
