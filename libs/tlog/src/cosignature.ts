import { TlogError } from './errors.js';
import { toBase64 } from './hash.js';
import { type Checkpoint, openCheckpoint, parseCheckpointText } from './checkpoint.js';
import {
  type NoteSignature,
  type NoteVerifier,
  checkName,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  hash8,
  keyHash,
  parseNote,
  readKeyText,
  signatureLine,
} from './note.js';

// C2SP tlog-cosignature v1 with Ed25519 (signature type 0x04). A witness signs
//   "cosignature/v1\n" || "time <POSIX seconds>\n" || <checkpoint body>
// and its note signature line is "— <name> base64(key hash[4] || timestamp[8, big-endian] || signature[64])".
// The key hash is that of signed-note with the type byte 0x04, so a witness's line is never taken
// for a signature by a plain (0x01) note key, even one with the same name and public key.

/** Signature type of an Ed25519 cosigner key (C2SP tlog-cosignature). */
export const ALG_COSIGNATURE_V1 = 0x04;

const HEADER = 'cosignature/v1\n';
const TIMESTAMP_BYTES = 8;
const SIGNATURE_BYTES = 64;

/** A witness's cosignature verifier. As a NoteVerifier it also opens notes (`openCheckpoint(note, logKey, witnesses)`). */
export interface WitnessVerifier extends NoteVerifier {
  readonly publicKey: Uint8Array;
  /** `<name>+<hash>+base64(0x04 || public key)`. */
  readonly verifierKey: string;
  /** The timestamp of `signature` (timestamp || Ed25519 signature) when it verifies over the note body `text`; otherwise null. */
  timestampOf(text: Uint8Array, signature: Uint8Array): number | null;
}

export interface WitnessSigner {
  readonly name: string;
  readonly keyHash: number;
  readonly verifierKey: string;
  /** timestamp || Ed25519 signature over the cosigned message of the note body `text`. */
  sign(text: string, timestamp: number): Uint8Array;
}

/** A cosignature that verified. */
export interface Cosignature {
  readonly witness: WitnessVerifier;
  /** When the witness cosigned, in POSIX seconds (the witness's clock, not checked here). */
  readonly timestamp: number;
  /** The signature line as it goes in a note: "— <name> <base64>\n". */
  readonly line: string;
}

/** SHA-256(name || "\n" || 0x04 || public key)[:4]. */
export function witnessKeyHash(name: string, publicKey: Uint8Array): number {
  return keyHash(name, publicKey, ALG_COSIGNATURE_V1);
}

/** `<name>+<hash>+base64(0x04 || public key)`: the vkey form the spec allows for cosigner keys. */
export function encodeWitnessVerifierKey(name: string, publicKey: Uint8Array): string {
  checkName(name);
  return `${name}+${hash8(witnessKeyHash(name, publicKey))}+${toBase64(Buffer.concat([Buffer.of(ALG_COSIGNATURE_V1), publicKey]))}`;
}

/**
 * `PRIVATE+KEY+<name>+<hash>+base64(0x04 || seed)`, the hash being the cosigner key hash: the
 * signer key form transparency-dev/formats (note.NewSignerForCosignatureV1) reads.
 */
export function encodeWitnessSignerKey(name: string, seed: Uint8Array): string {
  checkName(name);
  const hash = witnessKeyHash(name, ed25519PublicKey(seed));
  return `PRIVATE+KEY+${name}+${hash8(hash)}+${toBase64(Buffer.concat([Buffer.of(ALG_COSIGNATURE_V1), seed]))}`;
}

function checkTimestamp(timestamp: number): void {
  // The spec allows up to 2^63-1; beyond 2^53-1 (year 285 million) a number would be rounded.
  if (!Number.isSafeInteger(timestamp) || timestamp < 0)
    throw new TlogError('BAD_COSIGNATURE', `${timestamp} is not a POSIX timestamp in seconds`);
}

/** The bytes a witness signs: the header line, the time line, then the note body. */
export function cosignedMessage(text: string | Uint8Array, timestamp: number): Uint8Array {
  checkTimestamp(timestamp);
  return Buffer.concat([
    Buffer.from(`${HEADER}time ${timestamp}\n`, 'utf8'),
    typeof text === 'string' ? Buffer.from(text, 'utf8') : text,
  ]);
}

/** A verifier for the witness of `name` and a 32-byte Ed25519 public key. */
export function witnessVerifier(name: string, publicKey: Uint8Array): WitnessVerifier {
  const verify = ed25519Verify(publicKey);
  const timestampOf = (text: Uint8Array, signature: Uint8Array): number | null => {
    if (signature.length !== TIMESTAMP_BYTES + SIGNATURE_BYTES) return null;
    const timestamp = Buffer.from(signature.buffer, signature.byteOffset, TIMESTAMP_BYTES).readBigUInt64BE(0);
    if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) return null;
    return verify(cosignedMessage(text, Number(timestamp)), signature.subarray(TIMESTAMP_BYTES))
      ? Number(timestamp)
      : null;
  };
  return {
    name,
    keyHash: witnessKeyHash(name, publicKey),
    publicKey,
    verifierKey: encodeWitnessVerifierKey(name, publicKey),
    timestampOf,
    verify: (text, signature) => timestampOf(text, signature) !== null,
  };
}

/** Reads a witness verifier key (type 0x04); BAD_KEY for anything else, a plain note key included. */
export function parseWitnessVerifierKey(text: string): WitnessVerifier {
  const { name, hashText, material } = readKeyText(text, 'verifier', ALG_COSIGNATURE_V1);
  if (hash8(witnessKeyHash(name, material)) !== hashText)
    throw new TlogError('BAD_KEY', `the witness key hash of ${name} does not match its key`);
  return witnessVerifier(name, material);
}

/** Witness verifier keys separated by commas or newlines; two keys may not share a name. */
export function parseWitnessVerifierKeys(list: string): WitnessVerifier[] {
  const witnesses = list
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseWitnessVerifierKey);
  const names = witnesses.map((w) => w.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new TlogError('BAD_KEY', `two witness keys are named ${twice}`);
  return witnesses;
}

/** A witness signer from its name and 32-byte Ed25519 seed. */
export function witnessSigner(name: string, seed: Uint8Array): WitnessSigner {
  checkName(name);
  const sign = ed25519Sign(seed);
  const publicKey = ed25519PublicKey(seed);
  return {
    name,
    keyHash: witnessKeyHash(name, publicKey),
    verifierKey: encodeWitnessVerifierKey(name, publicKey),
    sign: (text, timestamp) => {
      const msg = cosignedMessage(text, timestamp);
      const stamp = Buffer.alloc(TIMESTAMP_BYTES);
      stamp.writeBigUInt64BE(BigInt(timestamp));
      return Buffer.concat([stamp, sign(msg)]);
    },
  };
}

/** Reads a witness signer key `PRIVATE+KEY+<name>+<hash>+base64(0x04 || seed)`. */
export function parseWitnessSignerKey(text: string): {
  name: string;
  seed: Uint8Array;
  publicKey: Uint8Array;
  signer: WitnessSigner;
} {
  const { name, hashText, material: seed } = readKeyText(text, 'signer', ALG_COSIGNATURE_V1);
  const publicKey = ed25519PublicKey(seed);
  if (hash8(witnessKeyHash(name, publicKey)) !== hashText)
    throw new TlogError('BAD_KEY', `the witness signer key hash of ${name} does not match its key`);
  return { name, seed, publicKey, signer: witnessSigner(name, seed) };
}

/** The body of a checkpoint given as its text or as a signed note; BAD_CHECKPOINT when it is not one. */
function checkpointBody(note: string): string {
  const text = note.includes('\n\n') ? parseNote(note).text : note;
  parseCheckpointText(text);
  return text;
}

/**
 * A witness's signature line over a checkpoint (its body, or the signed note: signatures are not
 * part of what is cosigned). The witness must have checked the checkpoint first: its signature
 * by the log and its consistency with every checkpoint of the log the witness cosigned before.
 */
export function cosignCheckpoint(note: string, signer: WitnessSigner, timestamp: number): string {
  const signature = signer.sign(checkpointBody(note), timestamp);
  return signatureLine({ name: signer.name, keyHash: signer.keyHash, signature });
}

/**
 * Sorts the signature lines of a note by the given witnesses. `valid`: one cosignature per
 * witness (the newest, when a note carries several), in the order of `witnesses`. `invalid`:
 * lines that name a given witness and its key hash but do not verify. Lines by other keys are
 * ignored, as signed-note asks.
 */
export function checkCosignatures(
  note: string,
  witnesses: readonly WitnessVerifier[],
): { text: string; valid: Cosignature[]; invalid: NoteSignature[] } {
  // The note comes from the network: parseNote bounds its size and its number of lines.
  const { text, signatures } = parseNote(note);
  const msg = Buffer.from(text, 'utf8');
  const newest = new Map<WitnessVerifier, Cosignature>();
  const invalid: NoteSignature[] = [];
  for (const sig of signatures) {
    const witness = witnesses.find((w) => w.name === sig.name && w.keyHash === sig.keyHash);
    if (!witness) continue;
    const timestamp = witness.timestampOf(msg, sig.signature);
    if (timestamp === null) invalid.push(sig);
    else if ((newest.get(witness)?.timestamp ?? -1) < timestamp)
      newest.set(witness, { witness, timestamp, line: signatureLine(sig) });
  }
  const valid = witnesses.flatMap((w) => newest.get(w) ?? []);
  return { text, valid, invalid };
}

/** The cosignatures in `note` by the given witnesses that verify (see checkCosignatures). */
export function verifyCosignatures(note: string, witnesses: readonly WitnessVerifier[]): Cosignature[] {
  return checkCosignatures(note, witnesses).valid;
}

/**
 * The cosignatures of at least `quorum` of `witnesses` (all of them by default), or
 * TlogError('QUORUM_NOT_MET') naming the witnesses whose cosignature is missing or does not
 * verify. It does not check the log's own signature: see openCosignedCheckpoint.
 */
export function requireQuorum(
  note: string,
  witnesses: readonly WitnessVerifier[],
  quorum: number = witnesses.length,
): Cosignature[] {
  if (!Number.isSafeInteger(quorum) || quorum < 1)
    throw new RangeError(`a quorum is a positive integer, got ${quorum}`);
  const valid = verifyCosignatures(note, witnesses);
  if (valid.length >= quorum) return valid;
  const missing = witnesses.filter((w) => !valid.some((c) => c.witness === w)).map((w) => w.name);
  throw new TlogError(
    'QUORUM_NOT_MET',
    `the checkpoint is cosigned by ${valid.length} of the ${quorum} witnesses required (of ${witnesses.length}); missing: ${missing.join(', ')}`,
  );
}

/** A checkpoint signed by the log's key and cosigned by a quorum of witnesses (openCheckpoint, then requireQuorum). */
export function openCosignedCheckpoint(
  note: string,
  logKey: NoteVerifier,
  witnesses: readonly WitnessVerifier[],
  quorum: number = witnesses.length,
): Checkpoint & { note: string; cosignatures: Cosignature[] } {
  const cp = openCheckpoint(note, logKey);
  const cosignatures = requireQuorum(note, witnesses, quorum);
  return { origin: cp.origin, size: cp.size, root: cp.root, extensions: cp.extensions, note, cosignatures };
}
