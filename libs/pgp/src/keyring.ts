import type { Command } from '@signet/domain';
import { DomainError, type KeyInput, type TrustState, activeMember } from '@signet/domain/core';
import { type PublicKey, certificationsBy, factsOf, readPublicKey } from './keys.js';
import type { KeyRef } from './verify-pool.js';
import { applyRevocationCertificate, revocationCertificateIssuer } from './revocation.js';

/** Parsed OpenPGP keys by fingerprint: parsing an RSA key costs milliseconds, so parse each once. */
export class Keyring {
  private readonly keys = new Map<string, Promise<PublicKey>>();
  /** The current actors' keys by (sub)key ID, for the key set `version`. */
  private actorIndex: { version: number; byKeyId: Map<string, KeyRef[]> } | null = null;

  key(fingerprint: string, armored: string): Promise<PublicKey> {
    let key = this.keys.get(fingerprint);
    if (!key) {
      key = readPublicKey(armored).then((k) => k.key);
      this.keys.set(fingerprint, key);
      key.catch(() => this.keys.delete(fingerprint));
    }
    return key;
  }

  /** Root keys and every current member's key: who may sign commands and certify. */
  actors(state: TrustState): Promise<PublicKey[]> {
    const keys = state.policy.rootKeys.map((r) => this.key(r.fingerprint, r.key));
    for (const m of state.members.values())
      if (activeMember(state, m.fingerprint)) keys.push(this.key(m.fingerprint, m.key));
    return Promise.all(keys);
  }

  /**
   * The root and current member keys with the (sub)key ID `issuer`, as references a verification
   * thread can parse: a command's signature is checked against these only.
   */
  async actorsWithKeyId(state: TrustState, issuer: string): Promise<KeyRef[]> {
    // Indexed by (sub)key ID once per key set: every change to who may sign moves keysVersion.
    // (Meant for one evolving state, the projection's: another state of the same version is
    // taken for it.)
    let index = this.actorIndex;
    if (index?.version !== state.keysVersion) {
      const version = state.keysVersion;
      const refs: KeyRef[] = state.policy.rootKeys.map((r) => ({ fingerprint: r.fingerprint, armored: r.key }));
      for (const m of state.members.values())
        if (activeMember(state, m.fingerprint)) refs.push({ fingerprint: m.fingerprint, armored: m.key });
      const keys = await Promise.all(refs.map((r) => this.key(r.fingerprint, r.armored)));
      const byKeyId = new Map<string, KeyRef[]>();
      refs.forEach((ref, i) => {
        for (const id of new Set(keys[i]!.getKeyIDs().map((k) => k.toHex().toUpperCase()))) {
          byKeyId.set(id, [...(byKeyId.get(id) ?? []), ref]);
        }
      });
      index = { version, byKeyId };
      this.actorIndex = index;
    }
    return index.byKeyId.get(issuer) ?? [];
  }

  /**
   * Root keys and every member key the log ever had: who may have certified a key. A past
   * member's revocation of a certification is still evidence the log records.
   */
  certifiers(state: TrustState): Promise<PublicKey[]> {
    const keys = state.policy.rootKeys.map((r) => this.key(r.fingerprint, r.key));
    for (const m of state.members.values()) keys.push(this.key(m.fingerprint, m.key));
    return Promise.all(keys);
  }

  /**
   * The key a command carries (`key`, or RevokeSigningKey's `revocation`) as the rules read it,
   * or undefined when it carries none. The server and an auditor replaying the log both ask this.
   */
  async commandKey(state: TrustState, command: Command): Promise<KeyInput | undefined> {
    const armored =
      'key' in command ? command.key : command.type === 'RevokeSigningKey' ? command.revocation : undefined;
    if (armored === undefined) return undefined;
    const logged = async (issuer: string) => {
      const found = [...state.signingKeys.values()].find((k) => k.fingerprint.endsWith(issuer));
      return found ? this.key(found.fingerprint, found.key) : undefined;
    };
    try {
      return await keyInput(armored, await this.certifiers(state), logged);
    } catch (error) {
      if (command.type === 'RevokeSigningKey' && error instanceof DomainError && error.code === 'BAD_KEY') {
        throw new DomainError(
          'BAD_REVOCATION',
          `the revocation is neither a revocation certificate (gpg --gen-revoke) nor a key block: ${error.message}`,
        );
      }
      throw error;
    }
  }

  /** Every package signing key the log ever added (so a retired or revoked one is named as such). */
  signingKeys(state: TrustState): Promise<PublicKey[]> {
    return Promise.all([...state.signingKeys.values()].map((k) => this.key(k.fingerprint, k.key)));
  }
}

/**
 * What a command's key block brings to the decision: its facts, and the certifications on it by
 * `certifiers` (invalid ones included, so that the rules refuse them). A standalone revocation
 * certificate (`gpg --gen-revoke`) is applied to the key it revokes, found by `logged`.
 */
export async function keyInput(
  armored: string,
  certifiers: readonly PublicKey[],
  logged?: (issuerKeyId: string) => Promise<PublicKey | undefined>,
): Promise<KeyInput> {
  const issuer = logged && typeof armored === 'string' ? await revocationCertificateIssuer(armored) : null;
  if (issuer) {
    const target = (await logged!(issuer)) ?? refuseUnknown(issuer);
    const key = await applyRevocationCertificate(target, armored);
    return {
      facts: await factsOf(key),
      certifications: await certificationsBy(key, certifiers, { includeInvalid: true }),
    };
  }
  const read = await readPublicKey(armored);
  return { facts: read.facts, certifications: await certificationsBy(read.key, certifiers, { includeInvalid: true }) };
}

function refuseUnknown(issuer: string): never {
  throw new DomainError(
    'UNKNOWN_SIGNING_KEY',
    `the revocation certificate is made by key ${issuer}, which is no package signing key of this log`,
  );
}
