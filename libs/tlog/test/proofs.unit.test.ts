import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  TlogError,
  appendLeaves,
  assembleProof,
  consistencyProofPlan,
  inclusionProofPlan,
  leafHash,
  rootFromInclusionProof,
  rootNodes,
  foldRange,
  treeHashOfLeaves,
  verifyConsistency,
  verifyInclusion,
  type Hash,
  type NodeId,
} from '@signet/tlog';

function build(n: number) {
  const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
  const nodes = new Map<string, Hash>();
  for (const node of appendLeaves(0, [], leaves).newNodes) nodes.set(`${node.level}/${node.index}`, node.hash);
  const lookup = (id: NodeId) => nodes.get(`${id.level}/${id.index}`);
  const roots = [EMPTY_ROOT];
  for (let s = 1; s <= n; s++) roots.push(foldRange(rootNodes(s).map((id) => lookup(id)!)));
  return { leaves, lookup, roots };
}

function flipped(h: Uint8Array, byte: number): Uint8Array {
  const c = new Uint8Array(h);
  c[byte] = c[byte]! ^ 0x01;
  return c;
}

// A deterministic PRNG so a failure names a reproducible case.
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

describe('proofs for every (m, n) up to 300', () => {
  const { leaves, lookup, roots } = build(300);

  it('stored-node roots equal RFC 6962 MTH computed from the leaves', () => {
    for (let n = 0; n <= 300; n++)
      expect(Buffer.from(roots[n]!).equals(Buffer.from(treeHashOfLeaves(leaves.slice(0, n))))).toBe(true);
  });

  it('appending in arbitrary batches gives the same root as one batch', () => {
    let state = appendLeaves(0, [], []);
    let at = 0;
    const next = rng(7);
    while (at < 300) {
      const k = Math.min(300 - at, 1 + Math.floor(next() * 40));
      state = appendLeaves(state.size, state.frontier, leaves.slice(at, at + k));
      at += k;
      expect(Buffer.from(state.root).equals(Buffer.from(roots[at]!))).toBe(true);
    }
  });

  it('inclusion proofs verify for every leaf of every size', () => {
    for (let n = 1; n <= 300; n++) {
      for (let m = 0; m < n; m++) {
        const proof = assembleProof(inclusionProofPlan(m, n), lookup);
        verifyInclusion(m, n, leaves[m]!, proof, roots[n]!);
      }
    }
  });

  it('consistency proofs verify for every pair of sizes', () => {
    for (let n = 0; n <= 300; n++) {
      for (let m = 0; m <= n; m++) {
        const proof = assembleProof(consistencyProofPlan(m, n), lookup);
        verifyConsistency(m, n, roots[m]!, roots[n]!, proof);
      }
    }
  });

  it('tampering any byte of a proof, a leaf or a root fails verification', () => {
    const next = rng(11);
    for (let trial = 0; trial < 300; trial++) {
      const n = 2 + Math.floor(next() * 299);
      const m = Math.floor(next() * n);
      const proof = assembleProof(inclusionProofPlan(m, n), lookup);
      for (let i = 0; i < proof.length; i++) {
        const bad = proof.map((p, j) => (j === i ? flipped(p, Math.floor(next() * 32)) : p));
        expect(() => verifyInclusion(m, n, leaves[m]!, bad, roots[n]!)).toThrow(TlogError);
      }
      expect(() => verifyInclusion(m, n, flipped(leaves[m]!, trial % 32), proof, roots[n]!)).toThrow(TlogError);
      expect(() => verifyInclusion(m, n, leaves[m]!, proof, flipped(roots[n]!, trial % 32))).toThrow(TlogError);
      // the same proof for another index or size, or with an element dropped or added, fails
      expect(() => verifyInclusion((m + 1) % n, n, leaves[m]!, proof, roots[n]!)).toThrow(TlogError);
      expect(() => verifyInclusion(m, n, leaves[m]!, proof.slice(1), roots[n]!)).toThrow(TlogError);
      expect(() => verifyInclusion(m, n, leaves[m]!, [...proof, roots[1]!], roots[n]!)).toThrow(TlogError);

      const old = 1 + Math.floor(next() * (n - 1));
      const cproof = assembleProof(consistencyProofPlan(old, n), lookup);
      for (let i = 0; i < cproof.length; i++) {
        const bad = cproof.map((p, j) => (j === i ? flipped(p, Math.floor(next() * 32)) : p));
        expect(() => verifyConsistency(old, n, roots[old]!, roots[n]!, bad)).toThrow(TlogError);
      }
      expect(() => verifyConsistency(old, n, flipped(roots[old]!, 0), roots[n]!, cproof)).toThrow(TlogError);
      expect(() => verifyConsistency(old, n, roots[old]!, flipped(roots[n]!, 31), cproof)).toThrow(TlogError);
      expect(() => verifyConsistency(old, n, roots[old]!, roots[n]!, [...cproof, roots[1]!])).toThrow(TlogError);
    }
  });

  it('refuses malformed proof shapes with a typed error, never a crash', () => {
    const proof = assembleProof(inclusionProofPlan(3, 10), lookup);
    expect(() => verifyInclusion(10, 10, leaves[3]!, proof, roots[10]!)).toThrow(TlogError);
    expect(() => verifyInclusion(-1, 10, leaves[3]!, proof, roots[10]!)).toThrow(TlogError);
    expect(() => verifyInclusion(3, 10, leaves[3]!, [new Uint8Array(31), ...proof.slice(1)], roots[10]!)).toThrow(
      TlogError,
    );
    expect(() => verifyInclusion(3, 10, leaves[3]!, Array(65).fill(roots[1]!), roots[10]!)).toThrow(TlogError);
    expect(() => verifyConsistency(5, 4, roots[5]!, roots[4]!, [])).toThrow(TlogError);
    expect(() => verifyConsistency(4, 4, roots[4]!, roots[4]!, [roots[1]!])).toThrow(TlogError);
    expect(() => verifyConsistency(4, 4, roots[4]!, roots[3]!, [])).toThrow(TlogError);
    expect(() => verifyConsistency(3, 7, roots[3]!, roots[7]!, [])).toThrow(TlogError);
    expect(() => inclusionProofPlan(5, 5)).toThrow(TlogError);
    expect(() => consistencyProofPlan(6, 5)).toThrow(TlogError);
  });
});

describe('random proofs in a large tree', () => {
  const N = 70_000;
  const { leaves, lookup } = build(N);
  const rootAt = (s: number) => foldRange(rootNodes(s).map((id) => lookup(id)!));

  it('inclusion and consistency proofs verify at random sizes', () => {
    const next = rng(42);
    for (let trial = 0; trial < 500; trial++) {
      const n = 1 + Math.floor(next() * N);
      const m = Math.floor(next() * n);
      const proof = assembleProof(inclusionProofPlan(m, n), lookup);
      expect(proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
      expect(Buffer.from(rootFromInclusionProof(m, n, leaves[m]!, proof)).equals(Buffer.from(rootAt(n)))).toBe(true);
      const old = 1 + Math.floor(next() * n);
      verifyConsistency(old, n, rootAt(old), rootAt(n), assembleProof(consistencyProofPlan(old, n), lookup));
    }
  });

  it('plans stay O(log n) reads for sizes near 2^53', () => {
    const n = Number.MAX_SAFE_INTEGER;
    for (const m of [0, 1, 2 ** 40 + 3, n - 1]) {
      const nodes = inclusionProofPlan(m, n).flat();
      expect(nodes.length).toBeLessThanOrEqual(2 * 53 + 2);
    }
    expect(consistencyProofPlan(2 ** 52 + 1, n).flat().length).toBeLessThanOrEqual(2 * 53 + 2);
  });
});
