import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  appendLeaves,
  assembleProof,
  consistencyProofPlan,
  encodeEntryBundle,
  encodeSignerKey,
  encodeVerifierKey,
  formatCheckpoint,
  fromHex,
  inclusionProofPlan,
  leafHash,
  openCheckpoint,
  openNote,
  parseSignerKey,
  parseTilePath,
  parseVerifierKey,
  sha256,
  signCheckpoint,
  signNote,
  tileNodes,
  tilePath,
  toBase64,
  toHex,
  verifyConsistency,
  verifyInclusion,
  type Hash,
  type NodeId,
} from '@signet/tlog';

// Known answers computed with Go's golang.org/x/mod/sumdb/{note,tlog} (see "about" in the file).
const V = JSON.parse(readFileSync(new URL('../../../test/vectors/tlog.json', import.meta.url), 'utf8'));

const leaves = Array.from({ length: 257 }, (_, i) => new TextEncoder().encode(String(i)));
const leafHashes = leaves.map(leafHash);

/** An in-memory node store built the way the real store builds it: by appending. */
function memoryTree(hashes: Hash[]) {
  const nodes = new Map<string, Hash>();
  const { newNodes } = appendLeaves(0, [], hashes);
  for (const n of newNodes) nodes.set(`${n.level}/${n.index}`, n.hash);
  return (id: NodeId) => nodes.get(`${id.level}/${id.index}`);
}
const lookup = memoryTree(leafHashes);
const rootOf = (size: number) => (size === 0 ? EMPTY_ROOT : appendLeaves(0, [], leafHashes.slice(0, size)).root);

describe('RFC 6962 hashing (Go sumdb vectors)', () => {
  it('hashes leaves', () => {
    for (const [i, hex] of Object.entries(V.leaf_hashes_hex)) expect(toHex(leafHash(leaves[Number(i)]!))).toBe(hex);
  });
  it('computes roots, the empty tree included', () => {
    expect(toHex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    for (const r of V.roots) {
      expect(toHex(rootOf(r.size))).toBe(r.root_hex);
      expect(toBase64(rootOf(r.size))).toBe(r.root_base64);
    }
  });
  it('produces and verifies the inclusion proofs', () => {
    for (const p of V.inclusion_proofs) {
      const proof = assembleProof(inclusionProofPlan(p.leaf_index, p.tree_size), lookup);
      expect(proof.map(toHex)).toEqual(p.proof_hex);
      verifyInclusion(
        p.leaf_index,
        p.tree_size,
        fromHex(p.leaf_hash_hex),
        p.proof_hex.map(fromHex),
        fromHex(p.root_hex),
      );
    }
  });
  it('produces and verifies the consistency proofs', () => {
    for (const p of V.consistency_proofs) {
      const proof = assembleProof(consistencyProofPlan(p.old_size, p.new_size), lookup);
      expect(proof.map(toHex)).toEqual(p.proof_hex);
      verifyConsistency(
        p.old_size,
        p.new_size,
        fromHex(p.old_root_hex),
        fromHex(p.new_root_hex),
        p.proof_hex.map(fromHex),
      );
    }
  });
});

describe('C2SP tlog-tiles (Go sumdb vectors)', () => {
  it('writes and parses tile paths', () => {
    for (const t of V.tile_paths) {
      expect(tilePath({ level: t.level, index: t.index, width: t.width })).toBe(t.path);
      expect(parseTilePath(t.path)).toEqual({ level: t.level, index: t.index, width: t.width });
    }
  });
  it('builds the tiles of a 257-leaf tree', () => {
    for (const t of V.tiles_size_257) {
      const bytes = Buffer.concat(tileNodes(t.level, t.index, t.width).map((id) => lookup(id)!));
      expect(bytes.length).toBe(t.length);
      expect(toHex(sha256(bytes))).toBe(t.sha256_of_content_hex);
      expect(tilePath({ level: t.level, index: t.index, width: t.width })).toBe(t.path);
      if (t.content_hex) expect(toHex(bytes)).toBe(t.content_hex);
    }
  });
  it('builds entry bundles', () => {
    const [full, partial] = V.entry_bundles_size_257;
    const bundle = encodeEntryBundle(leaves.slice(0, 256));
    expect(bundle.length).toBe(full.length);
    expect(toHex(bundle.subarray(0, 9))).toBe(full.first_3_entries_hex);
    expect(toHex(sha256(bundle))).toBe(full.sha256_of_content_hex);
    expect(toHex(encodeEntryBundle(leaves.slice(256)))).toBe(partial.content_hex);
  });
});

describe('C2SP signed-note and tlog-checkpoint (Go sumdb vectors)', () => {
  const n = V.note;
  const seed = fromHex(n.ed25519_seed_hex);
  it('derives the key hash, verifier key and signer key', () => {
    expect(toHex(sha256('tlogcheck test vector key'))).toBe(n.ed25519_seed_hex);
    expect(encodeSignerKey(n.name, seed)).toBe(n.skey);
    expect(encodeVerifierKey(n.name, fromHex(n.public_key_hex))).toBe(n.vkey);
    expect(parseVerifierKey(n.vkey).keyHash.toString(16).padStart(8, '0')).toBe(n.key_hash_hex8);
  });
  it('signs notes exactly as Go does (Ed25519 is deterministic)', () => {
    const { signer } = parseSignerKey(n.skey);
    expect(signNote(n.text, [signer])).toBe(n.signed_note);
    const ext = n.signed_note_with_extension_line.slice(0, n.signed_note_with_extension_line.indexOf('\n\n') + 1);
    expect(signNote(ext, [signer])).toBe(n.signed_note_with_extension_line);
  });
  it('opens Go-signed notes and checkpoints', () => {
    const vkey = parseVerifierKey(n.vkey);
    expect(openNote(n.signed_note, [vkey]).text).toBe(n.text);
    const cp = openCheckpoint(V.checkpoint_size_257, vkey);
    expect(cp.size).toBe(257);
    expect(toHex(cp.root)).toBe(V.roots.find((r: { size: number }) => r.size === 257).root_hex);
    expect(
      signCheckpoint({ origin: n.name, size: 257, root: rootOf(257), extensions: [] }, parseSignerKey(n.skey).signer),
    ).toBe(V.checkpoint_size_257);
    expect(formatCheckpoint(cp)).toBe(V.checkpoint_size_257.slice(0, V.checkpoint_size_257.indexOf('\n\n') + 1));
  });
});
