import { TlogError } from './errors.js';
import { EMPTY_ROOT, type Hash, nodeHash } from './hash.js';

/**
 * A complete, aligned subtree: at `level` L it covers leaves [index·2^L, (index+1)·2^L).
 * Every such node, once complete, never changes — so they are what a log stores, and every
 * hash RFC 6962 needs (roots, proofs, tiles) is made of them.
 *
 * Sizes and indexes are plain numbers: exact up to 2^53, far beyond any log. No bitwise
 * operators here — they truncate to 32 bits.
 */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

export interface StoredNode extends NodeId {
  readonly hash: Hash;
}

export function pow2(level: number): number {
  return 2 ** level;
}

/** Largest power of two strictly less than n (n ≥ 2): RFC 6962's split point k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function assertCount(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new TlogError('BAD_RANGE', `${name} must be a non-negative integer, got ${n}`);
}

/**
 * The complete subtrees that make up MTH(D[lo:hi]) in RFC 6962's decomposition, left to right,
 * for every range a proof or a root can ask for (lo aligned to the largest block, as RFC 6962's
 * recursion guarantees). Their hashes fold right-to-left into the range's hash.
 */
export function rangeNodes(lo: number, hi: number): NodeId[] {
  const nodes: NodeId[] = [];
  while (lo < hi) {
    let level = 0;
    while (pow2(level + 1) <= hi - lo && lo % pow2(level + 1) === 0) level++;
    nodes.push({ level, index: lo / pow2(level) });
    lo += pow2(level);
  }
  return nodes;
}

/** Folds the hashes of `rangeNodes(lo, hi)` into the hash of the range. */
export function foldRange(hashes: readonly Hash[]): Hash {
  if (hashes.length === 0) return EMPTY_ROOT;
  let h = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) h = nodeHash(hashes[i]!, h);
  return h;
}

/** The nodes whose hashes give the root of a tree of `size` leaves (its right frontier). */
export function rootNodes(size: number): NodeId[] {
  assertCount('size', size);
  return rangeNodes(0, size);
}

/**
 * A proof as a plan: each element is the RFC 6962 subtree hash of one range, given as the
 * stored nodes that make it up. The store fetches the nodes (O(log n) of them), then
 * `assembleProof` folds them — the tree is never recomputed.
 */
export type ProofPlan = NodeId[][];

/** RFC 9162 §2.1.3.1 PATH(m, D[n]), bottom first. */
export function inclusionProofPlan(index: number, size: number): ProofPlan {
  assertCount('index', index);
  assertCount('size', size);
  if (index >= size) throw new TlogError('BAD_RANGE', `leaf ${index} is not in a tree of size ${size}`);
  const plan: ProofPlan = [];
  let lo = 0;
  let hi = size;
  const stack: NodeId[][] = [];
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      stack.push(rangeNodes(lo + k, hi));
      hi = lo + k;
    } else {
      stack.push(rangeNodes(lo, lo + k));
      lo = lo + k;
    }
  }
  for (let i = stack.length - 1; i >= 0; i--) plan.push(stack[i]!);
  return plan;
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]), bottom first. Empty when m = 0 or m = n. */
export function consistencyProofPlan(m: number, n: number): ProofPlan {
  assertCount('old size', m);
  assertCount('new size', n);
  if (m > n) throw new TlogError('BAD_RANGE', `old size ${m} is larger than new size ${n}`);
  if (m === 0 || m === n) return [];
  const stack: NodeId[][] = [];
  let lo = 0;
  let hi = n;
  let rel = m;
  let whole = true; // SUBPROOF's b: the old tree is exactly this subtree
  for (;;) {
    const size = hi - lo;
    if (rel === size) {
      if (!whole) stack.push(rangeNodes(lo, hi));
      break;
    }
    const k = splitPoint(size);
    if (rel <= k) {
      stack.push(rangeNodes(lo + k, hi));
      hi = lo + k;
    } else {
      stack.push(rangeNodes(lo, lo + k));
      lo = lo + k;
      rel -= k;
      whole = false;
    }
  }
  return stack.reverse();
}

/** Every node id a plan needs, deduplicated, for one batched read. */
export function planNodes(plan: ProofPlan): NodeId[] {
  const seen = new Map<string, NodeId>();
  for (const part of plan) for (const id of part) seen.set(`${id.level}/${id.index}`, id);
  return [...seen.values()];
}

export type NodeLookup = (id: NodeId) => Hash | undefined;

export function assembleProof(plan: ProofPlan, lookup: NodeLookup): Hash[] {
  return plan.map((part) =>
    foldRange(
      part.map((id) => {
        const h = lookup(id);
        if (!h) throw new TlogError('BAD_RANGE', `node ${id.level}/${id.index} is not stored`);
        return h;
      }),
    ),
  );
}

/**
 * Appending leaves to a tree of `size` leaves whose right frontier is `frontier` (the hashes of
 * `rootNodes(size)`, left to right). Returns every node completed by the new leaves — what the
 * store writes in the same transaction as the events — and the new frontier and root.
 */
export function appendLeaves(
  size: number,
  frontier: readonly Hash[],
  leafHashes: readonly Hash[],
): { size: number; frontier: Hash[]; root: Hash; newNodes: StoredNode[] } {
  const ids = rootNodes(size);
  if (ids.length !== frontier.length) {
    throw new TlogError('BAD_RANGE', `a tree of size ${size} has ${ids.length} frontier nodes, got ${frontier.length}`);
  }
  const stack: StoredNode[] = ids.map((id, i) => ({ ...id, hash: frontier[i]! }));
  const newNodes: StoredNode[] = [];
  let n = size;
  for (const leaf of leafHashes) {
    let node: StoredNode = { level: 0, index: n, hash: leaf };
    newNodes.push(node);
    while (stack.length > 0 && stack[stack.length - 1]!.level === node.level) {
      const left = stack.pop()!;
      node = { level: node.level + 1, index: left.index / 2, hash: nodeHash(left.hash, node.hash) };
      newNodes.push(node);
    }
    stack.push(node);
    n++;
  }
  const newFrontier = stack.map((s) => s.hash);
  return { size: n, frontier: newFrontier, root: foldRange(newFrontier), newNodes };
}

/** MTH(D[0:n]) straight from RFC 6962's definition: for tests and small trees only. */
export function treeHashOfLeaves(leafHashes: readonly Hash[]): Hash {
  if (leafHashes.length === 0) return EMPTY_ROOT;
  if (leafHashes.length === 1) return leafHashes[0]!;
  const k = splitPoint(leafHashes.length);
  return nodeHash(treeHashOfLeaves(leafHashes.slice(0, k)), treeHashOfLeaves(leafHashes.slice(k)));
}
