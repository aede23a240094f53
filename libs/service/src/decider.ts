import { DomainError, type EventDraft, type EventEnvelope, type TrustState } from '@signet/domain';
import type { SignetLog } from '@signet/store';
import { Mutex } from './mutex.js';
import type { TrustProjection } from './projection.js';

const MAX_ATTEMPTS = 5;

/**
 * Decide on the current state, append only if the log has not moved since (expected size), and
 * fold the result into the projection. One decision at a time in this process; another process
 * appending in between makes the decision run again on the new state.
 */
export class Decider {
  private readonly lock = new Mutex();

  constructor(
    private readonly log: SignetLog,
    private readonly projection: TrustProjection,
  ) {}

  /**
   * `prepare` does the slow, state-dependent work (signature verification) outside the lock and
   * returns the pure decision to take under it.
   */
  async run(prepare: (state: TrustState) => Promise<(state: TrustState) => EventDraft[]>): Promise<EventEnvelope[]> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const seen = await this.projection.catchUp();
      const size = seen.size;
      const decide = await prepare(seen);
      const events = await this.lock.run(async () => {
        const current = await this.projection.catchUp();
        if (current.size !== size) return null; // the state moved while preparing: again
        const drafts = decide(current);
        try {
          const appended = await this.log.writer.append(drafts, { expectedSize: current.size });
          this.projection.apply(appended);
          return appended;
        } catch (error) {
          if (error instanceof DomainError && error.code === 'LOG_SIZE_CHANGED') return null; // another process appended
          throw error;
        }
      });
      if (events) return events;
    }
    throw new DomainError('LOG_BUSY', 'the log kept changing while this was decided; send it again');
  }
}
