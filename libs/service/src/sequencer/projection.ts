import { DomainError, type EventEnvelope, type TrustState, adoptDecision, emptyState, evolve } from '@signet/domain';
import type { LogReader } from '@signet/store';

/** Events kept after folding, for the workers acting on what was just appended. */
const RECENT_EVENTS = 8192;

/**
 * The trust state at the head, kept up to date on append (and caught up from the log when
 * another process appended), plus the state at any earlier size by replay.
 */
export class TrustProjection {
  private current: TrustState = emptyState();
  /** The last events folded, by seq: a worker handed a seq finds its event here, not in the database. */
  private readonly recentEvents = new Map<number, EventEnvelope>();
  private readonly past = new Map<number, TrustState>();
  private catchingUp: Promise<TrustState> | null = null;
  private nextPass: Promise<TrustState> | null = null;

  constructor(private readonly reader: LogReader) {}

  get state(): TrustState {
    return this.current;
  }

  /**
   * Folds in whatever the log has beyond what this projection has seen, as of this call: a pass
   * already running may have read the log's size before the caller's moment, so a caller that
   * finds one gets the pass after it (one, shared by all who wait). One pass at a time.
   */
  catchUp(): Promise<TrustState> {
    if (!this.catchingUp) {
      this.catchingUp = this.pass().finally(() => (this.catchingUp = null));
      return this.catchingUp;
    }
    this.nextPass ??= this.catchingUp
      .catch(() => undefined)
      .then(() => {
        this.nextPass = null;
        return this.catchUp();
      });
    return this.nextPass;
  }

  private async pass(): Promise<TrustState> {
    const size = await this.reader.size();
    if (size > this.current.size) for await (const e of this.reader.scan(this.current.size, size)) this.fold(e);
    return this.current;
  }

  /** Folds in events this process just appended (each once, whoever folds it first). */
  apply(events: readonly EventEnvelope[]): void {
    for (const e of events) this.fold(e);
  }

  /**
   * Takes in events this process just appended, already folded into `decided` (a
   * `cloneForDecision` of this projection's state, made when it was at the first event's seq):
   * the state adopts the copy rather than folding each event again. When the state moved
   * meanwhile (a catch-up folded some of them first), they are folded as by `apply`. True when
   * the copy was adopted.
   */
  adopt(decided: TrustState, events: readonly EventEnvelope[]): boolean {
    const first = events[0];
    if (!first || first.seq !== this.current.size || decided.size !== first.seq + events.length) {
      this.apply(events);
      return false;
    }
    adoptDecision(this.current, decided);
    for (const e of events) this.remember(e);
    return true;
  }

  /** An event folded lately, or undefined (then read it from the log). */
  recent(seq: number): EventEnvelope | undefined {
    return this.recentEvents.get(seq);
  }

  private fold(e: EventEnvelope): void {
    if (e.seq !== this.current.size) return;
    evolve(this.current, e);
    this.remember(e);
  }

  private remember(e: EventEnvelope): void {
    this.recentEvents.set(e.seq, e);
    if (this.recentEvents.size > RECENT_EVENTS) this.recentEvents.delete(this.recentEvents.keys().next().value!);
  }

  /** The state after the first `size` events (the head when undefined), caught up first. */
  async stateAt(size?: number): Promise<TrustState> {
    const head = await this.catchUp();
    if (size === undefined || size === head.size) return head;
    if (size > head.size) throw new DomainError('NOT_IN_LOG', `the log has ${head.size} events, not ${size}`);
    const cached = this.past.get(size);
    if (cached) return cached;
    const state = emptyState();
    for await (const e of this.reader.scan(0, size)) evolve(state, e);
    if (this.past.size >= 16) this.past.delete(this.past.keys().next().value!);
    this.past.set(size, state);
    return state;
  }
}
