import {
  type Hash,
  type NodeId,
  assembleProof,
  consistencyProofPlan,
  nodeFromTile,
  nodeInTiles,
  planNodes,
  tileWidthAt,
  verifyConsistency,
} from '@signet/tlog';
import type { LogSource } from './source.js';

/**
 * Reads nodes of a tree of `size` leaves from a source's tiles (C2SP tlog-tiles): a node is one
 * tile entry, or the tree hash of consecutive entries of the tile below it. Tiles are fetched once.
 */
export async function nodesFromTiles(
  source: LogSource,
  size: number,
  ids: readonly NodeId[],
): Promise<Map<string, Hash>> {
  const tiles = new Map<string, Promise<Uint8Array>>();
  const out = new Map<string, Hash>();
  for (const id of ids) {
    const where = nodeInTiles(id);
    const key = `${where.level}/${where.index}`;
    if (!tiles.has(key))
      tiles.set(
        key,
        source.tile({ level: where.level, index: where.index, width: tileWidthAt(where.level, where.index, size) }),
      );
    out.set(`${id.level}/${id.index}`, nodeFromTile(await tiles.get(key)!, where));
  }
  return out;
}

/**
 * Checks, from the tiles of the larger tree only, that the tree (m, oldRoot) is a prefix of
 * (n, newRoot): the RFC 9162 consistency proof is assembled from tile hashes and verified against
 * both signed roots, so the tiles themselves need no trust. Throws TlogError('BAD_PROOF') if not.
 */
export async function checkConsistencyFromTiles(
  source: LogSource,
  m: number,
  n: number,
  oldRoot: Hash,
  newRoot: Hash,
): Promise<void> {
  const plan = consistencyProofPlan(m, n);
  const nodes = await nodesFromTiles(source, n, planNodes(plan));
  verifyConsistency(
    m,
    n,
    oldRoot,
    newRoot,
    assembleProof(plan, (id) => nodes.get(`${id.level}/${id.index}`)),
  );
}
