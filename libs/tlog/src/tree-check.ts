import { TlogError } from './errors.js';
import { type Hash, hashesEqual, toHex } from './hash.js';
import { TILE_HEIGHT, TILE_WIDTH, tileWidthAt } from './tiles.js';
import { type NodeId, appendLeaves, foldRange, rootNodes, treeHashOfLeaves } from './tree.js';

/** Where a streaming tree check stands: enough to resume it (a few KiB, whatever the size). */
export interface TreeCheckState {
  readonly size: number;
  /** Hashes of `rootNodes(size)`, left to right. */
  readonly frontier: readonly Hash[];
  /** Per tile level, the hashes of the tile not yet complete at `size` (level 0: leaf hashes). */
  readonly pending: readonly (readonly Hash[])[];
}

/** A tile whose hashes the check computed, to compare with the tile the log serves. */
export interface ComputedTile {
  readonly level: number;
  readonly index: number;
  readonly hashes: readonly Hash[];
}

/**
 * Recomputes a log's Merkle tree from its leaf hashes, in order and in constant memory: the right
 * frontier gives the root at any size, and each tile (C2SP tlog-tiles, height 8) is rebuilt from
 * the level below, so every tile the log serves can be compared with the one the leaves imply.
 */
export class TreeCheck {
  private size: number;
  private frontier: Hash[];
  private readonly pending: Hash[][];

  constructor(from: TreeCheckState = { size: 0, frontier: [], pending: [] }) {
    if (rootNodes(from.size).length !== from.frontier.length)
      throw new TlogError('BAD_RANGE', `a tree of size ${from.size} has ${rootNodes(from.size).length} frontier nodes`);
    this.size = from.size;
    this.frontier = [...from.frontier];
    this.pending = from.pending.map((p) => [...p]);
  }

  get treeSize(): number {
    return this.size;
  }

  /** Adds leaves; returns the tiles above level 0 that they completed (level 0 is the caller's to compare). */
  addLeaves(leafHashes: readonly Hash[]): ComputedTile[] {
    const completed: ComputedTile[] = [];
    this.frontier = appendLeaves(this.size, this.frontier, leafHashes).frontier;
    for (const leaf of leafHashes) {
      this.push(0, leaf, completed);
      this.size++;
    }
    return completed;
  }

  root(): Hash {
    return foldRange(this.frontier);
  }

  /** The tiles of every level not complete at the current size (partial tiles), lowest first. */
  partialTiles(): ComputedTile[] {
    const out: ComputedTile[] = [];
    for (let level = 0; level < this.pending.length; level++) {
      const hashes = this.pending[level]!;
      if (hashes.length === 0) continue;
      const index = Math.floor(this.size / TILE_WIDTH ** (level + 1));
      if (tileWidthAt(level, index, this.size) !== hashes.length)
        throw new TlogError(
          'BAD_RANGE',
          `tile ${level}/${index} should hold ${tileWidthAt(level, index, this.size)} hashes`,
        );
      out.push({ level, index, hashes: [...hashes] });
    }
    return out;
  }

  state(): TreeCheckState {
    return { size: this.size, frontier: [...this.frontier], pending: this.pending.map((p) => [...p]) };
  }

  private push(level: number, hash: Hash, completed: ComputedTile[]): void {
    while (this.pending.length <= level) this.pending.push([]);
    const tile = this.pending[level]!;
    tile.push(hash);
    if (tile.length < TILE_WIDTH) return;
    const index = Math.floor(this.size / TILE_WIDTH ** (level + 1));
    if (level > 0) completed.push({ level, index, hashes: [...tile] });
    this.pending[level] = [];
    this.push(level + 1, treeHashOfLeaves(tile), completed);
  }
}

/** Compares a tile the log serves (concatenated 32-byte hashes) with the computed one; the first difference, or null. */
export function tileDifference(served: Uint8Array, computed: ComputedTile): string | null {
  if (served.length !== computed.hashes.length * 32)
    return `tile ${computed.level}/${computed.index} holds ${served.length / 32} hashes, the leaves imply ${computed.hashes.length}`;
  for (let i = 0; i < computed.hashes.length; i++) {
    const got = served.subarray(i * 32, (i + 1) * 32);
    if (!hashesEqual(got, computed.hashes[i]!)) {
      return `tile ${computed.level}/${computed.index} hash ${i} is ${toHex(got)}, the leaves imply ${toHex(computed.hashes[i]!)}`;
    }
  }
  return null;
}

/**
 * Where a node of the tree lies in the tiles: the tile (level, index) holding the nodes it is
 * the hash of, and which of them (a node at a level that is a multiple of 8 is one tile entry;
 * one in between is the tree hash of 2, 4, … 128 consecutive entries).
 */
export function nodeInTiles(node: NodeId): { level: number; index: number; from: number; count: number } {
  const level = Math.floor(node.level / TILE_HEIGHT);
  const count = 2 ** (node.level - level * TILE_HEIGHT);
  const first = node.index * count;
  return { level, index: Math.floor(first / TILE_WIDTH), from: first % TILE_WIDTH, count };
}

/** The hash of a node computed from the tile that holds it (see nodeInTiles). */
export function nodeFromTile(tile: Uint8Array, where: { from: number; count: number }): Hash {
  const hashes: Hash[] = [];
  for (let i = where.from; i < where.from + where.count; i++) {
    if ((i + 1) * 32 > tile.length) throw new TlogError('BAD_RANGE', `the tile has no hash ${i}`);
    hashes.push(tile.subarray(i * 32, (i + 1) * 32));
  }
  return treeHashOfLeaves(hashes);
}
