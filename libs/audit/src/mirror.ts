import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseEntry } from '@signet/domain';
import { createHash } from 'node:crypto';
import {
  MAX_TILE_LEVEL,
  TILE_WIDTH,
  type TileCoord,
  TreeCheck,
  decodeEntryBundle,
  hashesEqual,
  leafHash,
  openCheckpoint,
  parseVerifierKey,
  tilePath,
  tileWidthAt,
} from '@signet/tlog';
import { AuditError } from './replay.js';
import { type LogSource, type WitnessQuorum, checkpointFrom } from './source.js';

export interface MirrorReport {
  readonly origin: string;
  readonly size: number;
  /** The size the mirror had before (0 for a new one). */
  readonly from: number;
  readonly tilesFetched: number;
  readonly artifactsFetched: number;
}

function writeAtomically(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/**
 * Copies a log into a directory that any static web server can serve and `signet audit --mirror`
 * can audit offline: `checkpoint`, `tile/…` and `tile/entries/…` (C2SP tlog-tiles), the trust
 * snapshot at the checkpoint's size (`snapshot/<N>.json`) and, with `artifacts`, the published
 * artifacts (`artifacts/<sha512>`). Incremental: full tiles already there are immutable and kept;
 * partial ones are replaced. The checkpoint is verified with the pinned key and written last, so
 * the directory is always a consistent log. With witnesses, the newest checkpoint they cosigned
 * (with its cosignatures) is mirrored instead of the head.
 */
export async function mirrorLog(
  source: LogSource,
  dir: string,
  verifierKey: string,
  options: { artifacts?: boolean; witnesses?: WitnessQuorum } = {},
): Promise<MirrorReport> {
  const note = await checkpointFrom(source, options.witnesses);
  let cp;
  try {
    cp = openCheckpoint(note, parseVerifierKey(verifierKey));
  } catch (error) {
    throw new AuditError(
      null,
      'BAD_CHECKPOINT',
      `the checkpoint from ${source.name} does not verify with the pinned key: ${(error as Error).message}`,
    );
  }
  const previous = readPreviousSize(dir, verifierKey);
  if (cp.size < previous)
    throw new AuditError(null, 'ROLLBACK', `${source.name} has ${cp.size} events; the mirror already has ${previous}`);
  let tilesFetched = 0;
  let artifactsFetched = 0;
  const fetchTile = async (coord: TileCoord) => {
    const path = join(dir, ...tilePath(coord).split('/'));
    if (coord.width === TILE_WIDTH && existsSync(path)) return readFileSync(path);
    const bytes = await source.tile(coord);
    writeAtomically(path, bytes);
    tilesFetched++;
    return bytes;
  };
  for (let level = 0; level <= MAX_TILE_LEVEL; level++) {
    const count = Math.ceil(cp.size / TILE_WIDTH ** (level + 1));
    if (count === 0) break;
    for (let index = 0; index < count; index++) {
      const width = tileWidthAt(level, index, cp.size);
      if (width > 0) await fetchTile({ level, index, width });
    }
  }
  // The entries must give the checkpoint's root before the mirror says it holds that checkpoint.
  const tree = new TreeCheck();
  const bundles = Math.ceil(cp.size / TILE_WIDTH);
  for (let index = 0; index < bundles; index++) {
    const fresh = !existsSync(join(dir, ...tilePath({ level: 'entries', index, width: TILE_WIDTH }).split('/')));
    const width = tileWidthAt('entries', index, cp.size);
    const entries = decodeEntryBundle(await fetchTile({ level: 'entries', index, width }));
    if (entries.length !== width)
      throw new AuditError(
        index * TILE_WIDTH,
        'BAD_TILE',
        `entry bundle ${index} holds ${entries.length} entries, the checkpoint implies ${width}`,
      );
    tree.addLeaves(entries.map((e) => leafHash(e)));
    if (!options.artifacts || (!fresh && index < Math.floor(previous / TILE_WIDTH))) continue;
    for (const entry of entries) {
      let event;
      try {
        event = parseEntry(entry);
      } catch {
        continue; // an audit names it; the mirror only copies
      }
      if (event.type !== 'PackageSignaturePublished') continue;
      const { artifactSha512: sha512, artifactSize } = event.data;
      // The schema allows 128 hex digits only; checked again where it becomes a path. The bytes must hash to it.
      if (!/^[0-9a-f]{128}$/.test(sha512) || existsSync(join(dir, 'artifacts', sha512))) continue;
      const artifact = await source.artifact(sha512);
      if (
        !artifact ||
        createHash('sha512').update(artifact).digest('hex') !== sha512 ||
        artifact.length !== artifactSize
      )
        continue;
      writeAtomically(join(dir, 'artifacts', sha512), artifact);
      artifactsFetched++;
    }
  }
  if (!hashesEqual(tree.root(), cp.root))
    throw new AuditError(
      null,
      'ROOT_MISMATCH',
      `the entries of ${source.name} do not give its checkpoint's root: the mirror keeps its previous checkpoint`,
    );
  if (cp.size > 0) {
    const snapshot = await source.snapshot(cp.size);
    if (snapshot) writeAtomically(join(dir, 'snapshot', `${cp.size}.json`), snapshot);
  }
  removeStalePartials(dir, cp.size);
  writeAtomically(join(dir, 'checkpoint'), note);
  return { origin: cp.origin, size: cp.size, from: previous, tilesFetched, artifactsFetched };
}

function readPreviousSize(dir: string, verifierKey: string): number {
  const path = join(dir, 'checkpoint');
  if (!existsSync(path)) return 0;
  try {
    return openCheckpoint(readFileSync(path, 'utf8'), parseVerifierKey(verifierKey)).size;
  } catch (error) {
    throw new AuditError(
      null,
      'BAD_CHECKPOINT',
      `${path} does not verify with the pinned key (a mirror of another log?): ${(error as Error).message}`,
    );
  }
}

/** Partial tiles (`.p/<W>`) of a smaller size that a full or wider tile has replaced. */
function removeStalePartials(dir: string, size: number): void {
  const walk = (at: string, parts: string[]): void => {
    if (!existsSync(at)) return;
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (entry.name.endsWith('.p')) {
          for (const w of readdirSync(join(at, entry.name))) {
            const level = parts[0] === 'entries' ? 'entries' : Number(parts[0]);
            const group = [...parts.slice(1), entry.name.slice(0, -2)].map((g) => g.replace(/^x/, '')).join('');
            if (Number(w) !== tileWidthAt(level, Number(group), size)) rmSync(join(at, entry.name, w), { force: true });
          }
        } else walk(join(at, entry.name), [...parts, entry.name]);
      }
    }
  };
  walk(join(dir, 'tile'), []);
}
