import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { GrowList, GrowMap, KeySet, type TrustState } from '@signet/domain';

// The parts of a replayed trust state that grow with every published signature, kept on disk
// during an audit, so its memory does not grow with the log: the records of published signatures
// (read back only to build the trust snapshot) and the index of their identities (one lookup per
// publication). Synchronous file I/O, because the domain's rules read the state synchronously;
// the operating system's page cache does the caching.

const DIGEST = 16;
/** A table slot: the key's digest (16 bytes), where its value is (8), the value's length (4), unused (4). */
const SLOT = 32;

/**
 * An open-addressing hash table in a file, from 128-bit key digests to (offset, length) of a
 * value kept elsewhere; it doubles when half full. The file is unlinked once open.
 */
class DigestTable {
  private fd: number;
  private slots = 1 << 16;
  private count = 0;
  private readonly probe = Buffer.alloc(SLOT);
  private lastKey: string | null = null;
  private lastDigest = Buffer.alloc(DIGEST);

  constructor(private readonly path: string) {
    this.fd = this.open(this.slots, 0);
  }

  get size(): number {
    return this.count;
  }

  /** Where the key's value is, or null. */
  get(key: string): { offset: number; length: number } | null {
    const found = this.find(this.digest(key));
    return found.found ? { offset: found.offset, length: found.length } : null;
  }

  /** Sets where the key's value is; true when the key is new. */
  put(key: string, offset: number, length: number): boolean {
    const digest = this.digest(key);
    const found = this.find(digest);
    this.write(found.slot, digest, offset, length);
    if (found.found) return false;
    if (++this.count * 2 > this.slots) this.grow();
    return true;
  }

  close(): void {
    closeSync(this.fd);
  }

  private digest(key: string): Buffer {
    // A decision asks, then the fold of its event adds, the same key: hash it once.
    if (key === this.lastKey) return this.lastDigest;
    const d = createHash('sha256').update(key).digest().subarray(0, DIGEST);
    d[0] ||= 1; // an all-zero slot is empty: no digest starts with 0 here
    this.lastKey = key;
    this.lastDigest = d;
    return d;
  }

  private find(digest: Buffer): { found: boolean; slot: number; offset: number; length: number } {
    let i = digest.readUInt32BE(4) % this.slots;
    for (;;) {
      readSync(this.fd, this.probe, 0, SLOT, i * SLOT);
      if (this.probe[0] === 0) return { found: false, slot: i, offset: 0, length: 0 };
      if (digest.equals(this.probe.subarray(0, DIGEST)))
        return {
          found: true,
          slot: i,
          offset: Number(this.probe.readBigUInt64BE(DIGEST)),
          length: this.probe.readUInt32BE(DIGEST + 8),
        };
      i = (i + 1) % this.slots;
    }
  }

  private write(slot: number, digest: Buffer, offset: number, length: number): void {
    const bytes = Buffer.alloc(SLOT);
    digest.copy(bytes, 0);
    bytes.writeBigUInt64BE(BigInt(offset), DIGEST);
    bytes.writeUInt32BE(length, DIGEST + 8);
    writeSync(this.fd, bytes, 0, SLOT, slot * SLOT);
  }

  private open(slots: number, generation: number): number {
    const path = `${this.path}.${generation}`;
    const fd = openSync(path, 'w+');
    writeSync(fd, new Uint8Array(1), 0, 1, slots * SLOT - 1); // sized (sparse), so zeroed
    rmSync(path); // kept open, gone from the directory
    return fd;
  }

  private grow(): void {
    const old = this.fd;
    const oldSlots = this.slots;
    this.slots *= 2;
    this.fd = this.open(this.slots, oldSlots);
    const chunk = Buffer.alloc(SLOT * 4096);
    for (let at = 0; at < oldSlots; at += 4096) {
      const n = readSync(old, chunk, 0, chunk.length, at * SLOT) / SLOT;
      for (let j = 0; j < n; j++) {
        const slot = chunk.subarray(j * SLOT, (j + 1) * SLOT);
        if (slot[0] === 0) continue;
        const digest = Buffer.from(slot.subarray(0, DIGEST));
        this.write(this.find(digest).slot, digest, Number(slot.readBigUInt64BE(DIGEST)), slot.readUInt32BE(DIGEST + 8));
      }
    }
    closeSync(old);
  }
}

/** A KeySet whose keys live on disk: a DigestTable for membership, the keys in order for iteration. */
export class DiskKeySet extends KeySet {
  private readonly table: DigestTable;
  private readonly keys: DiskList<string>;

  constructor(dir: string, name: string) {
    super();
    this.table = new DigestTable(join(dir, `${name}.table`));
    this.keys = new DiskList<string>(join(dir, `${name}.keys`));
  }

  override has(key: string): boolean {
    return this.table.get(key) !== null;
  }

  override add(key: string): this {
    if (this.table.put(key, 0, 0)) this.keys.push(key);
    return this;
  }

  override *[Symbol.iterator](): IterableIterator<string> {
    yield* this.keys;
  }

  override get size(): number {
    return this.table.size;
  }

  close(): void {
    this.table.close();
    this.keys.close();
  }
}

/** A GrowMap with string keys whose entries live on disk: a DigestTable to each entry's latest JSON line. */
export class DiskMap<V> extends GrowMap<string, V> {
  private readonly table: DigestTable;
  private readonly fd: number;
  private end = 0;

  constructor(dir: string, name: string) {
    super();
    this.table = new DigestTable(join(dir, `${name}.table`));
    const path = join(dir, `${name}.values`);
    this.fd = openSync(path, 'w+');
    rmSync(path);
  }

  override get(key: string): V | undefined {
    const at = this.table.get(key);
    if (!at) return undefined;
    const bytes = Buffer.alloc(at.length);
    readSync(this.fd, bytes, 0, at.length, at.offset);
    return (JSON.parse(bytes.toString('utf8')) as [string, V])[1];
  }

  override has(key: string): boolean {
    return this.table.get(key) !== null;
  }

  override set(key: string, value: V): this {
    const bytes = Buffer.from(JSON.stringify([key, value]));
    writeSync(this.fd, bytes, 0, bytes.length, this.end);
    this.table.put(key, this.end, bytes.length);
    this.end += bytes.length;
    return this;
  }

  /** Every key with its latest value (earlier values of a key stay in the file, unreferenced). */
  override *[Symbol.iterator](): IterableIterator<[string, V]> {
    const seen = new Set<string>();
    const entries: [string, V][] = [];
    const chunk = Buffer.alloc(1 << 20);
    let carry = Buffer.alloc(0);
    for (let at = 0; at < this.end; ) {
      const n = readSync(this.fd, chunk, 0, Math.min(chunk.length, this.end - at), at);
      at += n;
      carry = Buffer.concat([carry, chunk.subarray(0, n)]);
      // Records are JSON arrays written back to back: split at "][" boundaries by parsing.
      let start = 0;
      let depth = 0;
      let inString = false;
      for (let i = 0; i < carry.length; i++) {
        const c = carry[i]!;
        if (inString) {
          if (c === 0x5c) i++;
          else if (c === 0x22) inString = false;
        } else if (c === 0x22) inString = true;
        else if (c === 0x5b) depth++;
        else if (c === 0x5d && --depth === 0) {
          entries.push(JSON.parse(carry.subarray(start, i + 1).toString('utf8')) as [string, V]);
          start = i + 1;
        }
      }
      carry = Buffer.from(carry.subarray(start));
    }
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k] = entries[i]!;
      if (seen.has(k)) entries.splice(i, 1);
      else seen.add(k);
    }
    yield* entries;
  }

  override get size(): number {
    return this.table.size;
  }

  close(): void {
    this.table.close();
    closeSync(this.fd);
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

/** The histories of every signing key in one file of [fingerprint, seq] lines; each key reads its own. */
class DiskHistories {
  private readonly lines: DiskList<[string, number]>;

  constructor(path: string) {
    this.lines = new DiskList(path);
  }

  view(fingerprint: string, carried: Iterable<number>): GrowList<number> {
    const lines = this.lines;
    let count = 0;
    let last: number | undefined;
    const history = new (class extends GrowList<number> {
      override get length(): number {
        return count;
      }
      override push(seq: number): void {
        lines.push([fingerprint, seq]);
        count++;
        last = seq;
      }
      override at(index: number): number | undefined {
        const i = index < 0 ? count + index : index;
        if (i === count - 1) return last;
        let n = 0;
        for (const seq of this) if (n++ === i) return seq;
        return undefined;
      }
      override *[Symbol.iterator](): IterableIterator<number> {
        for (const [f, seq] of lines) if (f === fingerprint) yield seq;
      }
    })();
    for (const seq of carried) history.push(seq);
    return history;
  }

  close(): void {
    this.lines.close();
  }
}

/** What an audit keeps on disk, and how it adopts the keys the replay adds. */
export interface SpilledState {
  /** Moves the histories of signing keys added since to disk (call after each SigningKeyAdded). */
  adoptKeys(state: TrustState): void;
  close(): void;
}

/**
 * Moves the parts of a trust state that grow with the log to disk under `dir`, carrying over what
 * they hold: the published signatures' records and identities, the command ids, and the signing
 * keys' histories. Its memory then stays the same however many events are replayed.
 */
export function spillToDisk(state: TrustState, dir: string): SpilledState {
  const packages = new DiskList<TrustState['packageSignatures'] extends GrowList<infer T> ? T : never>(
    join(dir, 'package-signatures'),
  );
  for (const s of state.packageSignatures) packages.push(s);
  const modules = new DiskList<TrustState['moduleSignatures'] extends GrowList<infer T> ? T : never>(
    join(dir, 'module-signatures'),
  );
  for (const s of state.moduleSignatures) modules.push(s);
  const published = new DiskKeySet(dir, 'published');
  for (const k of state.published) published.add(k);
  const commands = new DiskMap<TrustState['commands'] extends GrowMap<string, infer V> ? V : never>(dir, 'commands');
  for (const [id, record] of state.commands) commands.set(id, record);
  const histories = new DiskHistories(join(dir, 'histories'));
  const adopted = new WeakSet<GrowList<number>>();
  state.packageSignatures = packages;
  state.moduleSignatures = modules;
  state.published = published;
  state.commands = commands;
  const adoptKeys = (s: TrustState) => {
    for (const key of s.signingKeys.values()) {
      if (adopted.has(key.history)) continue;
      key.history = histories.view(key.fingerprint, key.history);
      adopted.add(key.history);
    }
  };
  adoptKeys(state);
  return {
    adoptKeys,
    close: () => {
      packages.close();
      modules.close();
      published.close();
      commands.close();
      histories.close();
    },
  };
}
