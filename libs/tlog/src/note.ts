import { createPrivateKey, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { TlogError } from './errors.js';
import { fromBase64, sha256, toBase64 } from './hash.js';

// C2SP signed-note with Ed25519 (algorithm byte 0x01). A note is UTF-8 text ending in "\n",
// a blank line, then signature lines "— <name> <base64(key hash || signature)>".

/** Signature type of a log's (plain) Ed25519 note key; C2SP signed-note. */
export const ALG_ED25519 = 0x01;
const EM_DASH = '\u2014';
const MAX_SIGNATURES = 100;
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

export interface NoteSignature {
  readonly name: string;
  readonly keyHash: number;
  readonly signature: Uint8Array;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyHash: number;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSigner {
  readonly name: string;
  readonly keyHash: number;
  sign(text: Uint8Array): Uint8Array;
}

/** Key names are non-empty printable UTF-8 without spaces or "+" (C2SP signed-note). */
export function checkName(name: string): void {
  if (name.length === 0 || /[\s+]/u.test(name) || !isPrintableUtf8(name)) {
    throw new TlogError('BAD_KEY', `key name "${name.slice(0, 100)}" must be non-empty, without spaces or "+"`);
  }
}

function isPrintableUtf8(text: string): boolean {
  // Lone surrogates cannot be encoded; control characters are not allowed in names or notes.
  return text.isWellFormed() && !/[\u0000-\u0009\u000b-\u001f\u007f]/u.test(text);
}

/** First 4 bytes of SHA-256(name || "\n" || alg || public key), as a big-endian uint32. */
export function keyHash(name: string, publicKey: Uint8Array, alg: number = ALG_ED25519): number {
  const h = sha256(Buffer.concat([Buffer.from(`${name}\n`, 'utf8'), Buffer.of(alg), publicKey]));
  return Buffer.from(h).readUInt32BE(0);
}

/** A key hash as the 8 hex digits of its vkey form. */
export const hash8 = (h: number) => h.toString(16).padStart(8, '0');

/** The public half of a seed, as raw 32 bytes. */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new TlogError('BAD_KEY', 'an Ed25519 seed is 32 bytes');
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_ED25519.length));
}

/** `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`, as Go's note.GenerateKey writes it. */
export function encodeSignerKey(name: string, seed: Uint8Array): string {
  checkName(name);
  const pub = ed25519PublicKey(seed);
  return `PRIVATE+KEY+${name}+${hash8(keyHash(name, pub))}+${toBase64(Buffer.concat([Buffer.of(ALG_ED25519), seed]))}`;
}

/** `<name>+<hash>+<base64(0x01 || public key)>`. */
export function encodeVerifierKey(name: string, publicKey: Uint8Array): string {
  checkName(name);
  return `${name}+${hash8(keyHash(name, publicKey))}+${toBase64(Buffer.concat([Buffer.of(ALG_ED25519), publicKey]))}`;
}

function splitKey(text: string, parts: number, what: string): string[] {
  // Base64 may itself contain "+": only the first parts-1 separators count.
  const all = text.trim().split('+');
  const fields = [...all.slice(0, parts - 1), all.slice(parts - 1).join('+')];
  if (all.length < parts) throw new TlogError('BAD_KEY', `not a ${what} key: expected ${parts} "+"-separated fields`);
  return fields;
}

function decodeKeyMaterial(name: string, hashText: string, b64: string, what: string, alg: number): Uint8Array {
  checkName(name);
  if (!/^[0-9a-f]{8}$/.test(hashText))
    throw new TlogError('BAD_KEY', `the ${what} key hash must be 8 lower-case hex digits`);
  let raw: Uint8Array;
  try {
    raw = fromBase64(b64);
  } catch {
    throw new TlogError('BAD_KEY', `the ${what} key is not valid base64`);
  }
  if (raw.length !== 33 || raw[0] !== alg)
    throw new TlogError(
      'BAD_KEY',
      `the ${what} key is not an Ed25519 key of type 0x${alg.toString(16).padStart(2, '0')} (32 bytes)`,
    );
  return raw.subarray(1);
}

/**
 * The checked fields of a signer key `PRIVATE+KEY+<name>+<hash>+<base64(alg || seed)>` or a
 * verifier key `<name>+<hash>+<base64(alg || public key)>` with a 32-byte Ed25519 key of type
 * `alg`. The hash is only checked for form: comparing it needs the public key.
 */
export function readKeyText(
  text: string,
  kind: 'signer' | 'verifier',
  alg: number,
): { name: string; hashText: string; material: Uint8Array } {
  if (kind === 'signer') {
    const [p, k, name, hashText, b64] = splitKey(text, 5, kind);
    if (p !== 'PRIVATE' || k !== 'KEY') throw new TlogError('BAD_KEY', 'a signer key starts with PRIVATE+KEY+');
    return { name: name!, hashText: hashText!, material: decodeKeyMaterial(name!, hashText!, b64!, kind, alg) };
  }
  const [name, hashText, b64] = splitKey(text, 3, kind);
  return { name: name!, hashText: hashText!, material: decodeKeyMaterial(name!, hashText!, b64!, kind, alg) };
}

/** Ed25519 (RFC 8032) signing with a 32-byte seed. */
export function ed25519Sign(seed: Uint8Array): (msg: Uint8Array) => Uint8Array {
  if (seed.length !== 32) throw new TlogError('BAD_KEY', 'an Ed25519 seed is 32 bytes');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
  return (msg) => new Uint8Array(edSign(null, msg, key));
}

/** Ed25519 verification with a raw 32-byte public key; BAD_KEY when it is not a valid point. */
export function ed25519Verify(publicKey: Uint8Array): (msg: Uint8Array, sig: Uint8Array) => boolean {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey]), format: 'der', type: 'spki' });
  } catch {
    throw new TlogError('BAD_KEY', 'the verifier key is not a valid Ed25519 point');
  }
  return (msg, sig) => sig.length === 64 && edVerify(null, msg, key, sig);
}

export function parseSignerKey(text: string): {
  name: string;
  seed: Uint8Array;
  publicKey: Uint8Array;
  signer: NoteSigner;
} {
  const { name, hashText, material: seed } = readKeyText(text, 'signer', ALG_ED25519);
  const publicKey = ed25519PublicKey(seed);
  if (hash8(keyHash(name, publicKey)) !== hashText)
    throw new TlogError('BAD_KEY', 'the signer key hash does not match its key');
  return { name, seed, publicKey, signer: ed25519Signer(name, seed) };
}

export function parseVerifierKey(text: string): NoteVerifier & { publicKey: Uint8Array } {
  const { name, hashText, material: publicKey } = readKeyText(text, 'verifier', ALG_ED25519);
  if (hash8(keyHash(name, publicKey)) !== hashText)
    throw new TlogError('BAD_KEY', 'the verifier key hash does not match its key');
  return { name, keyHash: keyHash(name, publicKey), publicKey, verify: ed25519Verify(publicKey) };
}

export function ed25519Signer(name: string, seed: Uint8Array): NoteSigner {
  checkName(name);
  return { name, keyHash: keyHash(name, ed25519PublicKey(seed)), sign: ed25519Sign(seed) };
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) throw new TlogError('BAD_NOTE', 'note text must end in a newline');
  if (!isPrintableUtf8(text))
    throw new TlogError('BAD_NOTE', 'note text must be UTF-8 without control characters other than newline');
}

export function signatureLine(sig: NoteSignature): string {
  const bytes = Buffer.alloc(4 + sig.signature.length);
  bytes.writeUInt32BE(sig.keyHash >>> 0, 0);
  bytes.set(sig.signature, 4);
  return `${EM_DASH} ${sig.name} ${bytes.toString('base64')}\n`;
}

/** Signs `text` (which must end in "\n") with every signer and returns the whole note. */
export function signNote(
  text: string,
  signers: readonly NoteSigner[],
  extraSignatures: readonly NoteSignature[] = [],
): string {
  checkText(text);
  const msg = Buffer.from(text, 'utf8');
  const lines = signers.map((s) => signatureLine({ name: s.name, keyHash: s.keyHash, signature: s.sign(msg) }));
  return `${text}\n${lines.join('')}${extraSignatures.map(signatureLine).join('')}`;
}

/** Splits a note into its text and signatures without verifying anything. */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  if (note.length > 1_000_000) throw new TlogError('BAD_NOTE', 'the note is too large');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new TlogError('BAD_NOTE', 'the note has no signature block');
  const text = note.slice(0, split + 1);
  checkText(text);
  const block = note.slice(split + 2);
  if (!block.endsWith('\n')) throw new TlogError('BAD_NOTE', 'the signature block must end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES)
    throw new TlogError('BAD_NOTE', `a note carries at most ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line) => {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/u.exec(line);
    if (!m) throw new TlogError('BAD_NOTE', `malformed signature line "${line.slice(0, 100)}"`);
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(m[2]!);
    } catch {
      throw new TlogError('BAD_NOTE', 'a signature line is not valid base64');
    }
    if (bytes.length < 5) throw new TlogError('BAD_NOTE', 'a signature line is too short');
    return { name: m[1]!, keyHash: Buffer.from(bytes).readUInt32BE(0), signature: bytes.subarray(4) };
  });
  return { text, signatures };
}

/**
 * Opens a signed note: returns its text and the verifiers that signed it. Signatures by unknown
 * keys are skipped (notes may be cosigned by others); a signature that claims a known key but
 * does not verify is an error; at least one known key must have signed.
 */
export function openNote(
  note: string,
  verifiers: readonly NoteVerifier[],
): { text: string; verifiedBy: NoteVerifier[]; signatures: NoteSignature[] } {
  const { text, signatures } = parseNote(note);
  const msg = Buffer.from(text, 'utf8');
  const verifiedBy: NoteVerifier[] = [];
  for (const sig of signatures) {
    const v = verifiers.find((k) => k.name === sig.name && k.keyHash === sig.keyHash);
    if (!v) continue;
    if (!v.verify(msg, sig.signature))
      throw new TlogError('UNVERIFIED_NOTE', `the signature by ${sig.name}+${hash8(sig.keyHash)} does not verify`);
    if (!verifiedBy.includes(v)) verifiedBy.push(v);
  }
  if (verifiedBy.length === 0) throw new TlogError('UNVERIFIED_NOTE', 'the note is not signed by any known key');
  return { text, verifiedBy, signatures };
}
