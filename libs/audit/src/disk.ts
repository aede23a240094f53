import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { GrowList, KeySet, type TrustState } from '@signet/domain';

// The parts of a replayed trust state that grow with every published signature, kept on disk
// during an audit, so its memory does not grow with the log: the records of published signatures
// (read back only to build the trust snapshot) and the index of their identities (one lookup per
// publication). Synchronous file I/O, because the domain's rules read the state synchronously;
// the operating system's page cache does the caching.

const SLOT = 16;

/** A KeySet whose keys live in a file: an open-addressing table of 128-bit digests, plus the keys in order. */
export class DiskKeySet extends KeySet {
  private table: number;
  private slots: number;
  private count = 0;
  private readonly keys: DiskList<string>;

  constructor(
    private readonly dir: string,
    private readonly name: string,
  ) {
    super();
    this.slots = 1 << 16;
    this.table = this.newTable(this.slots, 0);
    this.keys = new DiskList<string>(join(dir, `${name}.keys`));
  }

  override has(key: string): boolean {
    return this.find(this.digest(key)).found;
  }

  override add(key: string): this {
    const digest = this.digest(key);
    const { found, slot } = this.find(digest);
    if (found) return this;
    writeSync(this.table, digest, 0, SLOT, slot * SLOT);
    this.keys.push(key);
    if (++this.count * 2 > this.slots) this.grow();
    return this;
  }

  override *[Symbol.iterator](): IterableIterator<string> {
    yield* this.keys;
  }

  override get size(): number {
    return this.count;
  }

  close(): void {
    closeSync(this.table);
    this.keys.close();
  }

  private lastKey: string | null = null;
  private lastDigest = Buffer.alloc(SLOT);

  private digest(key: string): Buffer {
    // A decision asks `has`, then the fold of its event `add`s the same key: hash it once.
    if (key === this.lastKey) return this.lastDigest;
    const d = createHash('sha256').update(key).digest().subarray(0, SLOT);
    // An all-zero slot means empty: a digest is never all zero.
    d[0] ||= 1;
    this.lastKey = key;
    this.lastDigest = d;
    return d;
  }

  private readonly probe = Buffer.alloc(SLOT);

  private find(digest: Buffer): { found: boolean; slot: number } {
    const slot = this.probe;
    let i = digest.readUInt32BE(4) % this.slots;
    for (;;) {
      readSync(this.table, slot, 0, SLOT, i * SLOT);
      if (slot[0] === 0) return { found: false, slot: i };
      if (digest.equals(slot)) return { found: true, slot: i };
      i = (i + 1) % this.slots;
    }
  }

  private newTable(slots: number, generation: number): number {
    const path = join(this.dir, `${this.name}.${generation}.table`);
    const fd = openSync(path, 'w+');
    writeSync(fd, new Uint8Array(1), 0, 1, slots * SLOT - 1); // sized (sparse) and zeroed
    rmSync(path); // kept open, gone from the directory
    return fd;
  }

  /** Doubles the table, re-inserting every digest. */
  private grow(): void {
    const old = this.table;
    const oldSlots = this.slots;
    this.slots *= 2;
    this.table = this.newTable(this.slots, oldSlots);
    const chunk = Buffer.alloc(SLOT * 4096);
    for (let at = 0; at < oldSlots; at += 4096) {
      const n = readSync(old, chunk, 0, chunk.length, at * SLOT) / SLOT;
      for (let j = 0; j < n; j++) {
        const digest = chunk.subarray(j * SLOT, (j + 1) * SLOT);
        if (digest[0] === 0) continue;
        writeSync(this.table, digest, 0, SLOT, this.find(Buffer.from(digest)).slot * SLOT);
      }
    }
    closeSync(old);
  }
}

/** A GrowList whose items live in a file, one JSON line each, read back by iterating. */
export class DiskList<T> extends GrowList<T> {
  private readonly fd: number;
  private buffered: string[] = [];
  private bufferedBytes = 0;
  private count = 0;
  private lastItem: T | undefined;

  constructor(path: string) {
    super();
    this.fd = openSync(path, 'w+');
    rmSync(path);
  }

  override get length(): number {
    return this.count;
  }

  override push(item: T): void {
    const line = `${JSON.stringify(item)}\n`;
    this.buffered.push(line);
    this.bufferedBytes += line.length;
    this.count++;
    this.lastItem = item;
    if (this.bufferedBytes > 1 << 16) this.flush();
  }

  override at(index: number): T | undefined {
    const i = index < 0 ? this.count + index : index;
    if (i === this.count - 1) return this.lastItem;
    let n = 0;
    for (const item of this) if (n++ === i) return item;
    return undefined;
  }

  override *[Symbol.iterator](): IterableIterator<T> {
    this.flush();
    const size = fstatSync(this.fd).size;
    const chunk = Buffer.alloc(1 << 20);
    let carry = '';
    for (let at = 0; at < size; ) {
      const n = readSync(this.fd, chunk, 0, chunk.length, at);
      if (n === 0) break;
      at += n;
      const text = carry + chunk.toString('utf8', 0, n);
      const lines = text.split('\n');
      carry = lines.pop()!;
      for (const line of lines) yield JSON.parse(line) as T;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private flush(): void {
    if (this.buffered.length === 0) return;
    const bytes = Buffer.from(this.buffered.join(''));
    writeSync(this.fd, bytes, 0, bytes.length, fstatSync(this.fd).size);
    this.buffered = [];
    this.bufferedBytes = 0;
  }
}

/**
 * Moves the state's per-signature collections to disk under `dir` (carrying over what they
 * hold): the published signatures' records and identities. Returns a function that closes them.
 */
export function spillToDisk(state: TrustState, dir: string): () => void {
  const packages = new DiskList<TrustState['packageSignatures'] extends GrowList<infer T> ? T : never>(join(dir, 'package-signatures'));
  for (const s of state.packageSignatures) packages.push(s);
  const modules = new DiskList<TrustState['moduleSignatures'] extends GrowList<infer T> ? T : never>(join(dir, 'module-signatures'));
  for (const s of state.moduleSignatures) modules.push(s);
  const published = new DiskKeySet(dir, 'published');
  for (const k of state.published) published.add(k);
  state.packageSignatures = packages;
  state.moduleSignatures = modules;
  state.published = published;
  return () => {
    packages.close();
    modules.close();
    published.close();
  };
}
