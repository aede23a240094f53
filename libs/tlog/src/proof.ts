import { TlogError } from './errors.js';
import { type Hash, HASH_SIZE, hashesEqual, nodeHash } from './hash.js';

// Verification exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 describe it. Proof elements come from
// an untrusted server: every length and count is checked before use.

const odd = (x: number) => x % 2 === 1;
const half = (x: number) => Math.floor(x / 2);

function checkHashes(what: string, hashes: readonly Hash[]): void {
  if (hashes.length > 64)
    throw new TlogError('BAD_PROOF', `${what} has ${hashes.length} elements; no tree needs more than 64`);
  for (const h of hashes) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE)
      throw new TlogError('BAD_PROOF', `${what} holds a hash that is not ${HASH_SIZE} bytes`);
  }
}

/** The root an inclusion proof leads to, or a TlogError when the proof has the wrong shape. */
export function rootFromInclusionProof(index: number, size: number, leaf: Hash, proof: readonly Hash[]): Hash {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    throw new TlogError('BAD_PROOF', `leaf ${index} is not in a tree of size ${size}`);
  }
  checkHashes('the inclusion proof', proof);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new TlogError('BAD_PROOF', 'the inclusion proof is too long');
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new TlogError('BAD_PROOF', 'the inclusion proof is too short');
  return r;
}

/** Throws TlogError('BAD_PROOF') unless `proof` shows leaf `index` with hash `leaf` in the tree `root` of `size`. */
export function verifyInclusion(index: number, size: number, leaf: Hash, proof: readonly Hash[], root: Hash): void {
  const computed = rootFromInclusionProof(index, size, leaf, proof);
  if (!hashesEqual(computed, root))
    throw new TlogError('BAD_PROOF', `the inclusion proof for leaf ${index} does not lead to the root of size ${size}`);
}

/** Throws TlogError('BAD_PROOF') unless `proof` shows the tree (m, oldRoot) is a prefix of (n, newRoot). */
export function verifyConsistency(m: number, n: number, oldRoot: Hash, newRoot: Hash, proof: readonly Hash[]): void {
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || m < 0 || m > n) {
    throw new TlogError('BAD_PROOF', `no consistency proof goes from size ${m} to size ${n}`);
  }
  checkHashes('the consistency proof', proof);
  if (m === n) {
    if (proof.length !== 0) throw new TlogError('BAD_PROOF', 'a proof between equal sizes must be empty');
    if (!hashesEqual(oldRoot, newRoot)) throw new TlogError('BAD_PROOF', `two different roots for size ${n}`);
    return;
  }
  if (m === 0) {
    // Every tree extends the empty one; there is nothing to prove.
    if (proof.length !== 0) throw new TlogError('BAD_PROOF', 'a proof from the empty tree must be empty');
    return;
  }
  if (proof.length === 0) throw new TlogError('BAD_PROOF', 'the consistency proof is empty');
  const path = isPow2(m) ? [oldRoot, ...proof] : [...proof];
  let fn = m - 1;
  let sn = n - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) throw new TlogError('BAD_PROOF', 'the consistency proof is too long');
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new TlogError('BAD_PROOF', 'the consistency proof is too short');
  if (!hashesEqual(fr, oldRoot))
    throw new TlogError('BAD_PROOF', `the consistency proof does not lead to the old root of size ${m}`);
  if (!hashesEqual(sr, newRoot))
    throw new TlogError('BAD_PROOF', `the consistency proof does not lead to the new root of size ${n}`);
}

function isPow2(x: number): boolean {
  while (x > 1 && x % 2 === 0) x /= 2;
  return x === 1;
}
