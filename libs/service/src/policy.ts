import { readFileSync } from 'node:fs';
import { DEFAULT_POLICY, DomainError, type Policy } from '@signet/domain';
import { readPublicKey, readPublicKeys } from '@signet/pgp';
import type { SignetConfig } from '@signet/store';

/**
 * The genesis policy from configuration: root keys are read from their files, every key of each
 * (a file may hold several, as `gpg --armor --export A B` or `cat a.asc b.asc` write them).
 */
export async function policyFromConfig(genesis: SignetConfig['genesis']): Promise<Policy> {
  const rootKeys: { fingerprint: string; key: string }[] = [];
  for (const file of genesis.rootKeyFiles) {
    let content: Buffer;
    try {
      content = readFileSync(file);
    } catch {
      throw new DomainError('BAD_KEY', `cannot read the root key file ${file}`);
    }
    for (const key of await readPublicKeys(content, file)) {
      // Each root key on its own, judged as a key in a command is (public, usable).
      const { facts } = await readPublicKey(key.armor());
      if (!rootKeys.some((r) => r.fingerprint === facts.fingerprint))
        rootKeys.push({ fingerprint: facts.fingerprint, key: facts.armored });
    }
  }
  const { rootKeyFiles: _files, ...rest } = genesis;
  return { ...DEFAULT_POLICY, ...rest, rootKeys };
}
