import { createHash } from 'node:crypto';
import {
  type Clock,
  DomainError,
  type SignedSnapshot,
  type TrustState,
  buildSnapshot,
  encodeSignedSnapshot,
  snapshotSigningBytes,
} from '@signet/domain';
import type { SignetLog } from '@signet/store';
import { hash8, signCheckpoint, toBase64 } from '@signet/tlog';
import type { TrustProjection } from '../sequencer/projection.js';

export interface SnapshotOptions {
  /** How long a snapshot is valid after it is issued. */
  readonly ttlMs: number;
  /** The head's snapshot is issued again at every multiple of this (well before it expires). */
  readonly refreshMs: number;
}

export interface ServedSnapshot {
  readonly body: string;
  /** Strong ETag: the body's SHA-256. */
  readonly etag: string;
  readonly version: number;
  readonly expiresAt: string;
}

/**
 * Trust snapshots, signed by the log's key. The head's is issued at
 * max(the log's last event time, the start of the current refresh period), so it is the same
 * document in every process and after restarts, and is re-issued each period before it
 * expires; an older size's is issued at that size's last event time, forever the same bytes.
 * Checkpoints are signed again for the size (Ed25519 is deterministic: the same bytes too).
 */
export class SnapshotService {
  private cached: { key: string; served: Promise<ServedSnapshot> } | null = null;
  private readonly past = new Map<number, Promise<ServedSnapshot>>();
  private checkedAt = 0;
  private resolved: { key: string; served: ServedSnapshot } | null = null;
  /** The last `ready()` that found the precomputed copy current: for that state, in that refresh period. */
  private readyCheck: {
    resolved: { key: string; served: ServedSnapshot };
    size: number;
    from: number;
    until: number;
  } | null = null;

  constructor(
    private readonly log: SignetLog,
    private readonly projection: TrustProjection,
    private readonly clock: Clock,
    private readonly options: SnapshotOptions,
  ) {
    if (options.refreshMs >= options.ttlMs)
      throw new Error('the snapshot refresh period must be shorter than its lifetime');
  }

  /** The snapshot at the head, from the precomputed copy when it is current. */
  async current(): Promise<ServedSnapshot> {
    // Appends by this process are folded in at once; other processes' are looked for at most
    // once a second (the response may be cached for a minute anyway), not on every request.
    const now = Date.now();
    const fresh = now - this.checkedAt < 1000;
    if (!fresh) this.checkedAt = now;
    const state = fresh ? this.projection.state : await this.projection.catchUp();
    const { key, issuedAt } = this.headOf(state);
    if (this.cached?.key !== key) {
      const served = this.make(state.size, new Date(issuedAt));
      this.cached = { key, served };
      served.then(
        (value) => (this.resolved = { key, served: value }),
        () => (this.cached = null),
      );
    }
    return this.cached!.served;
  }

  /**
   * The precomputed head snapshot without waiting, when it is the one for the state as this
   * process knows it (looked for other processes' appends within about a second); null when it
   * must be computed first.
   */
  ready(): ServedSnapshot | null {
    // Look for other processes' appends in the background, at most once a second.
    if (Date.now() - this.checkedAt >= 1000) void this.current().catch(() => undefined);
    const resolved = this.resolved;
    if (!resolved) return null;
    // Every PBX asks for this on a timer: while the state (folded in place: its size) and the
    // refresh period are the ones the precomputed copy was checked against, the answer is known
    // without building its key again.
    const state = this.projection.state;
    const now = this.clock.now().getTime();
    const check = this.readyCheck;
    if (check?.resolved === resolved && check.size === state.size && now >= check.from && now < check.until)
      return resolved.served;
    if (resolved.key !== this.headOf(state).key) return null;
    const from = Math.floor(now / this.options.refreshMs) * this.options.refreshMs;
    this.readyCheck = { resolved, size: state.size, from, until: from + this.options.refreshMs };
    return resolved.served;
  }

  /** When the head's snapshot of a state is issued, and the key of that document. */
  private headOf(state: TrustState): { key: string; issuedAt: number } {
    const period = Math.floor(this.clock.now().getTime() / this.options.refreshMs) * this.options.refreshMs;
    const issuedAt = Math.max(period, Date.parse(state.lastRecordedAt));
    return { key: `${state.size}/${issuedAt}`, issuedAt };
  }

  /** The snapshot at an earlier size (for audits): issued at that size's last event time. */
  async at(size: number): Promise<ServedSnapshot> {
    const head = await this.projection.catchUp();
    if (size < 1 || size > head.size)
      throw new DomainError(
        'NOT_IN_LOG',
        `the log has ${head.size} events; a snapshot is at a size from 1 to ${head.size}`,
      );
    let served = this.past.get(size);
    if (!served) {
      served = this.projection.stateAt(size).then((s) => this.make(size, new Date(s.lastRecordedAt)));
      if (this.past.size >= 64) this.past.delete(this.past.keys().next().value!);
      this.past.set(size, served);
      served.catch(() => this.past.delete(size));
    }
    return served;
  }

  private async make(size: number, issuedAt: Date): Promise<ServedSnapshot> {
    const state = await this.projection.stateAt(size);
    const { signer, origin } = this.log.identity;
    // The snapshot carries a signed checkpoint: the watermark must hold its size first.
    await this.log.watermark.durable(size);
    const checkpoint = signCheckpoint(
      { origin, size, root: await this.log.reader.rootAt(size), extensions: [] },
      signer,
    );
    const snapshot = buildSnapshot(state, checkpoint, issuedAt, new Date(issuedAt.getTime() + this.options.ttlMs));
    const signed: SignedSnapshot = {
      snapshot,
      signature: {
        alg: 'Ed25519',
        keyName: signer.name,
        keyHash: hash8(signer.keyHash),
        value: toBase64(signer.sign(snapshotSigningBytes(snapshot))),
      },
    };
    const body = encodeSignedSnapshot(signed);
    return {
      body,
      etag: `"${createHash('sha256').update(body).digest('hex')}"`,
      version: size,
      expiresAt: snapshot.expiresAt,
    };
  }
}
