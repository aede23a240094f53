import { TlogError } from './errors.js';
import type { NodeId } from './tree.js';

// C2SP tlog-tiles: tiles of height 8 (256 hashes wide), tile/<L>/<N>[.p/<W>] and
// tile/entries/<N>[.p/<W>], N in 3-digit groups with all but the last prefixed by "x".

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** Levels beyond this would address more leaves than a safe integer can count. */
export const MAX_TILE_LEVEL = 6;

export type TileLevel = number | 'entries';

export interface TileCoord {
  readonly level: TileLevel;
  readonly index: number;
  /** 1..256; 256 is a full tile. */
  readonly width: number;
}

function encodeIndex(n: number): string {
  const groups: string[] = [];
  let rest = n;
  do {
    groups.unshift(String(rest % 1000).padStart(3, '0'));
    rest = Math.floor(rest / 1000);
  } while (rest > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

/** The path of a tile or entry bundle, without a leading slash: `tile/0/x001/x234/067.p/1`. */
export function tilePath(tile: TileCoord): string {
  if (!Number.isSafeInteger(tile.index) || tile.index < 0)
    throw new TlogError('BAD_TILE_PATH', `bad tile index ${tile.index}`);
  if (!Number.isInteger(tile.width) || tile.width < 1 || tile.width > TILE_WIDTH)
    throw new TlogError('BAD_TILE_PATH', `bad tile width ${tile.width}`);
  const partial = tile.width < TILE_WIDTH ? `.p/${tile.width}` : '';
  return `tile/${tile.level}/${encodeIndex(tile.index)}${partial}`;
}

const PATH = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*)([0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * Parses an (attacker-supplied) tile path, with or without the leading `tile/`. Refuses anything
 * that is not exactly the canonical form, so one tile has one URL.
 */
export function parseTilePath(path: string): TileCoord {
  const m = PATH.exec(path.startsWith('tile/') ? path : `tile/${path}`);
  if (!m)
    throw new TlogError(
      'BAD_TILE_PATH',
      `"${path.slice(0, 100)}" is not a tile path (tile/<L>/<N>[.p/<W>], N in x-prefixed 3-digit groups)`,
    );
  const [, levelText, prefix, last, widthText] = m;
  const groups = [
    ...(prefix
      ? prefix
          .split('/')
          .filter(Boolean)
          .map((g) => g.slice(1))
      : []),
    last!,
  ];
  if (groups.length > 1 && groups[0] === '000')
    throw new TlogError('BAD_TILE_PATH', `"${path.slice(0, 100)}" has a leading zero group`);
  if (groups.length > 6) throw new TlogError('BAD_TILE_PATH', 'tile index too large');
  let index = 0;
  for (const g of groups) index = index * 1000 + Number(g);
  const level: TileLevel = levelText === 'entries' ? 'entries' : Number(levelText);
  if (level !== 'entries' && level > 63) throw new TlogError('BAD_TILE_PATH', `tile level ${level} is above 63`);
  const width = widthText === undefined ? TILE_WIDTH : Number(widthText);
  if (widthText !== undefined && width >= TILE_WIDTH)
    throw new TlogError('BAD_TILE_PATH', `a partial tile is 1 to 255 wide, not ${width}`);
  if (!Number.isSafeInteger(index)) throw new TlogError('BAD_TILE_PATH', 'tile index too large');
  return { level, index, width };
}

/**
 * How many hashes (or entries) of tile (level, index) exist in a tree of `size` leaves: 0 when
 * the tile has not started, 256 when it is full.
 */
export function tileWidthAt(level: TileLevel, index: number, size: number): number {
  const perTile = level === 'entries' ? size : Math.floor(size / 2 ** (TILE_HEIGHT * level));
  return Math.max(0, Math.min(TILE_WIDTH, perTile - index * TILE_WIDTH));
}

/** The stored nodes whose hashes, concatenated, are the tile's bytes. */
export function tileNodes(level: number, index: number, width: number): NodeId[] {
  const nodes: NodeId[] = [];
  for (let i = 0; i < width; i++) nodes.push({ level: level * TILE_HEIGHT, index: index * TILE_WIDTH + i });
  return nodes;
}

export const MAX_ENTRY_SIZE = 0xffff;

/** An entry bundle: each entry as a big-endian uint16 length and its bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const e of entries) {
    if (e.length > MAX_ENTRY_SIZE)
      throw new TlogError('BAD_ENTRY_BUNDLE', `an entry of ${e.length} bytes does not fit a uint16 length`);
    total += 2 + e.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const e of entries) {
    out[at] = e.length >>> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

export function decodeEntryBundle(bytes: Uint8Array): Uint8Array[] {
  const entries: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 2 > bytes.length) throw new TlogError('BAD_ENTRY_BUNDLE', 'the entry bundle ends inside a length prefix');
    const len = (bytes[at]! << 8) | bytes[at + 1]!;
    if (at + 2 + len > bytes.length) throw new TlogError('BAD_ENTRY_BUNDLE', 'the entry bundle ends inside an entry');
    entries.push(bytes.subarray(at + 2, at + 2 + len));
    at += 2 + len;
    if (entries.length > TILE_WIDTH)
      throw new TlogError('BAD_ENTRY_BUNDLE', 'the entry bundle holds more than 256 entries');
  }
  return entries;
}
