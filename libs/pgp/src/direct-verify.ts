import { type KeyObject, createHash, createPublicKey, createVerify, verify as oneShotVerify } from 'node:crypto';
import * as openpgp from 'openpgp';

// The common signature — OpenPGP v4, detached over bytes or clear-signed over a text, by an RSA
// or Ed25519 key, with a SHA-2 digest — checked through node:crypto (OpenSSL) instead of
// openpgp.js's message and stream machinery and its WebCrypto key import on every call.
// openpgp.js still parses the signature and the key, makes a clear-signed text's bytes, and
// judges the key's validity; only the hashing and the RSA/EdDSA primitive run here, with the
// public key imported once per key. About three times the rate of `openpgp.verify` on one
// thread (README, Signature checks).
//
// The checks are those `openpgp.verify` makes (openpgp.js 6: createVerificationObject,
// SignaturePacket.verify), in the same order and with the same messages; a test sets the two
// verdicts side by side over GnuPG's good and altered signatures. Anything outside the common
// case answers `false`, and the caller asks `openpgp.verify`.

const { publicKey: ALGORITHM, signature: SIGNATURE, hash: HASH } = openpgp.enums;

const NODE_HASH: Partial<Record<number, string>> = {
  [HASH.sha224]: 'sha224',
  [HASH.sha256]: 'sha256',
  [HASH.sha384]: 'sha384',
  [HASH.sha512]: 'sha512',
};

type KeyPacket = openpgp.PublicKeyPacket | openpgp.PublicSubkeyPacket;

interface RsaParams {
  readonly n: Uint8Array;
  readonly e: Uint8Array;
}
interface LegacyEdParams {
  readonly oid: { getName(): string };
  readonly Q: Uint8Array;
}
interface SignatureParams {
  readonly s?: Uint8Array;
  readonly r?: Uint8Array;
  readonly RS?: Uint8Array;
}

/** Public keys as OpenSSL objects, imported once per key packet (key packets are parsed once per thread). */
const imported = new WeakMap<KeyPacket, KeyObject>();

/** Keys OpenSSL would not import (sizes past its limits): openpgp.js checks their signatures in JavaScript. */
const unimportable = new WeakSet<KeyPacket>();

function nodeKey(packet: KeyPacket, make: () => KeyObject): KeyObject | null {
  let key = imported.get(packet);
  if (!key) {
    if (unimportable.has(packet)) return null;
    try {
      key = make();
    } catch {
      unimportable.add(packet);
      return null;
    }
    imported.set(packet, key);
  }
  return key;
}

const b64url = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');

/** `bytes` left-padded with zeros to `length`; longer throws (openpgp.js's own error is then given). */
function leftPad(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length > length) throw new Error('Input array too long');
  if (bytes.length === length) return bytes;
  const padded = new Uint8Array(length);
  padded.set(bytes, length - bytes.length);
  return padded;
}

/** Whether the primitive this signature needs runs here; null when openpgp.js must check it. */
function primitive(
  signature: openpgp.SignaturePacket,
  keyPacket: KeyPacket,
): ((parts: readonly Uint8Array[], digest: Uint8Array, params: SignatureParams) => boolean) | null {
  const hash = NODE_HASH[signature.hashAlgorithm as number];
  if (!hash || keyPacket.version !== 4) return null;
  switch (keyPacket.algorithm) {
    case ALGORITHM.rsaEncryptSign:
    case ALGORITHM.rsaSign: {
      const { n, e } = keyPacket.publicParams as RsaParams;
      const key = nodeKey(keyPacket, () =>
        createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e) }, format: 'jwk' }),
      );
      if (!key) return null;
      return (parts, _digest, { s }) => {
        if (!s) return false;
        const verifier = createVerify(hash);
        for (const part of parts) verifier.update(part);
        return verifier.verify(key, leftPad(s, n.length));
      };
    }
    case ALGORITHM.eddsaLegacy: {
      const { oid, Q } = keyPacket.publicParams as LegacyEdParams;
      // The point's encoding and the digest's size as openpgp.js demands them: else its errors.
      if (oid.getName() !== openpgp.enums.curve.ed25519Legacy || Q.length !== 33 || Q[0] !== 0x40) return null;
      if (signature.hashAlgorithm === HASH.sha224) return null;
      const key = nodeKey(keyPacket, () =>
        createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(Q.subarray(1)) }, format: 'jwk' }),
      );
      if (!key) return null;
      return (_parts, digest, { r, s }) => {
        if (!r || !s) return false;
        return oneShotVerify(null, digest, key, Buffer.concat([leftPad(r, 32), leftPad(s, 32)]));
      };
    }
    case ALGORITHM.ed25519: {
      const { A } = keyPacket.publicParams as { readonly A: Uint8Array };
      if (A.length !== 32 || signature.hashAlgorithm === HASH.sha224) return null;
      const key = nodeKey(keyPacket, () =>
        createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(A) }, format: 'jwk' }),
      );
      if (!key) return null;
      return (_parts, digest, { RS }) => !!RS && RS.length === 64 && oneShotVerify(null, digest, key, RS);
    }
    default:
      return null;
  }
}

/** What a signature is over: bytes (a detached signature), or the text of a clear-signed message. */
export type Signed = Uint8Array | { readonly text: string };

/**
 * Checks `signature` over `signed` by `key` at the signature's own creation time, as
 * `openpgp.verify` would with `date: signature.created`: a detached signature over bytes, or the
 * signature of a clear-signed message over its text. Throws openpgp.js's error when it fails;
 * `false` when this signature is not one checked here (the caller asks `openpgp.verify`).
 */
export async function verifyDirect(
  signature: openpgp.SignaturePacket,
  signed: Signed,
  key: openpgp.PublicKey,
  config: openpgp.Config = openpgp.config,
): Promise<boolean> {
  try {
    return await check(signature, signed, key, config);
  } catch (error) {
    // openpgp.verify's wording of the same failure.
    throw new Error(`Error verifying signed message: ${(error as Error).message}`);
  }
}

/** The bytes hashed for `signature` over `signed`; null when openpgp.js must work them out. */
function hashedParts(signature: openpgp.SignaturePacket, signed: Signed, hashed: Uint8Array): Uint8Array[] | null {
  if (signed instanceof Uint8Array) {
    if (signature.signatureType !== SIGNATURE.binary) return null;
    // RFC 4880 5.2.4: the data, the hashed part of the signature, then 0x04 0xFF and its length.
    const trailer = new Uint8Array(6);
    trailer[0] = 4;
    trailer[1] = 0xff;
    new DataView(trailer.buffer).setUint32(2, hashed.length);
    return [signed, hashed, trailer];
  }
  if (signature.signatureType !== SIGNATURE.text && signature.signatureType !== SIGNATURE.binary) return null;
  // A clear-signed text: openpgp.js itself makes the bytes (line endings, trailing whitespace), as
  // CleartextMessage.verify hands the text to the signature.
  const literal = new openpgp.LiteralDataPacket() as unknown as { setText(text: string): void };
  literal.setText(signed.text);
  const toHash = (signature as unknown as { toHash(type: number, data: unknown, detached: boolean): unknown }).toHash(
    signature.signatureType,
    literal,
    true,
  );
  return toHash instanceof Uint8Array ? [toHash] : null;
}

async function check(
  signature: openpgp.SignaturePacket,
  signed: Signed,
  key: openpgp.PublicKey,
  config: openpgp.Config,
): Promise<boolean> {
  if (signature.version !== 4 || !signature.created) return false;
  const signingKey = key.getKeys(signature.issuerKeyID)[0];
  // getKeys takes an all-zero key ID as "any key"; SignaturePacket.verify refuses it (its wording).
  if (!signingKey || !signature.issuerKeyID.equals(signingKey.getKeyID())) return false;
  const keyPacket = signingKey.keyPacket as KeyPacket;
  if (signature.publicKeyAlgorithm !== keyPacket.algorithm) return false;
  const verifies = primitive(signature, keyPacket);
  const hashed = signature.signatureData;
  if (!verifies || !hashed || !signature.signedHashValue) return false;
  const parts = hashedParts(signature, signed, hashed);
  if (!parts) return false;
  const hasher = createHash(NODE_HASH[signature.hashAlgorithm as number]!);
  for (const part of parts) hasher.update(part);
  const digest = hasher.digest();
  if (signature.signedHashValue[0] !== digest[0] || signature.signedHashValue[1] !== digest[1])
    throw new Error('Signed digest did not match');
  const params = (await (signature as unknown as { params: SignatureParams | Promise<SignatureParams> }).params) ?? {};
  let valid: boolean;
  try {
    valid = verifies(parts, digest, params);
  } catch {
    // A value OpenSSL refuses outright, or one longer than its size: openpgp.js then decides,
    // in JavaScript or with its own error.
    return false;
  }
  if (!valid) throw new Error('Signature verification failed');

  // The rest of SignaturePacket.verify, at the signature's own time.
  const created = signature.created;
  if (created >= signature.getExpirationTime()) throw new Error('Signature is expired');
  const hashId = signature.hashAlgorithm as openpgp.enums.hash;
  const hashName = NODE_HASH[hashId]!.toUpperCase();
  if (config.rejectHashAlgorithms.has(hashId)) throw new Error(`Insecure hash algorithm: ${hashName}`);
  if (config.rejectMessageHashAlgorithms.has(hashId)) throw new Error(`Insecure message hash algorithm: ${hashName}`);
  for (const { type, critical } of signature.unknownSubpackets)
    if (critical) throw new Error(`Unknown critical signature subpacket type ${type}`);
  for (const { name, critical } of signature.rawNotations)
    if (critical && !config.knownNotations.includes(name)) throw new Error(`Unknown critical notation: ${name}`);
  if (signature.revocationKeyClass !== null)
    throw new Error('This key is intended to be revoked with an authorized key, which OpenPGP.js does not support.');

  // The rest of createVerificationObject: the key existed, and could sign, when it signed.
  if (signingKey.getCreationTime() > created) throw new Error('Key is newer than the signature');
  await key.getSigningKey(signingKey.getKeyID(), created, undefined, config);
  return true;
}
