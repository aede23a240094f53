import * as openpgp from 'openpgp';
import { DomainError, type RevocationFacts } from '@signet/domain/core';
import { keyRevocation } from './revocation.js';

// openpgp.js behind a small surface that speaks in facts (fingerprints, times, digests) the
// pure domain can decide on. Everything passed in here is attacker-controlled: sizes are capped
// before parsing and every parser failure becomes a typed DomainError.

export type PublicKey = openpgp.PublicKey;

export const MAX_ARMORED_KEY = 256 * 1024;
export const MAX_ARMORED_SIGNATURE = 16 * 1024;

const HASH_NAMES: Record<number, string> = {
  1: 'MD5',
  2: 'SHA1',
  3: 'RIPEMD160',
  8: 'SHA256',
  9: 'SHA384',
  10: 'SHA512',
  11: 'SHA224',
  12: 'SHA3-256',
  14: 'SHA3-512',
};

export function hashName(id: number): string {
  return HASH_NAMES[id] ?? `hash-${id}`;
}

export interface UserIdFacts {
  readonly userId: string;
  readonly name: string;
  readonly email: string;
  readonly comment: string;
}

export interface KeyFacts {
  /** 40 upper-case hex digits. */
  readonly fingerprint: string;
  readonly algorithm: 'rsa' | 'ed25519' | 'ecdsa' | 'dsa' | 'other';
  readonly bits: number | null;
  readonly created: string;
  readonly userIds: readonly UserIdFacts[];
  /** The key as openpgp.js re-armors it (no comment or version headers). */
  readonly armored: string;
  /** Revoked by its own key (a key revocation certificate is included). */
  readonly selfRevoked: boolean;
  /** Digests of the self-signatures binding the user IDs. */
  readonly selfSignatureDigests: readonly string[];
  /** The key's own revocation (`gpg --gen-revoke`, imported), when one verifies. */
  readonly revocation: RevocationFacts | null;
}

export interface CertificationFacts {
  /** Fingerprint of the key that made the certification (a third-party signature, `gpg --sign-key`). */
  readonly certifier: string;
  readonly userId: string;
  readonly created: string;
  readonly digest: string;
  /** Revoked by the certifier (`gpg --quick-revoke-sig`). */
  readonly revoked: boolean;
  /** False when its signature does not verify (only reported with `includeInvalid`). */
  readonly valid: boolean;
}

export interface SignatureFacts {
  readonly signer: string;
  readonly created: string;
  readonly digest: string;
}

const upper = (fpr: string) => fpr.toUpperCase();

function algorithmOf(key: PublicKey): { algorithm: KeyFacts['algorithm']; bits: number | null } {
  const info = key.getAlgorithmInfo() as { algorithm: string; bits?: number; curve?: string };
  if (info.algorithm.startsWith('rsa')) return { algorithm: 'rsa', bits: info.bits ?? null };
  if (info.algorithm === 'ed25519' || (info.algorithm === 'eddsaLegacy' && info.curve === 'ed25519Legacy')) return { algorithm: 'ed25519', bits: 256 };
  if (info.algorithm === 'ecdsa') return { algorithm: 'ecdsa', bits: info.bits ?? null };
  if (info.algorithm === 'dsa') return { algorithm: 'dsa', bits: info.bits ?? null };
  return { algorithm: 'other', bits: info.bits ?? null };
}

/** Parses one armored public key. Private keys, several keys or garbage are refused. */
export async function readPublicKey(armored: string): Promise<{ key: PublicKey; facts: KeyFacts }> {
  if (typeof armored !== 'string' || armored.length === 0) throw new DomainError('BAD_KEY', 'the key is empty: send an ASCII-armored public key (gpg --armor --export)');
  if (armored.length > MAX_ARMORED_KEY) throw new DomainError('BAD_KEY', `the armored key is larger than ${MAX_ARMORED_KEY} bytes`);
  if (!armored.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) throw new DomainError('BAD_KEY', 'not an armored public key block (gpg --armor --export)');
  let keys: PublicKey[];
  try {
    keys = (await openpgp.readKeys({ armoredKeys: armored })) as PublicKey[];
  } catch (error) {
    throw new DomainError('BAD_KEY', `the key block cannot be read: ${(error as Error).message}`);
  }
  if (keys.length !== 1) throw new DomainError('BAD_KEY', `send exactly one key; this block holds ${keys.length}`);
  const key = keys[0]!;
  if (key.isPrivate()) throw new DomainError('BAD_KEY', 'this is a private key: send only the public key (gpg --armor --export)');
  try {
    return { key, facts: await factsOf(key) };
  } catch (error) {
    // A block openpgp.js parsed but cannot describe (missing packets, odd algorithms).
    throw new DomainError('BAD_KEY', `the key cannot be used: ${(error as Error).message}`);
  }
}

/** What the domain decides on about a parsed key. */
export async function factsOf(key: PublicKey): Promise<KeyFacts> {
  const { algorithm, bits } = algorithmOf(key);
  const userIds = key.users
    .filter((u) => u.userID)
    .map((u) => ({ userId: u.userID!.userID, name: u.userID!.name, email: u.userID!.email, comment: u.userID!.comment }));
  let selfRevoked = false;
  try {
    selfRevoked = await key.isRevoked();
  } catch {
    selfRevoked = false;
  }
  return {
    fingerprint: upper(key.getFingerprint()),
    algorithm,
    bits,
    created: key.getCreationTime().toISOString(),
    userIds,
    armored: key.armor(),
    selfRevoked,
    selfSignatureDigests: key.users.flatMap((u) => u.selfCertifications.map((s) => hashName(s.hashAlgorithm!))),
    revocation: await keyRevocation(key),
  };
}

/**
 * The third-party certifications on `key` made by any of `certifiers`, each verified; a
 * certification that does not verify is left out (it certifies nothing), or reported with
 * `valid: false` when `includeInvalid` (the log refuses such a block: BAD_CERTIFICATION).
 */
export async function certificationsBy(key: PublicKey, certifiers: readonly PublicKey[], options: { includeInvalid?: boolean } = {}): Promise<CertificationFacts[]> {
  const found: CertificationFacts[] = [];
  for (const user of key.users) {
    if (!user.userID) continue;
    for (const cert of user.otherCertifications) {
      const issuer = certifiers.find((c) => c.getKeys(cert.issuerKeyID).length > 0);
      if (!issuer || !cert.created) continue;
      let revoked = false;
      try {
        revoked = await user.isRevoked(cert, issuer.keyPacket);
      } catch {
        revoked = false;
      }
      let valid = false;
      try {
        // The certification's own signature, checked directly: openpgp.js's verifyCertificate
        // refuses a revoked one outright, and a revocation must be reported as one. Judged at
        // its own creation time (the domain judges times against the log's clock).
        const signingKey = issuer.getKeys(cert.issuerKeyID)[0]!.keyPacket;
        await cert.verify(signingKey, cert.signatureType!, { userID: user.userID, key: key.keyPacket }, cert.created ?? undefined);
        valid = true;
      } catch {
        valid = false;
      }
      if (!valid && !options.includeInvalid) continue;
      found.push({ certifier: upper(issuer.getFingerprint()), userId: user.userID.userID, created: cert.created!.toISOString(), digest: hashName(cert.hashAlgorithm!), revoked, valid });
    }
  }
  return found;
}

async function readArmoredSignature(armored: string): Promise<openpgp.Signature> {
  if (typeof armored !== 'string' || armored.length === 0) throw new DomainError('BAD_SIGNATURE', 'the signature is empty: send an armored detached signature (gpg --detach-sign --armor)');
  if (armored.length > MAX_ARMORED_SIGNATURE) throw new DomainError('BAD_SIGNATURE', `the armored signature is larger than ${MAX_ARMORED_SIGNATURE} bytes`);
  try {
    return await openpgp.readSignature({ armoredSignature: armored });
  } catch (error) {
    throw new DomainError('BAD_SIGNATURE', `the signature cannot be read: ${(error as Error).message}`);
  }
}

/**
 * Verifies a detached signature over `data` by one of `keys`. Refuses SHA-1 outright, and any
 * other digest than `requireDigest` when one is given.
 */
export async function verifyDetached(
  data: Uint8Array | ReadableStream<Uint8Array>,
  armoredSignature: string,
  keys: KeySource,
  requireDigest?: 'SHA512',
): Promise<SignatureFacts> {
  const signature = await readArmoredSignature(armoredSignature);
  const packets = signature.packets;
  if (packets.length !== 1) throw new DomainError('BAD_SIGNATURE', `send one signature; this block holds ${packets.length}`);
  const packet = packets[0]!;
  if (!packet.created) throw new DomainError('BAD_SIGNATURE', 'the signature has no creation time');
  const digest = hashName(packet.hashAlgorithm!);
  if (digest === 'SHA1' || digest === 'MD5' || digest === 'RIPEMD160') throw new DomainError('SHA1_REFUSED', `the signature uses ${digest}; sign with --digest-algo SHA512`);
  if (requireDigest && digest !== requireDigest) throw new DomainError('WEAK_DIGEST', `the signature uses ${digest}; package signatures must use ${requireDigest} (--digest-algo ${requireDigest})`);
  const signer = await signerOf(keys, packet);
  if (!signer) throw new DomainError('UNKNOWN_SIGNER', `the signature is by key ${packet.issuerKeyID.toHex().toUpperCase()}, which is not one this log knows for that role`);
  try {
    const result = await openpgp.verify({
      message: await openpgp.createMessage({ binary: data as Uint8Array }),
      signature,
      verificationKeys: [signer],
      expectSigned: true,
      format: 'binary',
      // Judged against the log's own time by the domain, not openpgp.js's clock.
      date: packet.created ?? undefined,
    });
    // A streamed message is hashed as it is read: drain it before asking for the verdict.
    if (!(data instanceof Uint8Array)) {
      const reader = (result.data as unknown as ReadableStream<Uint8Array>).getReader();
      while (!(await reader.read()).done);
    }
    await result.signatures[0]!.verified;
  } catch (error) {
    throw new DomainError('BAD_SIGNATURE', `the signature does not verify: ${(error as Error).message}`);
  }
  return { signer: upper(signer.getFingerprint()), created: packet.created!.toISOString(), digest };
}

/**
 * The keys a signature may be checked with: a list, or a lookup by the signature's issuer key ID
 * (16 upper-case hex digits), so a verifier holding many keys parses only the likely one.
 */
export type KeySource = readonly PublicKey[] | ((issuerKeyId: string) => Promise<readonly PublicKey[]>);

/** The key among `keys` that made a signature packet (by its issuer key ID), if any. */
async function signerOf(keys: KeySource, packet: { issuerKeyID: openpgp.KeyID }): Promise<PublicKey | undefined> {
  const candidates = typeof keys === 'function' ? await keys(packet.issuerKeyID.toHex().toUpperCase()) : keys;
  return candidates.find((k) => k.getKeys(packet.issuerKeyID).length > 0);
}

/** Verifies a clear-signed message (`gpg --clearsign`) and returns its text. */
export async function verifyCleartext(armored: string, keys: KeySource, options: { allowSha1?: boolean } = {}): Promise<SignatureFacts & { text: string }> {
  if (typeof armored !== 'string' || !armored.includes('-----BEGIN PGP SIGNED MESSAGE-----')) throw new DomainError('BAD_SIGNATURE', 'not a clear-signed message (gpg --clearsign)');
  if (armored.length > 4 * 1024 * 1024) throw new DomainError('BAD_SIGNATURE', 'the clear-signed message is too large');
  let message: openpgp.CleartextMessage;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: armored });
  } catch (error) {
    throw new DomainError('BAD_SIGNATURE', `the clear-signed message cannot be read: ${(error as Error).message}`);
  }
  // openpgp.js keeps the signature on the message; its typings do not declare it.
  const { packets } = (message as unknown as { signature: openpgp.Signature }).signature;
  const packet = packets[0];
  if (!packet || packets.length !== 1) throw new DomainError('BAD_SIGNATURE', 'send a message with exactly one signature');
  if (!packet.created) throw new DomainError('BAD_SIGNATURE', 'the signature has no creation time');
  const digest = hashName(packet.hashAlgorithm!);
  const sha1 = digest === 'SHA1' && options.allowSha1;
  if (!sha1 && (digest === 'SHA1' || digest === 'MD5' || digest === 'RIPEMD160')) throw new DomainError('SHA1_REFUSED', `the clear signature uses ${digest}; sign with --digest-algo SHA512`);
  const signer = await signerOf(keys, packet);
  if (!signer) throw new DomainError('UNKNOWN_SIGNER', `the message is signed by key ${packet.issuerKeyID.toHex().toUpperCase()}, which this log does not know for that role`);
  try {
    // FreePBX compatibility only: genuine modules are still clear-signed with SHA-1.
    const config = sha1 ? { rejectMessageHashAlgorithms: new Set([openpgp.enums.hash.md5, openpgp.enums.hash.ripemd]) } : undefined;
    const result = await openpgp.verify({ message, verificationKeys: [signer], expectSigned: true, date: packet.created ?? undefined, ...(config ? { config } : {}) });
    await result.signatures[0]!.verified;
  } catch (error) {
    throw new DomainError('BAD_SIGNATURE', `the clear signature does not verify: ${(error as Error).message}`);
  }
  return { signer: upper(signer.getFingerprint()), created: packet.created!.toISOString(), digest, text: message.getText() };
}


/** Every public key of an armored keyring (`gpg --armor --export A B C`). */
export async function readPublicKeys(armored: string): Promise<PublicKey[]> {
  if (typeof armored !== 'string' || armored.length > 16 * MAX_ARMORED_KEY) throw new DomainError('BAD_KEY', 'the keyring is empty or too large');
  try {
    return await openpgp.readKeys({ armoredKeys: armored });
  } catch (error) {
    throw new DomainError('BAD_KEY', `the keyring cannot be read: ${(error as Error).message}`);
  }
}

/** FEED DEAF ABBA … : the fingerprint in groups of four, as announcements and listings write it. */
export function groupFingerprint(fpr: string): string {
  return fpr.toUpperCase().replace(/(.{4})(?!$)/g, '$1 ');
}
export * from './keyring.js';
export * from './revocation.js';
