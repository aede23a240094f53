import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * The archive: immutable documents stored under their SHA-256 (hex), in a directory. A document
 * is written to a temporary file and renamed into place, so a reader never sees half of one.
 */
export class ArchiveStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  static hash(content: string | Uint8Array): string {
    return createHash('sha256').update(content).digest('hex');
  }

  put(content: string | Uint8Array): string {
    const sha256 = ArchiveStore.hash(content);
    const target = join(this.dir, sha256);
    const temporary = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(temporary, content);
    renameSync(temporary, target);
    return sha256;
  }

  /** The document, or null when the archive has none with that hash (or the name is not a hash). */
  get(sha256: string): Buffer | null {
    if (!SHA256.test(sha256)) return null;
    try {
      return readFileSync(join(this.dir, sha256));
    } catch {
      return null;
    }
  }
}
