import { type KeyInput, type TrustState, activeMember } from '@signet/domain/core';
import { type PublicKey, certificationsBy, readPublicKey } from './index.js';

/** Parsed OpenPGP keys by fingerprint: parsing an RSA key costs milliseconds, so parse each once. */
export class Keyring {
  private readonly keys = new Map<string, Promise<PublicKey>>();

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
    for (const m of state.members.values()) if (activeMember(state, m.fingerprint)) keys.push(this.key(m.fingerprint, m.key));
    return Promise.all(keys);
  }

  /** Every package signing key the log ever added (so a retired or revoked one is named as such). */
  signingKeys(state: TrustState): Promise<PublicKey[]> {
    return Promise.all([...state.signingKeys.values()].map((k) => this.key(k.fingerprint, k.key)));
  }
}

/**
 * What a command's key block brings to the decision: its facts, and the certifications on it by
 * the keys that may certify (`actors`). The server and an auditor replaying the log both ask this.
 */
export async function keyInput(armored: string, actors: readonly PublicKey[]): Promise<KeyInput> {
  const read = await readPublicKey(armored);
  return { facts: read.facts, certifications: await certificationsBy(read.key, actors) };
}
