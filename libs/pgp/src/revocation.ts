import * as openpgp from 'openpgp';
import { DomainError, type RevocationFacts, type RevocationReason } from '@signet/domain/core';

// Key revocations as GnuPG writes them: `gpg --gen-revoke` / `--generate-revocation` makes a
// standalone revocation certificate (an armored "PUBLIC KEY BLOCK" holding one key-revocation
// signature, type 0x20); importing it and exporting the key again puts the same signature on the
// key block. Both are attacker-controlled input: every signature is verified over the key it
// claims to revoke before it counts.

const REASONS: Record<number, RevocationReason> = {
  [openpgp.enums.reasonForRevocation.noReason]: 'unspecified',
  [openpgp.enums.reasonForRevocation.keySuperseded]: 'superseded',
  [openpgp.enums.reasonForRevocation.keyCompromised]: 'compromised',
  [openpgp.enums.reasonForRevocation.keyRetired]: 'retired',
};

/** The key's own revocation that verifies (the earliest, if several), or null. */
export async function keyRevocation(key: openpgp.PublicKey): Promise<RevocationFacts | null> {
  let found: RevocationFacts | null = null;
  for (const signature of key.revocationSignatures) {
    if (!signature.created) continue;
    try {
      await signature.verify(
        key.keyPacket,
        openpgp.enums.signature.keyRevocation,
        { key: key.keyPacket },
        signature.created,
      );
    } catch {
      continue; // a revocation that does not verify revokes nothing
    }
    const facts: RevocationFacts = {
      created: signature.created.toISOString(),
      // RFC 9580 5.2.3.31: an unknown reason is a hard revocation, as "no reason" is.
      reason: REASONS[signature.reasonForRevocationFlag ?? 0] ?? 'unspecified',
      description: (signature.reasonForRevocationString ?? '').slice(0, 500),
    };
    if (!found || facts.created < found.created) found = facts;
  }
  return found;
}

/**
 * The issuer key ID (16 upper-case hex digits) of a standalone revocation certificate, or null
 * when the text is not one (a key block, or anything else).
 */
export async function revocationCertificateIssuer(armored: string): Promise<string | null> {
  let signature: openpgp.Signature;
  try {
    const { data, type } = await openpgp.unarmor(armored);
    if (type !== openpgp.enums.armor.publicKey && type !== openpgp.enums.armor.signature) return null;
    signature = await openpgp.readSignature({ binarySignature: data as Uint8Array });
  } catch {
    return null; // holds other packets than signatures: a key block, or unreadable
  }
  const packet = signature.packets.length === 1 ? signature.packets[0]! : null;
  if (!packet || packet.signatureType !== openpgp.enums.signature.keyRevocation) return null;
  return packet.issuerKeyID.toHex().toUpperCase();
}

/** `key` with the revocation certificate applied; BAD_REVOCATION when it does not revoke this key. */
export async function applyRevocationCertificate(key: openpgp.PublicKey, armored: string): Promise<openpgp.PublicKey> {
  try {
    // Verified at its own creation time: the domain judges that time against the log's clock.
    const { data } = await openpgp.unarmor(armored);
    const created =
      (await openpgp.readSignature({ binarySignature: data as Uint8Array })).packets[0]?.created ?? undefined;
    // Defined on every key by openpgp.js; its typings declare it on private keys only.
    const revocable = key as unknown as {
      applyRevocationCertificate(certificate: string, date?: Date): Promise<openpgp.PublicKey>;
    };
    return await revocable.applyRevocationCertificate(armored, created);
  } catch (error) {
    throw new DomainError(
      'BAD_REVOCATION',
      `the revocation certificate does not verify for key ${key.getFingerprint().toUpperCase()}: ${(error as Error).message}`,
    );
  }
}
