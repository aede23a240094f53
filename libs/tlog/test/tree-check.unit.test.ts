import { describe, expect, it } from 'vitest';
import {
  type ComputedTile,
  TILE_WIDTH,
  TreeCheck,
  appendLeaves,
  leafHash,
  nodeFromTile,
  nodeInTiles,
  rootNodes,
  tileDifference,
  tileNodes,
  tileWidthAt,
  toHex,
  treeHashOfLeaves,
} from '@signet/tlog';

const leaves = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => leafHash(Buffer.from(`leaf ${from + i}`)));

/** Every stored node of a tree, the way the log's store keeps them, to build tiles from. */
function nodesOf(all: Uint8Array[]): Map<string, Uint8Array> {
  const { newNodes } = appendLeaves(0, [], all);
  return new Map(newNodes.map((n) => [`${n.level}/${n.index}`, n.hash]));
}

function tileBytes(nodes: Map<string, Uint8Array>, level: number, index: number, width: number): Uint8Array {
  return Buffer.concat(tileNodes(level, index, width).map((n) => nodes.get(`${n.level}/${n.index}`)!));
}

describe('TreeCheck: the tree and its tiles recomputed from the leaves, in constant memory', () => {
  const size = TILE_WIDTH * TILE_WIDTH + 3 * TILE_WIDTH + 17; // a full level-1 tile, so a level-2 one starts
  const all = leaves(0, size);
  const nodes = nodesOf(all);

  it('gives the root and every upper tile the log stores, complete and partial', () => {
    const check = new TreeCheck();
    const completed: ComputedTile[] = [];
    for (let i = 0; i < size; i += 1000) completed.push(...check.addLeaves(all.slice(i, i + 1000)));
    expect(toHex(check.root())).toBe(toHex(appendLeaves(0, [], all).root));
    // One full level-1 tile (nodes at level 8, 0..255) was completed.
    expect(completed.map((t) => [t.level, t.index, t.hashes.length])).toEqual([[1, 0, 256]]);
    for (const tile of [...completed, ...check.partialTiles()]) {
      expect(tileDifference(tileBytes(nodes, tile.level, tile.index, tile.hashes.length), tile)).toBeNull();
      expect(tile.hashes.length).toBe(tileWidthAt(tile.level, tile.index, size));
    }
    expect(check.partialTiles().map((t) => [t.level, t.index, t.hashes.length])).toEqual([
      [0, 259, 17],
      [1, 1, 3],
      [2, 0, 1],
    ]);
  });

  it('resumes from its state and reaches the same tiles and root', () => {
    const first = new TreeCheck();
    first.addLeaves(all.slice(0, 70_001));
    const resumed = new TreeCheck(first.state());
    resumed.addLeaves(all.slice(70_001));
    const whole = new TreeCheck();
    whole.addLeaves(all);
    expect(toHex(resumed.root())).toBe(toHex(whole.root()));
    expect(resumed.partialTiles()).toEqual(whole.partialTiles());
  });

  it('names the first hash of a served tile that differs', () => {
    const check = new TreeCheck();
    check.addLeaves(all.slice(0, 300));
    const [partial] = check.partialTiles();
    const served = Buffer.from(Buffer.concat(all.slice(256, 300)));
    expect(tileDifference(served, partial!)).toBeNull();
    served[3 * 32] ^= 1;
    expect(tileDifference(served, partial!)).toMatch(
      /^tile 0\/1 hash 3 is [0-9a-f]{64}, the leaves imply [0-9a-f]{64}$/,
    );
    expect(tileDifference(served.subarray(0, 32), partial!)).toMatch(/holds 1 hashes, the leaves imply 44/);
  });

  it('finds every frontier node of an older tree in the tiles of a newer one (consistency from tiles)', () => {
    for (const old of [1, 255, 256, 257, 1000, 65_536, 65_537]) {
      const ids = rootNodes(old);
      const frontier = appendLeaves(0, [], all.slice(0, old)).frontier;
      ids.forEach((id, i) => {
        const where = nodeInTiles(id);
        const tile = tileBytes(nodes, where.level, where.index, tileWidthAt(where.level, where.index, size));
        expect([old, id, toHex(nodeFromTile(tile, where))]).toEqual([old, id, toHex(frontier[i]!)]);
      });
    }
    // A node between tile levels is the tree hash of consecutive entries of the tile below it.
    expect(nodeInTiles({ level: 9, index: 3 })).toEqual({ level: 1, index: 0, from: 6, count: 2 });
    expect(toHex(treeHashOfLeaves(all.slice(0, 4)))).toBe(
      toHex(nodeFromTile(Buffer.concat(all.slice(0, 8)), { from: 0, count: 4 })),
    );
  });
});
