import { createHash, hash, timingSafeEqual } from 'node:crypto';
import { TlogError } from './errors.js';

/** A SHA-256 tree hash: always 32 bytes. */
export type Hash = Uint8Array;
export const HASH_SIZE = 32;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** The bytes a leaf hash is taken over (0x00 || entry), reused and grown as entries need. */
let leafInput = new Uint8Array(2048);

/** RFC 6962 §2.1: MTH({d}) = SHA-256(0x00 || d). */
export function leafHash(data: Uint8Array): Hash {
  if (data.length > 1 << 20) return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
  // One call into OpenSSL instead of a hash object and three (every appended and audited leaf).
  if (leafInput.length < data.length + 1) leafInput = new Uint8Array(2 * (data.length + 1));
  leafInput[0] = 0x00;
  leafInput.set(data, 1);
  return hash('sha256', leafInput.subarray(0, data.length + 1), 'buffer');
}

/** The 65 bytes a node hash is taken over, reused: filled and hashed in one synchronous call. */
const nodeInput = new Uint8Array(1 + 2 * HASH_SIZE);

/** RFC 6962 §2.1: SHA-256(0x01 || left || right). */
export function nodeHash(left: Hash, right: Hash): Hash {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE)
    return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
  // One call into OpenSSL instead of a hash object and three (a tree of n leaves takes n - 1).
  nodeInput[0] = 0x01;
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_SIZE);
  return hash('sha256', nodeInput, 'buffer');
}

/** The root of the empty tree is SHA-256 of the empty string (RFC 6962 §2.1). */
export const EMPTY_ROOT: Hash = createHash('sha256').digest();

export function sha256(data: Uint8Array | string): Uint8Array {
  return hash('sha256', data, 'buffer');
}

export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Strict standard base64 (padded); anything else is refused rather than guessed at. */
export function fromBase64(text: string): Uint8Array {
  if (!BASE64.test(text)) throw new TlogError('BAD_HASH', 'not valid base64');
  return new Uint8Array(Buffer.from(text, 'base64'));
}

export function fromHex(text: string): Uint8Array {
  if (!HEX.test(text)) throw new TlogError('BAD_HASH', 'not valid hex');
  return new Uint8Array(Buffer.from(text, 'hex'));
}

export function hashFromBase64(text: string): Hash {
  const bytes = fromBase64(text);
  if (bytes.length !== HASH_SIZE) throw new TlogError('BAD_HASH', `a hash is ${HASH_SIZE} bytes, got ${bytes.length}`);
  return bytes;
}
