import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type NetworkOptions, fetchRetrying } from '@signet/client';
import { DomainError } from '@signet/domain/core';
import { type TileCoord, parseWitnessVerifierKey, requireQuorum, tilePath } from '@signet/tlog';
import { AuditError } from './replay.js';

/**
 * Where an audit reads a log: a Signet server, or a mirror directory (`signet mirror`). Tiles and
 * entry bundles are read by their C2SP tlog-tiles paths only, so any static copy of them works.
 * Nothing read here is trusted: every byte is checked against the pinned verifier key.
 */
export interface LogSource {
  /** Human name for messages (the URL or the directory). */
  readonly name: string;
  checkpoint(): Promise<string>;
  /** The newest checkpoint witnesses cosigned (a mirror: its checkpoint, with what cosignatures it carries). */
  cosignedCheckpoint(): Promise<string>;
  /** A tile or entry bundle by its coordinates (partial ones by their width). */
  tile(coord: TileCoord): Promise<Uint8Array>;
  /** The signed trust snapshot at a size, or null when the source has none. */
  snapshot(size: number): Promise<string | null>;
  /** The head's snapshot as PBX clients fetch it (a server only). */
  headSnapshot(): Promise<string | null>;
  /** A published artifact by SHA-512, or null when the source does not keep it. */
  artifact(sha512: string): Promise<Uint8Array | null>;
}

/** Witnesses whose cosignatures a reader requires on the checkpoint it uses. */
export interface WitnessQuorum {
  /** Witness verifier keys (C2SP tlog-cosignature). */
  readonly keys: readonly string[];
  /** How many of them must have cosigned (default: all). */
  readonly quorum?: number;
}

/**
 * The checkpoint to read: the head's, or, when witnesses are required, the newest cosigned one,
 * checked for the quorum (AuditError QUORUM_NOT_MET otherwise).
 */
export async function checkpointFrom(source: LogSource, witnesses?: WitnessQuorum): Promise<string> {
  if (!witnesses || witnesses.keys.length === 0) return source.checkpoint();
  let verifiers;
  try {
    verifiers = witnesses.keys.map((k) => parseWitnessVerifierKey(k));
  } catch (error) {
    throw Object.assign(new Error(`a --witness key cannot be read: ${(error as Error).message}`), { code: 'USAGE' });
  }
  const note = await source.cosignedCheckpoint();
  try {
    requireQuorum(note, verifiers, witnesses.quorum ?? verifiers.length);
  } catch (error) {
    throw new AuditError(null, (error as { code?: string }).code ?? 'QUORUM_NOT_MET', (error as Error).message);
  }
  return note;
}

/** Largest answers read: an entry bundle (256 entries of at most 64 KiB), a snapshot, an artifact. */
const MAX_NOTE_BYTES = 64 * 1024;
export const MAX_TILE_BYTES = 256 * (2 + 0xffff);
export const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;
export const MAX_ARTIFACT_BYTES = 1024 * 1024 * 1024;

async function read(url: string, optional: boolean, max: number, network: NetworkOptions): Promise<Uint8Array | null> {
  const response = await fetchRetrying(url, 'a log file', network);
  if (optional && response.status === 404) return null;
  if (!response.ok) throw new DomainError('SOURCE_ERROR', `${url} answered HTTP ${response.status}`);
  if (Number(response.headers.get('content-length') ?? 0) > max)
    throw new DomainError('SOURCE_ERROR', `${url} is larger than ${max} bytes`);
  // Read with a cap: the length header may lie.
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel();
      throw new DomainError('SOURCE_ERROR', `${url} is larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** A Signet server: the tiles under /log, snapshots at /trust/snapshot?size=N, artifacts at /artifacts/<sha512>. */
export function serverSource(url: string, network: NetworkOptions = {}): LogSource {
  const base = url.replace(/\/+$/, '');
  const bytes = (path: string, optional: boolean, max: number) => read(path, optional, max, network);
  return {
    name: base,
    checkpoint: async () =>
      Buffer.from((await bytes(`${base}/log/checkpoint`, false, MAX_NOTE_BYTES))!).toString('utf8'),
    cosignedCheckpoint: async () => {
      const note = await bytes(`${base}/log/checkpoint/cosigned`, true, MAX_NOTE_BYTES);
      if (!note) throw new DomainError('NOT_COSIGNED', `${base} has no checkpoint cosigned by a witness yet`);
      return Buffer.from(note).toString('utf8');
    },
    tile: async (coord) => (await bytes(`${base}/log/${tilePath(coord)}`, false, MAX_TILE_BYTES))!,
    snapshot: async (size) => {
      const body = await bytes(`${base}/trust/snapshot?size=${size}`, true, MAX_DOCUMENT_BYTES);
      return body && Buffer.from(body).toString('utf8');
    },
    headSnapshot: async () => {
      const body = await bytes(`${base}/trust/snapshot`, true, MAX_DOCUMENT_BYTES);
      return body && Buffer.from(body).toString('utf8');
    },
    artifact: (sha512) =>
      /^[0-9a-f]{128}$/.test(sha512)
        ? bytes(`${base}/artifacts/${sha512}`, true, MAX_ARTIFACT_BYTES)
        : Promise.resolve(null),
  };
}

async function file(path: string, optional: boolean): Promise<Uint8Array | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if (optional && (error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new DomainError('SOURCE_ERROR', `cannot read ${path}: ${(error as Error).message}`);
  }
}

/** A mirror directory: `checkpoint`, `tile/…`, `snapshot/<N>.json`, `artifacts/<sha512>`. */
export function mirrorSource(dir: string): LogSource {
  return {
    name: dir,
    checkpoint: async () => Buffer.from((await file(join(dir, 'checkpoint'), false))!).toString('utf8'),
    cosignedCheckpoint: async () => Buffer.from((await file(join(dir, 'checkpoint'), false))!).toString('utf8'),
    headSnapshot: async () => null,
    tile: async (coord) => (await file(join(dir, ...tilePath(coord).split('/')), false))!,
    snapshot: async (size) => {
      const body = await file(join(dir, 'snapshot', `${size}.json`), true);
      return body && Buffer.from(body).toString('utf8');
    },
    artifact: (sha512) =>
      /^[0-9a-f]{128}$/.test(sha512) ? file(join(dir, 'artifacts', sha512), true) : Promise.resolve(null),
  };
}
