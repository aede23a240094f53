import { TlogError } from './errors.js';
import { type Hash, hashFromBase64, toBase64 } from './hash.js';
import { type NoteSigner, type NoteVerifier, openNote, signNote } from './note.js';

// C2SP tlog-checkpoint: "<origin>\n<size>\n<base64 root>\n[extension lines]" as a signed note.

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Hash;
  readonly extensions: readonly string[];
}

export function formatCheckpoint(cp: Checkpoint): string {
  return `${cp.origin}\n${cp.size}\n${toBase64(cp.root)}\n${cp.extensions.map((e) => `${e}\n`).join('')}`;
}

export function parseCheckpointText(text: string): Checkpoint {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '')
    throw new TlogError('BAD_CHECKPOINT', 'a checkpoint has an origin, a size and a root hash, each on its own line');
  lines.pop();
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (!origin) throw new TlogError('BAD_CHECKPOINT', 'the checkpoint origin is empty');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText!) || !Number.isSafeInteger(Number(sizeText))) {
    throw new TlogError('BAD_CHECKPOINT', `"${sizeText!.slice(0, 30)}" is not a tree size`);
  }
  let root: Hash;
  try {
    root = hashFromBase64(rootText!);
  } catch {
    throw new TlogError('BAD_CHECKPOINT', 'the checkpoint root is not a base64 SHA-256 hash');
  }
  if (extensions.some((e) => e === '')) throw new TlogError('BAD_CHECKPOINT', 'a checkpoint extension line is empty');
  return { origin, size: Number(sizeText), root, extensions };
}

export function signCheckpoint(cp: Checkpoint, signer: NoteSigner): string {
  return signNote(formatCheckpoint(cp), [signer]);
}

/**
 * Verifies a checkpoint note with the log's verifier key and checks that its origin is the
 * key's name (C2SP tlog-checkpoint: the log's key name is its origin).
 */
export function openCheckpoint(
  note: string,
  logKey: NoteVerifier,
  others: readonly NoteVerifier[] = [],
): Checkpoint & { note: string; cosignedBy: NoteVerifier[] } {
  const { text, verifiedBy } = openNote(note, [logKey, ...others]);
  if (!verifiedBy.includes(logKey))
    throw new TlogError('UNVERIFIED_NOTE', `the checkpoint is not signed by the log key ${logKey.name}`);
  const cp = parseCheckpointText(text);
  if (cp.origin !== logKey.name)
    throw new TlogError(
      'BAD_CHECKPOINT',
      `the checkpoint origin "${cp.origin}" is not the log key's name "${logKey.name}"`,
    );
  return { ...cp, note, cosignedBy: verifiedBy.filter((v) => v !== logKey) };
}
