import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { InfrastructureError } from '@signet/domain';
import {
  type BlobKind,
  type BlobStore,
  type OpenedBlob,
  blobHash,
  corruptBlob,
  hashFile,
  isBlobName,
} from './blob-store.js';

/** A file-system error that means "no such blob" (not a store that cannot be used). */
const missing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Blobs as files, one directory per kind: `<dir>/<hash>`, what Signet kept on one machine's disk
 * before there was a port (and still the default). A blob is written to a temporary file in its
 * directory, synced, and linked into place: link(2) is atomic and fails when the name exists, so a
 * reader never sees half a blob and a blob is never replaced (rename(2) would replace it). The
 * directory is synced before the write is answered, so an acknowledged blob survives a crash.
 */
export class DirectoryBlobStore implements BlobStore {
  constructor(private readonly dirs: Readonly<Record<BlobKind, string>>) {}

  get location(): string {
    return `${this.dirs.artifact} (artifacts), ${this.dirs.archive} (archive)`;
  }

  async put(kind: BlobKind, content: Uint8Array | string): Promise<string> {
    const hash = blobHash(kind, content);
    await this.store(kind, hash, async (temporary) => {
      const handle = await open(temporary, 'wx');
      try {
        await handle.writeFile(content);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    return hash;
  }

  async putFile(kind: BlobKind, path: string): Promise<{ hash: string; size: number }> {
    const hashed = await this.unavailableOn(`read ${path}`, () => hashFile(kind, path));
    await this.store(kind, hashed.hash, async (temporary) => {
      try {
        await link(path, temporary);
      } catch (error) {
        // Another file system (or one without hard links): a copy.
        if (!['EXDEV', 'EPERM', 'ENOTSUP', 'EMLINK'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
        await copyFile(path, temporary);
      }
      const handle = await open(temporary, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    return hashed;
  }

  async get(kind: BlobKind, hash: string): Promise<Buffer | null> {
    if (!isBlobName(kind, hash)) return null;
    const path = join(this.dirs[kind], hash);
    return this.unavailableOn(`read ${path}`, async () => {
      try {
        return await readFile(path);
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
    });
  }

  async open(kind: BlobKind, hash: string): Promise<OpenedBlob | null> {
    if (!isBlobName(kind, hash)) return null;
    const path = join(this.dirs[kind], hash);
    return this.unavailableOn(`read ${path}`, async () => {
      let handle: Awaited<ReturnType<typeof open>>;
      try {
        handle = await open(path, 'r');
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
      try {
        const { size } = await handle.stat();
        return { size, stream: handle.createReadStream() };
      } catch (error) {
        await handle.close();
        throw error;
      }
    });
  }

  async has(kind: BlobKind, hash: string): Promise<boolean> {
    if (!isBlobName(kind, hash)) return false;
    const path = join(this.dirs[kind], hash);
    return this.unavailableOn(`read ${path}`, async () => {
      try {
        await stat(path);
        return true;
      } catch (error) {
        if (missing(error)) return false;
        throw error;
      }
    });
  }

  async close(): Promise<void> {}

  /** Writes a temporary file with `write` and links it to `<dir>/<hash>`, unless the blob is there (then checked). */
  private async store(kind: BlobKind, hash: string, write: (temporary: string) => Promise<void>): Promise<void> {
    const dir = this.dirs[kind];
    const target = join(dir, hash);
    await this.unavailableOn(`write ${target}`, async () => {
      await mkdir(dir, { recursive: true });
      if (await this.has(kind, hash)) return this.checkExisting(kind, hash, target);
      // Not a blob name (a dot, a suffix): never served, and a crash leaves only that behind.
      const temporary = join(dir, `.${hash.slice(0, 16)}.${randomBytes(8).toString('hex')}.tmp`);
      try {
        await write(temporary);
        try {
          await link(temporary, target);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
          // Written meanwhile by another writer of the same bytes (or so it must be).
          return this.checkExisting(kind, hash, target);
        }
        await syncDirectory(dir);
      } finally {
        await unlink(temporary).catch(() => undefined);
      }
    });
  }

  private async checkExisting(kind: BlobKind, hash: string, path: string): Promise<void> {
    const found = await hashFile(kind, path);
    if (found.hash !== hash) throw corruptBlob(path, kind, hash, found.hash);
  }

  /** Runs a file-system step; a failure of the disk (permissions, space, a file where a directory should be) is BLOB_STORE_UNAVAILABLE. */
  private async unavailableOn<T>(what: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof InfrastructureError) throw error;
      const e = error as NodeJS.ErrnoException;
      throw new InfrastructureError(
        'BLOB_STORE_UNAVAILABLE',
        `the blob store cannot ${what}: ${e.code ?? e.name}: ${e.message}`,
        undefined,
        error,
      );
    }
  }
}

/** Makes the directory entries durable (a link is only on disk once its directory is). */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
