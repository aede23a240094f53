import { type BlobStore, blobHash } from '@signet/store';

/**
 * The archive: immutable listing documents (the listing, raw.txt, key pages) stored under their
 * SHA-256 (hex) in the blob store, as `archive/<sha256>`.
 */
export class ArchiveStore {
  constructor(private readonly blobs: BlobStore) {}

  static hash(content: string | Uint8Array): string {
    return blobHash('archive', content);
  }

  /** Stores a document (kept as it is when already there); returns its SHA-256. */
  put(content: string | Uint8Array): Promise<string> {
    return this.blobs.put('archive', content);
  }

  /** The document, or null when the archive has none with that hash (or the name is not a hash). */
  get(sha256: string): Promise<Buffer | null> {
    return this.blobs.get('archive', sha256);
  }
}
