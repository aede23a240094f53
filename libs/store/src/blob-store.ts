import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { InfrastructureError } from '@signet/domain';

/**
 * What the blob store keeps: each kind is named by a hash of its bytes, in a folder of its own
 * (`artifacts/<sha512>`: published package files, for auditors; `archive/<sha256>`: the listing
 * snapshots the archiver takes).
 */
export const BLOB_KINDS = {
  artifact: { algorithm: 'sha512', hexDigits: 128, folder: 'artifacts' },
  archive: { algorithm: 'sha256', hexDigits: 64, folder: 'archive' },
} as const;

export type BlobKind = keyof typeof BLOB_KINDS;

/** A blob being read: its size and its bytes as a stream. */
export interface OpenedBlob {
  readonly size: number;
  readonly stream: Readable;
}

/**
 * The blob store: immutable, content-addressed blobs. A blob's name is the hash of its bytes,
 * computed by the store itself, so other bytes under a name cannot be written through it; a
 * blob is never replaced. A name already there is checked (its bytes hashed again) and kept:
 * storing the same bytes twice is not an error, a name holding other bytes is
 * `BLOB_STORE_CORRUPT`. A store that cannot be reached or refuses is `BLOB_STORE_UNAVAILABLE`.
 * Both are InfrastructureErrors (503): a write answered without one is durable.
 *
 * A name that is not a hash of the kind (attacker-controlled, from a URL) is simply not there.
 */
export interface BlobStore {
  /** Where the blobs are, for messages: directories, or `s3://bucket/prefix`. */
  readonly location: string;
  /** Stores bytes; returns their hash, their name. */
  put(kind: BlobKind, content: Uint8Array | string): Promise<string>;
  /** Stores a file's bytes (an upload too large to hold in memory); returns their hash and size. */
  putFile(kind: BlobKind, path: string): Promise<{ hash: string; size: number }>;
  /** The blob's bytes, or null when there is none of that name. */
  get(kind: BlobKind, hash: string): Promise<Buffer | null>;
  /** The blob as a stream (an artifact served over HTTP), or null when there is none of that name. */
  open(kind: BlobKind, hash: string): Promise<OpenedBlob | null>;
  has(kind: BlobKind, hash: string): Promise<boolean>;
  /** Releases connections; the store is not used afterwards. */
  close(): Promise<void>;
}

/** Whether `name` is a hash of the kind (lower-case hex of its length): nothing else is ever looked up. */
export function isBlobName(kind: BlobKind, name: string): boolean {
  const { hexDigits } = BLOB_KINDS[kind];
  return name.length === hexDigits && /^[0-9a-f]+$/.test(name);
}

export function blobHash(kind: BlobKind, content: Uint8Array | string): string {
  return createHash(BLOB_KINDS[kind].algorithm).update(content).digest('hex');
}

/** The hash and size of a stream's bytes (a file's, a stored blob's), read once. */
export async function hashStream(
  kind: BlobKind,
  stream: AsyncIterable<Uint8Array>,
): Promise<{ hash: string; size: number }> {
  const hash = createHash(BLOB_KINDS[kind].algorithm);
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { hash: hash.digest('hex'), size };
}

export function hashFile(kind: BlobKind, path: string): Promise<{ hash: string; size: number }> {
  return hashStream(kind, createReadStream(path));
}

/** Another blob's bytes under this name: the store was written around this code. An operator must look. */
export function corruptBlob(where: string, kind: BlobKind, hash: string, found: string): InfrastructureError {
  return new InfrastructureError(
    'BLOB_STORE_CORRUPT',
    `the blob store holds other bytes under ${where} (their ${BLOB_KINDS[kind].algorithm} is ${found}, not ${hash}): ` +
      'it was written outside Signet; the blob is left as it is and nothing was appended — an operator must look',
  );
}
