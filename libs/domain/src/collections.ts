// Grow-only collections of the trust state that a decision can copy for nothing. Every decision
// works on a copy of the state (a Decider's group, the continuity check), and the published
// signatures, command ids and a busy key's history grow with the log: copying them whole made
// each decision cost O(n), a replay O(n²). A copy here is a layer over the original: it reads
// the original as it was and adds to its own part, which the original never sees.

/** An append-only list; `layer()` is a copy that sees the first `length` items of the original. */
export class GrowList<T> implements Iterable<T> {
  private readonly own: T[] = [];
  /** What this layer was collapsed into, once it was. */
  private merged: GrowList<T> | null = null;
  private readonly baseLength: number;

  constructor(
    private base: GrowList<T> | null = null,
    items: Iterable<T> = [],
  ) {
    this.baseLength = base?.length ?? 0;
    for (const item of items) this.own.push(item);
  }

  get length(): number {
    return this.baseLength + this.own.length;
  }

  push(item: T): void {
    this.own.push(item);
  }

  at(index: number): T | undefined {
    const i = index < 0 ? this.length + index : index;
    if (i < 0 || i >= this.length) return undefined;
    return i < this.baseLength ? this.base!.at(i) : this.own[i - this.baseLength];
  }

  last(): T | undefined {
    return this.at(-1);
  }

  layer(): GrowList<T> {
    return new GrowList(this);
  }

  /**
   * Puts this layer's items into the list it layers and returns that list (this list itself
   * when it is no layer): the layer's additions become the original's, once the decision they
   * came from is in the log. Only for a layer whose original has not grown since.
   */
  collapse(): GrowList<T> {
    if (!this.base) return this;
    if (this.base.length !== this.baseLength) throw new Error('GrowList.collapse: the original grew since the layer');
    for (const item of this.own) this.base.push(item);
    this.merged = this.base;
    return this.base;
  }

  /**
   * Re-points a layer whose original was since collapsed (its decision is in the log) to what that
   * original went into: the same view, one layer less. A group decided while the group before it
   * was being appended is a layer over that group's layer until then.
   */
  rebase(): void {
    while (this.base?.merged) this.base = this.base.merged;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    if (this.base) {
      let i = 0;
      for (const item of this.base) {
        if (i++ >= this.baseLength) break;
        yield item;
      }
    }
    yield* this.own;
  }

  filter(keep: (item: T) => boolean): T[] {
    const out: T[] = [];
    for (const item of this) if (keep(item)) out.push(item);
    return out;
  }

  find(test: (item: T) => boolean): T | undefined {
    for (const item of this) if (test(item)) return item;
    return undefined;
  }

  some(test: (item: T) => boolean): boolean {
    for (const item of this) if (test(item)) return true;
    return false;
  }

  toArray(): T[] {
    return [...this];
  }

  toJSON(): T[] {
    return this.toArray();
  }
}

/** A grow-only set of keys; `layer()` is a copy whose additions the original does not see. */
export class KeySet implements Iterable<string> {
  private readonly own = new Set<string>();
  /** What this layer was collapsed into, once it was. */
  private merged: KeySet | null = null;

  constructor(
    private base: KeySet | null = null,
    values: Iterable<string> = [],
  ) {
    for (const v of values) this.own.add(v);
  }

  has(key: string): boolean {
    return this.own.has(key) || (this.base?.has(key) ?? false);
  }

  add(key: string): this {
    this.own.add(key);
    return this;
  }

  layer(): KeySet {
    return new KeySet(this);
  }

  /** This layer's keys put into the set it layers, which is returned (see GrowList.collapse). */
  collapse(): KeySet {
    if (!this.base) return this;
    for (const key of this.own) this.base.add(key);
    this.merged = this.base;
    return this.base;
  }

  /**
   * Re-points a layer whose original was since collapsed (its decision is in the log) to what that
   * original went into: the same view, one layer less. A group decided while the group before it
   * was being appended is a layer over that group's layer until then.
   */
  rebase(): void {
    while (this.base?.merged) this.base = this.base.merged;
  }

  *[Symbol.iterator](): IterableIterator<string> {
    if (!this.base) {
      yield* this.own;
      return;
    }
    yield* this.base;
    // A layer collapsed into its base, still read through by a copy of it, holds keys its base has.
    for (const key of this.own) if (!this.base.has(key)) yield key;
  }

  get size(): number {
    if (!this.base) return this.own.size;
    let n = this.base.size;
    for (const key of this.own) if (!this.base.has(key)) n++;
    return n;
  }

  toJSON(): string[] {
    return [...this];
  }
}

/** A map whose entries are only added (a value may change in the layer that added it); `layer()` as above. */
export class GrowMap<K, V> implements Iterable<[K, V]> {
  private readonly own = new Map<K, V>();
  /** What this layer was collapsed into, once it was. */
  private merged: GrowMap<K, V> | null = null;

  constructor(
    private base: GrowMap<K, V> | null = null,
    entries: Iterable<[K, V]> = [],
  ) {
    for (const [k, v] of entries) this.own.set(k, v);
  }

  get(key: K): V | undefined {
    return this.own.get(key) ?? this.base?.get(key);
  }

  has(key: K): boolean {
    return this.own.has(key) || (this.base?.has(key) ?? false);
  }

  set(key: K, value: V): this {
    this.own.set(key, value);
    return this;
  }

  layer(): GrowMap<K, V> {
    return new GrowMap(this);
  }

  /** This layer's entries put into the map it layers, which is returned (see GrowList.collapse). */
  collapse(): GrowMap<K, V> {
    if (!this.base) return this;
    for (const [k, v] of this.own) this.base.set(k, v);
    this.merged = this.base;
    return this.base;
  }

  /**
   * Re-points a layer whose original was since collapsed (its decision is in the log) to what that
   * original went into: the same view, one layer less. A group decided while the group before it
   * was being appended is a layer over that group's layer until then.
   */
  rebase(): void {
    while (this.base?.merged) this.base = this.base.merged;
  }

  /**
   * In the order a Map would keep: the original's entries where they are (with this layer's value
   * where it set one), then the keys this layer added. Decisions iterate in this order, and a
   * replay folding into one plain map must find the same.
   */
  *[Symbol.iterator](): IterableIterator<[K, V]> {
    if (!this.base) {
      yield* this.own;
      return;
    }
    for (const [k, v] of this.base) yield [k, this.own.has(k) ? (this.own.get(k) as V) : v];
    for (const [k, v] of this.own) if (!this.base.has(k)) yield [k, v];
  }

  *values(): IterableIterator<V> {
    for (const [, v] of this) yield v;
  }

  /** The values this layer set (none of the original's): what a decision changed or added. */
  layerValues(): IterableIterator<V> {
    return this.own.values();
  }

  get size(): number {
    if (!this.base) return this.own.size;
    let n = this.base.size;
    for (const k of this.own.keys()) if (!this.base.has(k)) n++;
    return n;
  }

  toJSON(): [K, V][] {
    return [...this];
  }
}
