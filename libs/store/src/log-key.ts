import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type NoteSigner, encodeSignerKey, encodeVerifierKey, parseSignerKey } from '@signet/tlog';

export interface LogIdentity {
  /** The checkpoint origin, which is the key's name. */
  readonly origin: string;
  readonly signer: NoteSigner;
  /** `name+hash+base64` — what clients pin. */
  readonly verifierKey: string;
}

export const LOG_KEY_FILE = 'log.key';
export const VERIFIER_KEY_FILE = 'log.vkey';

function identity(skey: string): LogIdentity {
  const { name, publicKey, signer } = parseSignerKey(skey);
  return { origin: name, signer, verifierKey: encodeVerifierKey(name, publicKey) };
}

/** The log key from `SIGNET_LOG_KEY` or `<dataDir>/log.key`; null when there is none yet. */
export function loadLogKey(dataDir: string, fromEnv: string | undefined): LogIdentity | null {
  if (fromEnv) return identity(fromEnv);
  const file = join(dataDir, LOG_KEY_FILE);
  return existsSync(file) ? identity(readFileSync(file, 'utf8').trim()) : null;
}

/** A new Ed25519 log key in `<dataDir>/log.key` (mode 0600), its verifier key beside it. */
export function createLogKey(dataDir: string, origin: string): LogIdentity {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const skey = encodeSignerKey(origin, randomBytes(32));
  const file = join(dataDir, LOG_KEY_FILE);
  writeFileSync(file, `${skey}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  const id = identity(skey);
  writeFileSync(join(dataDir, VERIFIER_KEY_FILE), `${id.verifierKey}\n`);
  return id;
}
