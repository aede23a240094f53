import * as openpgp from 'openpgp';
import { DomainError, type RevocationFacts } from '@signet/domain/core';
import { dearmorSignature } from './armor.js';
import { verifyDirect } from './direct-verify.js';
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
  if (info.algorithm === 'ed25519' || (info.algorithm === 'eddsaLegacy' && info.curve === 'ed25519Legacy'))
    return { algorithm: 'ed25519', bits: 256 };
  if (info.algorithm === 'ecdsa') return { algorithm: 'ecdsa', bits: info.bits ?? null };
  if (info.algorithm === 'dsa') return { algorithm: 'dsa', bits: info.bits ?? null };
  return { algorithm: 'other', bits: info.bits ?? null };
}

/** Parses one armored public key. Private keys, several keys or garbage are refused. */
export async function readPublicKey(armored: string): Promise<{ key: PublicKey; facts: KeyFacts }> {
  if (typeof armored !== 'string' || armored.length === 0)
    throw new DomainError('BAD_KEY', 'the key is empty: send an ASCII-armored public key (gpg --armor --export)');
  if (armored.length > MAX_ARMORED_KEY)
    throw new DomainError('BAD_KEY', `the armored key is larger than ${MAX_ARMORED_KEY} bytes`);
  // openpgp.js would read the first block and drop the rest: a second block (another key, a
  // revocation certificate) is refused rather than silently ignored.
  const blocks = armoredKeyBlocks(armored, 'the key');
  if (blocks.length === 0) throw new DomainError('BAD_KEY', 'not an armored public key block (gpg --armor --export)');
  if (blocks.length !== 1)
    throw new DomainError(
      'BAD_KEY',
      `send exactly one key block; this text holds ${blocks.length} armored blocks (one key per command, as gpg --armor --export KEY-ID writes it)`,
    );
  let keys: PublicKey[];
  try {
    keys = (await openpgp.readKeys({ armoredKeys: blocks[0]!.armored })) as PublicKey[];
  } catch (error) {
    throw new DomainError('BAD_KEY', `the key block cannot be read: ${(error as Error).message}`);
  }
  if (keys.length !== 1) throw new DomainError('BAD_KEY', `send exactly one key; this block holds ${keys.length}`);
  const key = keys[0]!;
  if (key.isPrivate())
    throw new DomainError('BAD_KEY', 'this is a private key: send only the public key (gpg --armor --export)');
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
    .map((u) => ({
      userId: u.userID!.userID,
      name: u.userID!.name,
      email: u.userID!.email,
      comment: u.userID!.comment,
    }));
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
export async function certificationsBy(
  key: PublicKey,
  certifiers: readonly PublicKey[],
  options: { includeInvalid?: boolean } = {},
): Promise<CertificationFacts[]> {
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
        await cert.verify(
          signingKey,
          cert.signatureType!,
          { userID: user.userID, key: key.keyPacket },
          cert.created ?? undefined,
        );
        valid = true;
      } catch {
        valid = false;
      }
      if (!valid && !options.includeInvalid) continue;
      found.push({
        certifier: upper(issuer.getFingerprint()),
        userId: user.userID.userID,
        created: cert.created!.toISOString(),
        digest: hashName(cert.hashAlgorithm!),
        revoked,
        valid,
      });
    }
  }
  return found;
}

async function readArmoredSignature(armored: string): Promise<openpgp.Signature> {
  if (typeof armored !== 'string' || armored.length === 0)
    throw new DomainError(
      'BAD_SIGNATURE',
      'the signature is empty: send an armored detached signature (gpg --detach-sign --armor)',
    );
  if (armored.length > MAX_ARMORED_SIGNATURE)
    throw new DomainError('BAD_SIGNATURE', `the armored signature is larger than ${MAX_ARMORED_SIGNATURE} bytes`);
  try {
    const binarySignature = dearmorSignature(armored);
    return binarySignature
      ? await openpgp.readSignature({ binarySignature })
      : await openpgp.readSignature({ armoredSignature: armored });
  } catch (error) {
    throw new DomainError('BAD_SIGNATURE', `the signature cannot be read: ${(error as Error).message}`);
  }
}

/**
 * The issuer key ID (16 upper-case hex digits) of an armored detached signature, to pick the key
 * it is checked with before the (costlier) verification; BAD_SIGNATURE when it cannot be read.
 */
export async function signatureIssuer(armored: string): Promise<string> {
  const packet = (await readArmoredSignature(armored)).packets[0];
  if (!packet) throw new DomainError('BAD_SIGNATURE', 'the signature block holds no signature');
  return packet.issuerKeyID.toHex().toUpperCase();
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
  if (packets.length !== 1)
    throw new DomainError('BAD_SIGNATURE', `send one signature; this block holds ${packets.length}`);
  const packet = packets[0]!;
  if (!packet.created) throw new DomainError('BAD_SIGNATURE', 'the signature has no creation time');
  const digest = hashName(packet.hashAlgorithm!);
  if (digest === 'SHA1' || digest === 'MD5' || digest === 'RIPEMD160')
    throw new DomainError('SHA1_REFUSED', `the signature uses ${digest}; sign with --digest-algo SHA512`);
  if (requireDigest && digest !== requireDigest)
    throw new DomainError(
      'WEAK_DIGEST',
      `the signature uses ${digest}; package signatures must use ${requireDigest} (--digest-algo ${requireDigest})`,
    );
  const candidates = await signersOf(keys, packet);
  if (candidates.length === 0)
    throw new DomainError(
      'UNKNOWN_SIGNER',
      `the signature is by key ${packet.issuerKeyID.toHex().toUpperCase()}, which is not one this log knows for that role`,
    );
  // Several keys may carry the issuer's key ID (a key may even carry a copy of another's as a
  // subkey): each is tried, so that no key can stand in the way of another's signatures. A stream
  // can be read once only: its first candidate is the one tried.
  const tried = data instanceof Uint8Array ? candidates : candidates.slice(0, 1);
  let failure: unknown;
  for (const signer of tried) {
    try {
      // The common case through node:crypto (direct-verify.ts); any other through openpgp.verify.
      if (!(data instanceof Uint8Array) || !(await verifyDirect(packet, data, signer))) {
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
      }
      return { signer: upper(signer.getFingerprint()), created: packet.created!.toISOString(), digest };
    } catch (error) {
      failure = error;
    }
  }
  throw new DomainError('BAD_SIGNATURE', `the signature does not verify: ${(failure as Error).message}`);
}

/**
 * The keys a signature may be checked with: a list, or a lookup by the signature's issuer key ID
 * (16 upper-case hex digits), so a verifier holding many keys parses only the likely one.
 */
export type KeySource = readonly PublicKey[] | ((issuerKeyId: string) => Promise<readonly PublicKey[]>);

/** The key among `keys` that made a signature packet (by its issuer key ID), if any. */
async function signersOf(keys: KeySource, packet: { issuerKeyID: openpgp.KeyID }): Promise<PublicKey[]> {
  const candidates = typeof keys === 'function' ? await keys(packet.issuerKeyID.toHex().toUpperCase()) : keys;
  return candidates.filter((k) => k.getKeys(packet.issuerKeyID).length > 0);
}

async function signerOf(keys: KeySource, packet: { issuerKeyID: openpgp.KeyID }): Promise<PublicKey | undefined> {
  return (await signersOf(keys, packet))[0];
}

/** Verifies a clear-signed message (`gpg --clearsign`) and returns its text. */
export async function verifyCleartext(
  armored: string,
  keys: KeySource,
  options: { allowSha1?: boolean } = {},
): Promise<SignatureFacts & { text: string }> {
  if (typeof armored !== 'string' || !armored.includes('-----BEGIN PGP SIGNED MESSAGE-----'))
    throw new DomainError('BAD_SIGNATURE', 'not a clear-signed message (gpg --clearsign)');
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
  if (!packet || packets.length !== 1)
    throw new DomainError('BAD_SIGNATURE', 'send a message with exactly one signature');
  if (!packet.created) throw new DomainError('BAD_SIGNATURE', 'the signature has no creation time');
  const digest = hashName(packet.hashAlgorithm!);
  const sha1 = digest === 'SHA1' && options.allowSha1;
  if (!sha1 && (digest === 'SHA1' || digest === 'MD5' || digest === 'RIPEMD160'))
    throw new DomainError('SHA1_REFUSED', `the clear signature uses ${digest}; sign with --digest-algo SHA512`);
  const signer = await signerOf(keys, packet);
  if (!signer)
    throw new DomainError(
      'UNKNOWN_SIGNER',
      `the message is signed by key ${packet.issuerKeyID.toHex().toUpperCase()}, which this log does not know for that role`,
    );
  try {
    // FreePBX compatibility only: genuine modules are still clear-signed with SHA-1.
    const config = sha1
      ? { rejectMessageHashAlgorithms: new Set([openpgp.enums.hash.md5, openpgp.enums.hash.ripemd]) }
      : undefined;
    // The common case through node:crypto (direct-verify.ts); any other through openpgp.verify.
    // The text as CleartextMessage.verify hands it to the signature (`text`, with CR LF line ends).
    const text = (message as unknown as { text: string }).text;
    // (SHA-1, the one digest the config changes anything for, is never checked directly.)
    if (!(await verifyDirect(packet, { text }, signer))) {
      const result = await openpgp.verify({
        message,
        verificationKeys: [signer],
        expectSigned: true,
        date: packet.created ?? undefined,
        ...(config ? { config } : {}),
      });
      await result.signatures[0]!.verified;
    }
  } catch (error) {
    throw new DomainError('BAD_SIGNATURE', `the clear signature does not verify: ${(error as Error).message}`);
  }
  return {
    signer: upper(signer.getFingerprint()),
    created: packet.created!.toISOString(),
    digest,
    text: message.getText(),
  };
}

/** Largest keyring file read (4 MiB). */
export const MAX_KEYRING = 16 * MAX_ARMORED_KEY;

const KEY_ARMOR_LINE = /^-----(BEGIN|END) PGP (PUBLIC|PRIVATE) KEY BLOCK-----[ \t\r]*$/gm;

/**
 * The armored key blocks of a text, in order, as `gpg --import` finds them: each
 * `-----BEGIN PGP PUBLIC KEY BLOCK-----` … `-----END PGP PUBLIC KEY BLOCK-----` (and private key
 * blocks, so that they can be refused by name); text around them is ignored. A block without
 * its END line is refused: a truncated file must not pass for a shorter keyring.
 */
export function armoredKeyBlocks(text: string, source: string): { kind: 'PUBLIC' | 'PRIVATE'; armored: string }[] {
  const blocks: { kind: 'PUBLIC' | 'PRIVATE'; armored: string }[] = [];
  let open: { kind: 'PUBLIC' | 'PRIVATE'; at: number } | null = null;
  const unterminated = (kind: string) =>
    new DomainError(
      'BAD_KEY',
      `${source}: block ${blocks.length + 1} has no "-----END PGP ${kind} KEY BLOCK-----" line (the file is truncated or two blocks are run together)`,
    );
  for (const line of text.matchAll(KEY_ARMOR_LINE)) {
    const kind = line[2] as 'PUBLIC' | 'PRIVATE';
    if (line[1] === 'BEGIN') {
      if (open) throw unterminated(open.kind);
      open = { kind, at: line.index };
    } else if (open && open.kind === kind) {
      blocks.push({ kind, armored: `${text.slice(open.at, line.index + line[0].length).replace(/\r$/, '')}\n` });
      open = null;
    } else {
      throw new DomainError(
        'BAD_KEY',
        `${source}: an "-----END PGP ${kind} KEY BLOCK-----" line without its BEGIN line after block ${blocks.length}`,
      );
    }
  }
  if (open) throw unterminated(open.kind);
  return blocks;
}

/** A block that holds no key but a key revocation signature: a standalone revocation certificate (`gpg --gen-revoke`). */
async function revocationCertificate(armored: string): Promise<openpgp.Signature | null> {
  try {
    const { data } = await openpgp.unarmor(armored);
    const signature = await openpgp.readSignature({ binarySignature: data as Uint8Array });
    const ok =
      signature.packets.length > 0 &&
      signature.packets.every((p) => p.signatureType === openpgp.enums.signature.keyRevocation);
    return ok ? signature : null;
  } catch {
    return null;
  }
}

/**
 * Every public key of a keyring file, as `gpg --import` reads it: every armored block (a file
 * made by `cat a.asc b.asc` and one by `gpg --armor --export A B` give the same keys), or binary
 * packets (`gpg --export A B`). A key given twice is merged into one; a revocation certificate
 * is applied to the key of the file it revokes. `source` names the file in errors. Refused
 * (BAD_KEY): no public key at all, a private key, a truncated or unreadable block, a revocation
 * certificate for a key the file does not hold — never silently dropped.
 */
export async function readPublicKeys(input: string | Uint8Array, source = 'the keyring'): Promise<PublicKey[]> {
  if (typeof input !== 'string' && !(input instanceof Uint8Array))
    throw new DomainError('BAD_KEY', `${source} is not a keyring`);
  if (input.length > MAX_KEYRING) throw new DomainError('BAD_KEY', `${source} is larger than ${MAX_KEYRING} bytes`);
  const bytes = typeof input === 'string' ? null : input;
  // Binary packets start with a packet tag, whose top bit is set (RFC 9580 4.2); armor is text.
  if (bytes && bytes.length > 0 && (bytes[0]! & 0x80) !== 0) {
    let keys: PublicKey[];
    try {
      keys = await openpgp.readKeys({ binaryKeys: bytes });
    } catch (error) {
      throw new DomainError('BAD_KEY', `${source} is not a readable binary keyring: ${(error as Error).message}`);
    }
    if (keys.some((k) => k.isPrivate()))
      throw new DomainError('BAD_KEY', `${source} holds a private key: use only public keys (gpg --export)`);
    return merged(keys, [], source);
  }
  const text = bytes ? Buffer.from(bytes).toString('latin1') : (input as string);
  const keys: PublicKey[] = [];
  const revocations: { block: number; signature: openpgp.Signature; armored: string }[] = [];
  const blocks = armoredKeyBlocks(text, source);
  for (const [i, block] of blocks.entries()) {
    if (block.kind === 'PRIVATE')
      throw new DomainError(
        'BAD_KEY',
        `${source}: block ${i + 1} is a private key: use only public keys (gpg --armor --export)`,
      );
    try {
      keys.push(...(await openpgp.readKeys({ armoredKeys: block.armored })));
    } catch (error) {
      const signature = await revocationCertificate(block.armored);
      if (!signature)
        throw new DomainError('BAD_KEY', `${source}: block ${i + 1} cannot be read: ${(error as Error).message}`);
      revocations.push({ block: i + 1, signature, armored: block.armored });
    }
  }
  return merged(keys, revocations, source);
}

/** One key per fingerprint (copies merged, as gpg merges an import), with the file's revocation certificates applied. */
async function merged(
  keys: PublicKey[],
  revocations: { block: number; signature: openpgp.Signature; armored: string }[],
  source: string,
): Promise<PublicKey[]> {
  const byFingerprint = new Map<string, PublicKey>();
  for (const key of keys) {
    const fpr = key.getFingerprint();
    const seen = byFingerprint.get(fpr);
    byFingerprint.set(fpr, seen ? await seen.update(key) : key);
  }
  for (const { block, signature, armored } of revocations) {
    const issuer = signature.packets[0]!.issuerKeyID;
    const fpr = [...byFingerprint.keys()].find((f) => byFingerprint.get(f)!.getKeyID().equals(issuer));
    const issuerHex = issuer.toHex().toUpperCase();
    if (!fpr)
      throw new DomainError(
        'BAD_KEY',
        `${source}: block ${block} is a revocation certificate for key ${issuerHex}, which this file does not hold; put it in the same file as the key (or import it with gpg and export the key again)`,
      );
    try {
      const { publicKey } = await openpgp.revokeKey({
        key: byFingerprint.get(fpr)!,
        revocationCertificate: armored,
        format: 'object',
      });
      byFingerprint.set(fpr, publicKey);
    } catch (error) {
      throw new DomainError(
        'BAD_KEY',
        `${source}: block ${block}, the revocation certificate for key ${issuerHex}, does not verify: ${(error as Error).message}`,
      );
    }
  }
  if (byFingerprint.size === 0)
    throw new DomainError(
      'BAD_KEY',
      `${source} holds no OpenPGP public key: export one with gpg --armor --export KEY-ID`,
    );
  return [...byFingerprint.values()];
}

export { groupFingerprint } from '@signet/domain/core';

/** Creation and expiry of a key as its self-signatures state them (a key page shows both). */
export interface KeyDates {
  readonly created: string | null;
  /** null: the key does not expire. */
  readonly expires: string | null;
}

/**
 * The dates of an armored key the log holds. A block openpgp.js cannot read, or whose
 * self-signatures do not say, gives what it can (nulls), never an error: a page still renders.
 */
export async function keyDates(armored: string): Promise<KeyDates> {
  let key: PublicKey;
  try {
    key = await openpgp.readKey({ armoredKey: armored });
  } catch {
    return { created: null, expires: null };
  }
  const created = key.getCreationTime().toISOString();
  try {
    const expires = await key.getExpirationTime();
    return { created, expires: expires instanceof Date ? expires.toISOString() : null };
  } catch {
    return { created, expires: null };
  }
}
