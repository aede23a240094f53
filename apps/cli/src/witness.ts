import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DomainError } from '@signet/domain/core';
import {
  type Checkpoint,
  type NoteVerifier,
  TlogError,
  type WitnessSigner,
  cosignCheckpoint,
  encodeWitnessSignerKey,
  hashesEqual,
  openCheckpoint,
  parseNote,
  parseVerifierKey,
  parseWitnessSignerKey,
  signatureLine,
  verifyConsistency,
} from '@signet/tlog';
import { type NetworkOptions, fetchConsistencyProof, fetchOk, fetchRetrying } from '@signet/client';
import { hostNow, readText, writeAtomically } from './files.js';
import { type NetworkFlags, UsageError, networkOf, verifierKeyOf } from './kit.js';

// `signet witness`: a C2SP tlog-cosignature witness of one Signet log, run from cron. It cosigns
// the log's checkpoint only if it verifies with the pinned log key and extends (by a consistency
// proof) the last checkpoint this witness cosigned, which it keeps in its state directory, one
// directory per log. Exit codes: 0 cosigned, 1 refused (by the witness or by the log), 2 usage,
// bad local input or a log that cannot be reached.

const usage = (message: string, code?: string) => new UsageError(message, code);

/** This host's time in POSIX seconds (SIGNET_CLOCK_FILE in tests). */
const nowSeconds = () => Math.floor(hostNow().getTime() / 1000);

/** A new witness key: the signer key (keep it, mode 0600) and the verifier key (for the log's SIGNET_WITNESSES). */
export function keygen(values: { name: string }): number {
  let skey: string;
  try {
    skey = encodeWitnessSignerKey(values.name, randomBytes(32));
  } catch (error) {
    throw usage(`--name ${values.name}: ${(error as Error).message}`);
  }
  process.stdout.write(`signer key:   ${skey}\nverifier key: ${parseWitnessSignerKey(skey).signer.verifierKey}\n`);
  return 0;
}

/** The signer key in a file: the first PRIVATE+KEY+… word, so the output of keygen may be kept as it is. */
function readSigner(path: string): WitnessSigner {
  const text = readText(path);
  if (text === null) throw usage(`cannot read the witness key file ${path}`, 'NO_SUCH_FILE');
  const skey = /PRIVATE\+KEY\+\S+/.exec(text)?.[0];
  if (!skey) throw usage(`${path} holds no witness signer key (PRIVATE+KEY+…; see signet witness keygen)`);
  try {
    return parseWitnessSignerKey(skey).signer;
  } catch (error) {
    throw usage(`${path}: the witness signer key cannot be read: ${(error as Error).message}`);
  }
}

export interface CosignFlags extends NetworkFlags {
  server: string;
  vkey: string;
  key: string;
  state?: string;
  json?: boolean;
}

export async function cosign(values: CosignFlags): Promise<number> {
  const base = values.server.replace(/\/+$/, '');
  const vkey = await verifierKeyOf(values.vkey);
  const logKey = parseVerifierKey(vkey);
  const network = networkOf(values);
  const signer = readSigner(values.key);
  const dir = values.state ?? process.env.SIGNET_WITNESS_DIR ?? join(homedir(), '.signet-witness');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pinned = readText(join(dir, 'vkey'))?.trim();
  if (pinned && pinned !== vkey)
    throw new DomainError(
      'WITNESS_WRONG_LOG',
      `${dir} witnesses the log of key ${pinned}; use another --state for another log`,
    );

  const previous = lastCosigned(dir, logKey);
  const cp = openServed(await (await fetchOk(`${base}/log/checkpoint`, 'the checkpoint', network)).text(), logKey);
  if (previous) await checkExtends(base, previous, cp, network);
  const note = logSigned(cp.note, logKey);
  const timestamp = nowSeconds();
  const line = cosignCheckpoint(note, signer, timestamp);
  // Remember before publishing: once a cosignature is out, nothing smaller or forked may follow it.
  writeAtomically(join(dir, 'checkpoint'), note, 0o600);
  if (!pinned) writeAtomically(join(dir, 'vkey'), `${vkey}\n`, 0o600);

  const answer = await submit(base, note + line, network);
  const stored = answer.cosignatures?.some((c) => c.witness === signer.name && c.stored) ?? false;
  const result = { ok: true, origin: cp.origin, size: cp.size, witness: signer.name, timestamp, stored };
  process.stdout.write(
    values.json
      ? `${JSON.stringify(result)}\n`
      : `cosigned ${cp.origin} at size ${cp.size} as ${signer.name} (time ${timestamp}): ${stored ? 'stored by the log' : 'the log already had it'}\n`,
  );
  return 0;
}

/** The checkpoint this witness cosigned last, verified again (it is only as good as the key that signed it). */
function lastCosigned(dir: string, logKey: NoteVerifier): Checkpoint | null {
  const note = readText(join(dir, 'checkpoint'));
  if (note === null) return null;
  try {
    return openCheckpoint(note, logKey);
  } catch (error) {
    throw new DomainError(
      'WITNESS_STATE',
      `${join(dir, 'checkpoint')} does not verify with the log key: ${(error as Error).message}`,
    );
  }
}

function openServed(note: string, logKey: NoteVerifier): Checkpoint & { note: string } {
  try {
    return openCheckpoint(note, logKey);
  } catch (error) {
    if (error instanceof TlogError)
      throw new DomainError(
        'NOT_THIS_LOG',
        `the server's checkpoint does not verify with the log key ${logKey.name}: ${error.message}`,
      );
    throw error;
  }
}

/** Refuses a checkpoint smaller than, forked from, or not provably extending the last one cosigned. */
async function checkExtends(
  base: string,
  previous: Checkpoint,
  cp: Checkpoint,
  network: NetworkOptions,
): Promise<void> {
  if (cp.size < previous.size) {
    throw new DomainError(
      'CHECKPOINT_ROLLBACK',
      `the log offers size ${cp.size}, smaller than size ${previous.size} this witness already cosigned; not cosigning`,
    );
  }
  if (cp.size === previous.size) {
    if (!hashesEqual(cp.root, previous.root))
      throw new DomainError(
        'CHECKPOINT_FORK',
        `two roots for size ${cp.size}: the log forked its history (keep both checkpoints as evidence); not cosigning`,
      );
    return;
  }
  try {
    verifyConsistency(
      previous.size,
      cp.size,
      previous.root,
      cp.root,
      await fetchConsistencyProof(base, previous.size, cp.size, network),
    );
  } catch (error) {
    if (error instanceof DomainError && ['FETCH_FAILED', 'SOURCE_UNREACHABLE'].includes(error.code)) throw error;
    throw new DomainError(
      'CHECKPOINT_FORK',
      `the checkpoint of size ${cp.size} is not consistent with size ${previous.size} this witness cosigned: ${(error as Error).message}; not cosigning`,
    );
  }
}

/** The note as the log signed it: other witnesses' lines are not ours to send. */
function logSigned(note: string, logKey: NoteVerifier): string {
  const { text, signatures } = parseNote(note);
  const own = signatures.filter((s) => s.name === logKey.name && s.keyHash === logKey.keyHash);
  return `${text}\n${own.map(signatureLine).join('')}`;
}

interface Recorded {
  readonly cosignatures?: readonly { witness: string; stored: boolean }[];
}

/**
 * The log's own refusal of a cosignature, relayed with its code as it came: the code is the
 * server's text (its own code union, or HTTP_<status>), not one of this program's refusals.
 */
class LogRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'LogRefusal';
  }
}

/** POSTs the cosigned note (retried like a read: the log stores a cosignature once); the log's refusal ({code, message}) becomes this command's. */
async function submit(base: string, note: string, network: NetworkOptions): Promise<Recorded> {
  const response = await fetchRetrying(`${base}/log/cosignature`, 'an answer to the cosignature', network, {
    method: 'POST',
    body: note,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
  const body = (await response.json().catch(() => ({}))) as Recorded & { code?: string; message?: string };
  if (!response.ok)
    throw new LogRefusal(
      body.code ?? `HTTP_${response.status}`,
      `the log refused the cosignature: ${body.message ?? `HTTP ${response.status}`}`,
    );
  return body;
}
