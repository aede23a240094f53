import { join } from 'node:path';
import type { BlobStore } from './blob-store.js';
import { DirectoryBlobStore } from './blob-store-directory.js';
import { S3BlobStore } from './blob-store-s3.js';
import type { SignetConfig } from './config.js';

/** The blob store the configuration names (SIGNET_BLOB_URL; unset: the data directory, as before there was one). */
export function openBlobStore(config: Pick<SignetConfig, 'dataDir' | 'blobs'>): BlobStore {
  const blobs = config.blobs;
  if (blobs.type === 's3') return new S3BlobStore(blobs);
  const root = blobs.dir ?? config.dataDir;
  return new DirectoryBlobStore({
    artifact: join(root, 'artifacts'),
    archive: blobs.archiveDir ?? join(root, 'archive'),
  });
}
