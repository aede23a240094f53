import { readFileSync } from 'node:fs';
import { DEFAULT_POLICY, DomainError, type Policy } from '@signet/domain';
import { readPublicKey } from '@signet/pgp';
import type { SignetConfig } from '@signet/store';

/** The genesis policy from configuration: root keys are read from their armored files. */
export async function policyFromConfig(genesis: SignetConfig['genesis']): Promise<Policy> {
  const rootKeys = [];
  for (const file of genesis.rootKeyFiles) {
    let armored: string;
    try {
      armored = readFileSync(file, 'utf8');
    } catch {
      throw new DomainError('BAD_KEY', `cannot read the root key file ${file}`);
    }
    const { facts } = await readPublicKey(armored);
    rootKeys.push({ fingerprint: facts.fingerprint, key: facts.armored });
  }
  const { rootKeyFiles: _files, ...rest } = genesis;
  return { ...DEFAULT_POLICY, ...rest, rootKeys };
}
