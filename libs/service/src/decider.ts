import { type Clock, DomainError, InfrastructureError, type EventDraft, type EventEnvelope, type TrustState, cloneForDecision, evolve } from '@signet/domain';
import type { SignetLog } from '@signet/store';
import type { TrustProjection } from './projection.js';

/** Another process appending between our read and our append costs one attempt. */
const MAX_ATTEMPTS = 20;
/** Decisions taken together and appended as one group commit. */
const MAX_GROUP = 256;
const RETRY = Symbol('retry');

/** What `prepare` hands back: the decision, and whether it rests on the set of keys known when prepared. */
export interface Prepared {
  /** The pure decision, on the state and at the time the events will be recorded with. */
  readonly decide: (state: TrustState, now: Date) => EventDraft[];
  /**
   * True when preparing looked at every known key (to find certifications), so a changed key
   * set must be looked at again for the decision to be the one an auditor replays.
   */
  readonly keysSensitive: boolean;
}

interface Waiting {
  readonly decide: (state: TrustState, now: Date) => EventDraft[];
  /** The key set it was prepared against, when that matters. */
  readonly keysVersion: number | null;
  readonly resolve: (events: EventEnvelope[] | typeof RETRY) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Decide on the current state, append only if the log has not moved since (expected size), and
 * fold the result into the projection.
 *
 * Decisions that arrive while a commit is in flight are taken together: each on the state as the
 * ones before it leave it, then all their events are appended at once (group commit), so a busy
 * log commits many commands per transaction. A refused decision fails alone. If another process
 * appended meanwhile, or the key set a decision was prepared against changed (when it matters),
 * the decision is prepared and taken again on the new state.
 */
export class Decider {
  private readonly waiting: Waiting[] = [];
  private draining = false;

  constructor(
    private readonly log: SignetLog,
    private readonly projection: TrustProjection,
    private readonly clock: Clock,
  ) {}

  /**
   * `prepare` does the slow, state-dependent work (signature verification) concurrently and
   * returns the pure decision to take in turn.
   */
  async run(prepare: (state: TrustState) => Promise<Prepared>): Promise<EventEnvelope[]> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // Optimistic: decide on the projection as this process knows it; the append's expected
      // size refuses a stale decision, and only then is the log read again.
      const seen = attempt === 0 ? this.projection.state : await this.projection.catchUp();
      const { decide, keysSensitive } = await prepare(seen);
      const result = await new Promise<EventEnvelope[] | typeof RETRY>((resolve, reject) => {
        this.waiting.push({ decide, keysVersion: keysSensitive ? seen.keysVersion : null, resolve, reject });
        void this.drain();
      });
      if (result !== RETRY) return result;
      // Someone else appended: step aside a little, more each time, so the writers interleave.
      await new Promise((r) => setTimeout(r, Math.random() * 2 * (attempt + 1)));
    }
    throw new InfrastructureError('LOG_BUSY', 'the log kept changing while this was decided; send it again');
  }

  /** A decision of the log's own (a worker's outcome): nothing to prepare, decided in turn like a command. */
  async decideByLog(decide: (state: TrustState, now: Date) => EventDraft[]): Promise<EventEnvelope[]> {
    // Caught up first: a decision that finds nothing to do appends nothing, so no expected size
    // would tell it that it looked at a stale state (another process's events).
    await this.projection.catchUp();
    return this.run(async () => ({ decide, keysSensitive: false }));
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.waiting.length > 0) await this.decideGroup(this.waiting.splice(0, MAX_GROUP));
    } finally {
      this.draining = false;
    }
  }

  private async decideGroup(group: Waiting[]): Promise<void> {
    const current = this.projection.state;
    const base = current.size;
    const work = cloneForDecision(current);
    const drafts: EventDraft[] = [];
    const taken: { waiting: Waiting; count: number }[] = [];
    // Decided at the time the events will carry (never before the log's last event), so that
    // replaying the log with recordedAt as the clock reaches the same decisions.
    const now = new Date(Math.max(this.clock.now().getTime(), current.lastRecordedAt ? Date.parse(current.lastRecordedAt) : 0));
    for (const w of group) {
      if (w.keysVersion !== null && w.keysVersion !== work.keysVersion) {
        w.resolve(RETRY);
        continue;
      }
      let decided: EventDraft[];
      try {
        decided = w.decide(work, now);
      } catch (error) {
        w.reject(error);
        continue;
      }
      // Later decisions in the group see this one's events.
      for (const d of decided) evolve(work, { ...d, seq: work.size, recordedAt: now.toISOString() });
      drafts.push(...decided);
      taken.push({ waiting: w, count: decided.length });
    }
    if (drafts.length === 0) {
      for (const t of taken) t.waiting.resolve([]);
      return;
    }
    try {
      const appended = await this.log.writer.append(drafts, { expectedSize: base, recordedAt: now });
      this.projection.apply(appended);
      let at = 0;
      for (const t of taken) {
        t.waiting.resolve(appended.slice(at, at + t.count));
        at += t.count;
      }
    } catch (error) {
      const moved = error instanceof DomainError && error.code === 'LOG_SIZE_CHANGED'; // another process appended
      for (const t of taken) (moved ? t.waiting.resolve(RETRY) : t.waiting.reject(error));
    }
  }
}
