import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
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
import { fetchConsistencyProof, fetchOk } from '@signet/client';
import { hostNow, readText, writeAtomically } from './files.js';

// `signet witness`: a C2SP tlog-cosignature witness of one Signet log, run from cron. It cosigns
// the log's checkpoint only if it verifies with the pinned log key and extends (by a consistency
// proof) the last checkpoint this witness cosigned, which it keeps in its state directory, one
// directory per log. Exit codes: 0 cosigned, 1 refused (by the witness or by the log), 2 usage.

const COSIGN_USAGE =
  'usage: signet witness cosign --server URL --vkey LOGKEY --key WITNESS_KEY_FILE [--state DIR] [--json]';
const KEYGEN_USAGE = 'usage: signet witness keygen --name NAME';
const TIMEOUT_MS = 30_000;

const usage = (message: string) => new DomainError('USAGE', message);

/** This host's time in POSIX seconds (SIGNET_CLOCK_FILE in tests). */
const nowSeconds = () => Math.floor(hostNow().getTime() / 1000);

/** `signet witness keygen|cosign …` */
export async function witnessCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'keygen') return keygen(rest);
  if (sub === 'cosign') return cosign(rest);
  throw usage(`${KEYGEN_USAGE}\n${COSIGN_USAGE}`);
}

/** A new witness key: the signer key (keep it, mode 0600) and the verifier key (for the log's SIGNET_WITNESSES). */
function keygen(args: string[]): number {
  const { values } = parseArgs({ args, options: { name: { type: 'string' } }, strict: true });
  if (!values.name) throw usage(KEYGEN_USAGE);
  const skey = encodeWitnessSignerKey(values.name, randomBytes(32));
  process.stdout.write(`signer key:   ${skey}\nverifier key: ${parseWitnessSignerKey(skey).signer.verifierKey}\n`);
  return 0;
}

/** The signer key in a file: the first PRIVATE+KEY+… word, so the output of keygen may be kept as it is. */
function readSigner(path: string): WitnessSigner {
  const text = readText(path);
  if (text === null) throw usage(`cannot read the witness key file ${path}`);
  const skey = /PRIVATE\+KEY\+\S+/.exec(text)?.[0];
  if (!skey) throw usage(`${path} holds no witness signer key (PRIVATE+KEY+…; see signet witness keygen)`);
  return parseWitnessSignerKey(skey).signer;
}

async function cosign(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      server: { type: 'string' },
      vkey: { type: 'string' },
      key: { type: 'string' },
      state: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  if (!values.server || !values.vkey || !values.key) throw usage(COSIGN_USAGE);
  const base = values.server.replace(/\/+$/, '');
  const vkey = values.vkey.trim();
  const logKey = parseVerifierKey(vkey);
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
  const cp = openServed(await (await fetchOk(`${base}/log/checkpoint`, 'the checkpoint')).text(), logKey);
  if (previous) await checkExtends(base, previous, cp);
  const note = logSigned(cp.note, logKey);
  const timestamp = nowSeconds();
  const line = cosignCheckpoint(note, signer, timestamp);
  // Remember before publishing: once a cosignature is out, nothing smaller or forked may follow it.
  writeAtomically(join(dir, 'checkpoint'), note, 0o600);
  if (!pinned) writeAtomically(join(dir, 'vkey'), `${vkey}\n`, 0o600);

  const answer = await submit(base, note + line);
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
async function checkExtends(base: string, previous: Checkpoint, cp: Checkpoint): Promise<void> {
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
      await fetchConsistencyProof(base, previous.size, cp.size),
    );
  } catch (error) {
    if (error instanceof DomainError && error.code === 'FETCH_FAILED') throw error;
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

/** POSTs the cosigned note; the log's refusal ({code, message}) becomes this command's. */
async function submit(base: string, note: string): Promise<Recorded> {
  let response: Response;
  try {
    response = await fetch(`${base}/log/cosignature`, {
      method: 'POST',
      body: note,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new DomainError('FETCH_FAILED', `cannot post the cosignature to ${base}: ${(error as Error).message}`);
  }
  const body = (await response.json().catch(() => ({}))) as Recorded & { code?: string; message?: string };
  if (!response.ok)
    throw new LogRefusal(
      body.code ?? `HTTP_${response.status}`,
      `the log refused the cosignature: ${body.message ?? `HTTP ${response.status}`}`,
    );
  return body;
}
