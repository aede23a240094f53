import { createHash, createPublicKey, verify } from 'node:crypto';

// A deliberately separate, minimal C2SP tlog-tiles client for the e2e tests: it shares no code
// with the server's tree or note handling, so a bug in one is not hidden by the same bug in both.

const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const leafHash = (entry: Uint8Array) => sha(Buffer.of(0), entry);
const nodeHash = (l: Uint8Array, r: Uint8Array) => sha(Buffer.of(1), l, r);

/** RFC 6962 MTH by its recursive definition, over leaf (or subtree) hashes. */
export function mth(hashes: Buffer[]): Buffer {
  if (hashes.length === 0) return sha();
  if (hashes.length === 1) return hashes[0]!;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return nodeHash(mth(hashes.slice(0, k)), mth(hashes.slice(k)));
}

export function tilePathOf(level: number | 'entries', n: number, width: number): string {
  const groups: string[] = [];
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  const path = groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
  return `tile/${level}/${path}${width < 256 ? `.p/${width}` : ''}`;
}

export interface VerifiedCheckpoint {
  readonly note: string;
  readonly size: number;
  readonly root: Buffer;
}

/** Verifies a checkpoint note against a `name+hash+base64` verifier key obtained out of band. */
export function verifyCheckpointNote(note: string, vkey: string): VerifiedCheckpoint {
  const [name, hashHex, b64] = [vkey.split('+')[0]!, vkey.split('+')[1]!, vkey.split('+').slice(2).join('+')];
  const raw = Buffer.from(b64, 'base64');
  if (raw[0] !== 1 || raw.length !== 33) throw new Error('not an Ed25519 verifier key');
  const expectHash = sha(Buffer.from(`${name}\n`), raw).subarray(0, 4);
  if (expectHash.toString('hex') !== hashHex) throw new Error('verifier key hash mismatch');
  const key = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw.subarray(1)]),
    format: 'der',
    type: 'spki',
  });
  const split = note.indexOf('\n\n');
  const text = note.slice(0, split + 1);
  const sigLines = note
    .slice(split + 2)
    .split('\n')
    .filter(Boolean);
  const ok = sigLines.some((line) => {
    const [dash, who, sigB64] = line.split(' ');
    if (dash !== '\u2014' || who !== name) return false;
    const sig = Buffer.from(sigB64!, 'base64');
    return sig.subarray(0, 4).equals(expectHash) && verify(null, Buffer.from(text), key, sig.subarray(4));
  });
  if (!ok) throw new Error('checkpoint signature does not verify');
  const [origin, size, root] = text.split('\n');
  if (origin !== name) throw new Error('origin mismatch');
  return { note, size: Number(size), root: Buffer.from(root!, 'base64') };
}

async function get(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return res;
}

/**
 * Fetches every entry bundle and every tile of the tree a checkpoint names, checks each tile
 * against hashes recomputed from the entries below it, and the root against the checkpoint.
 * Returns the leaf hashes.
 */
export async function verifyAllTiles(base: string, cp: VerifiedCheckpoint): Promise<Buffer[]> {
  const n = cp.size;
  const leaves: Buffer[] = [];
  const entries: Buffer[] = [];
  for (let t = 0; t * 256 < n; t++) {
    const width = Math.min(256, n - t * 256);
    const bundle = Buffer.from(await (await get(`${base}/log/${tilePathOf('entries', t, width)}`)).arrayBuffer());
    let at = 0;
    let count = 0;
    while (at < bundle.length) {
      const len = bundle.readUInt16BE(at);
      const entry = bundle.subarray(at + 2, at + 2 + len);
      entries.push(entry);
      leaves.push(leafHash(entry));
      at += 2 + len;
      count++;
    }
    if (count !== width || at !== bundle.length)
      throw new Error(`entry bundle ${t} holds ${count} entries, expected ${width}`);
  }
  // Level L tiles hold the roots of 256^L-leaf subtrees; recompute each from the leaves.
  let level = 0;
  let hashes = leaves;
  for (;;) {
    const tiles = Math.ceil(hashes.length / 256);
    if (hashes.length === 0) break;
    for (let t = 0; t < tiles; t++) {
      const width = Math.min(256, hashes.length - t * 256);
      const body = Buffer.from(await (await get(`${base}/log/${tilePathOf(level, t, width)}`)).arrayBuffer());
      const expected = Buffer.concat(hashes.slice(t * 256, t * 256 + width));
      if (!body.equals(expected)) throw new Error(`tile ${tilePathOf(level, t, width)} does not match the entries`);
    }
    // Next level: one hash per *full* tile of this level.
    const next: Buffer[] = [];
    for (let t = 0; (t + 1) * 256 <= hashes.length; t++) next.push(mth(hashes.slice(t * 256, (t + 1) * 256)));
    if (next.length === 0) break;
    hashes = next;
    level++;
  }
  const root = mth(leaves);
  if (!root.equals(cp.root)) throw new Error(`root recomputed from the tiles differs from checkpoint ${cp.size}`);
  return leaves;
}

/** RFC 9162 §2.1.3.2, written out again here on purpose. */
export function checkInclusion(index: number, size: number, leaf: Buffer, proof: Buffer[], root: Buffer): boolean {
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 §2.1.4.2, written out again here on purpose. */
export function checkConsistency(m: number, n: number, oldRoot: Buffer, newRoot: Buffer, proof: Buffer[]): boolean {
  if (m === n) return proof.length === 0 && oldRoot.equals(newRoot);
  if (m === 0) return proof.length === 0;
  let path = proof;
  if ((m & (m - 1)) === 0) path = [oldRoot, ...proof];
  if (path.length === 0) return false;
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(oldRoot) && sr.equals(newRoot);
}

export { leafHash };
