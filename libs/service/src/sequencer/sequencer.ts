import {
  type Clock,
  DomainError,
  type EventDraft,
  type EventEnvelope,
  InfrastructureError,
  type TrustState,
  cloneForDecision,
  evolve,
} from '@signet/domain';
import type { SealedBatch, SignetLog, TreeHead } from '@signet/store';
import type { TrustProjection } from './projection.js';

/** A decision waiting its turn: pure, taken on the state as the decisions before it leave it. */
export interface Decision {
  readonly decide: (state: TrustState, now: Date) => EventDraft[];
  /**
   * The key set (`TrustState.keysVersion`) the decision was prepared against, when its inputs
   * depend on it (certifications looked for among the known keys); null when they do not.
   */
  readonly keysVersion: number | null;
  /**
   * Nothing to append means nothing is left to do (the log's own decisions: "already posted",
   * "not due yet"): like a refusal, that answer is only given on a state caught up to the head.
   * A command that appends nothing was logged already, which no later event undoes.
   */
  readonly emptyRestsOnHead?: boolean;
}

/** What `decide` answers when the key set changed since the decision was prepared: prepare it again. */
export const STALE = Symbol('stale');

interface Waiting extends Decision {
  readonly resolve: (events: EventEnvelope[] | typeof STALE) => void;
  readonly reject: (error: unknown) => void;
  /** Times its group was decided on a state the log moved past (LOG_BUSY at MAX_ROUNDS). */
  rounds: number;
}

/** Decisions taken together on one state, and the batch their events were sealed into. */
interface Group {
  /** The state decided on: the projection's, or the state the group before it leaves. */
  readonly parent: TrustState;
  /** A copy of `parent` with this group's events folded in. */
  readonly work: TrustState;
  /** The decisions decided in it, in order (decided again, in this order, if it is not written). */
  readonly decided: Waiting[];
  readonly taken: { readonly waiting: Waiting; readonly count: number }[];
  readonly refused: { readonly waiting: Waiting; readonly error: unknown }[];
  /** Prepared on another key set: answered STALE once the group before this one has landed. */
  readonly stale: Waiting[];
  /** A refusal, or nothing left to do, that must rest on the database's head. */
  readonly restsOnHead: boolean;
  readonly batch: SealedBatch | null;
  /** The tree head this group leaves, when it is not the log's (a group before it is not committed yet). */
  readonly tip: TreeHead | undefined;
}

/** A group whose statement was sent. */
interface Flight {
  readonly group: Group;
  readonly committed: Promise<readonly EventEnvelope[]>;
}

function tooLarge(events: number, limit: number): DomainError {
  return new DomainError(
    'BATCH_TOO_LARGE',
    `this would append ${events} events at once; the log takes at most ${limit} in one transaction (SIGNET_MAX_BATCH)`,
  );
}

/** Decisions taken together and appended as one transaction. */
const MAX_GROUP = 256;
/** Decisions waiting, with nothing in flight, from which the first group takes only half. */
const SPLIT_FROM = 8;
/** Rounds of catching up with another process's appends before a group is given up (LOG_BUSY). */
const MAX_ROUNDS = 20;

/**
 * The log's one sequencer (as Sunlight's pool → sequencePool, or Tessera's queue and flush).
 * Decisions arrive already verified (signatures are checked on worker threads before they queue);
 * whatever arrived forms the next group: each decided in turn on one state, all their events
 * sealed into one batch and appended in one transaction (events, tree nodes and the signed
 * checkpoint: LogWriter); the state they were folded into becomes the projection's.
 *
 * Pipelined: while a group's statement is in flight, the next group is decided on the state that
 * group leaves and sealed on the tree head it leaves, and sent as soon as it committed. If it is
 * not written (another process appended, the database failed), the group decided on it is
 * decided again; no caller is answered before its group committed, and a refusal waits for the
 * group before it (it may rest on that group's events).
 *
 * Another process may append too (several API processes, a worker). Its events reach this state
 * only by reading the log, so a group decided on a stale state is never written (the append
 * expects the size and root decided on), and a refusal is only given on a state caught up to the
 * database's head: a member added through another process is known here before anyone is told
 * "unknown signer".
 */
export class Sequencer {
  private readonly waiting: Waiting[] = [];
  private draining: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly log: SignetLog,
    private readonly projection: TrustProjection,
    private readonly clock: Clock,
  ) {}

  /** Queues a decision; its events once appended, or STALE when it must be prepared again. */
  decide(decision: Decision): Promise<EventEnvelope[] | typeof STALE> {
    if (this.closed)
      return Promise.reject(
        new InfrastructureError(
          'LOG_CLOSED',
          'the log is shutting down and takes no more commands; send it again to another instance',
        ),
      );
    return new Promise((resolve, reject) => {
      this.waiting.push({ ...decision, resolve, reject, rounds: 0 });
      if (!this.draining) this.startDraining();
    });
  }

  private startDraining(): void {
    // After the current synchronous run: decisions queued together form one group.
    this.draining = Promise.resolve()
      .then(() => this.drain())
      .finally(() => {
        this.draining = null;
        // Queued after the loop looked for the last time, before it was seen to end.
        if (this.waiting.length > 0) this.startDraining();
      });
  }

  /** A decision of the log's own (a worker's outcome): nothing to prepare, decided in turn like a command. */
  async decideByLog(decide: (state: TrustState, now: Date) => EventDraft[]): Promise<EventEnvelope[]> {
    // A decision that finds nothing to do appends nothing, so no expected size would tell it
    // that it looked at a stale state: the sequencer checks such an answer against the head.
    const events = await this.decide({ decide, keysVersion: null, emptyRestsOnHead: true });
    return events === STALE ? [] : events;
  }

  /** Events appended as they are, in turn with the decisions (tests, benchmarks, tools). */
  async append(drafts: readonly EventDraft[]): Promise<EventEnvelope[]> {
    const events = await this.decide({ decide: () => [...drafts], keysVersion: null });
    return events === STALE ? [] : events;
  }

  /** Takes no more decisions; resolves once those queued are settled. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    let flight: Flight | null = null;
    while (this.waiting.length > 0 || flight) {
      // The next group, decided and sealed while the statement of the one in flight runs.
      let next: Group | null = null;
      if (this.waiting.length > 0) {
        // With nothing in flight and many waiting, half of them (the first half's statement then
        // runs while the rest is decided), where a statement runs beside this thread; else all
        // (a few are not worth a second transaction).
        const half = !flight && this.waiting.length >= SPLIT_FROM && this.log.writer.overlaps;
        const take = Math.min(MAX_GROUP, half ? Math.ceil(this.waiting.length / 2) : this.waiting.length);
        next = await this.decideGroup(this.waiting.splice(0, take), flight?.group ?? null);
      }
      const landed = flight ? await this.land(flight) : 'committed';
      if (landed !== 'committed') {
        // The group decided on the state of one that was not written is decided again, after
        // that one when it is (another process appended: both are, on the caught-up state).
        const retry = landed === 'again' ? [flight!.group] : [];
        if (next) retry.push(next);
        this.again(retry);
        next = null;
      }
      flight = next && (await this.send(next));
      // Callers whose decision just resolved queue their next one in this turn of the event
      // loop: let them, so that they join the next group rather than wait for the one after.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Decides `waiting` in turn on a copy of the state `after` leaves (the projection's when null)
   * and seals their events on the tree head it leaves. Null when there was nothing to decide, or
   * the group could not be sealed (its callers answered, or queued again when the log moved).
   */
  private async decideGroup(waiting: Waiting[], after: Group | null): Promise<Group | null> {
    const parent = after?.work ?? this.projection.state;
    const work = cloneForDecision(parent);
    // Decided at the time the events will carry (never before the log's last event), so that
    // replaying the log with recordedAt as the clock reaches the same decisions.
    const now = new Date(
      Math.max(this.clock.now().getTime(), parent.lastRecordedAt ? Date.parse(parent.lastRecordedAt) : 0),
    );
    const recordedAt = now.toISOString();
    const drafts: EventDraft[] = [];
    const decided: Waiting[] = [];
    const taken: Group['taken'] = [];
    const refused: Group['refused'] = [];
    const stale: Waiting[] = [];
    const later: Waiting[] = [];
    const limit = this.log.writer.maxEvents;
    for (const w of waiting) {
      // Prepared against another key set than the one it would be decided on (a decision
      // before it may have added a key): sent back to be prepared again.
      if (w.keysVersion !== null && w.keysVersion !== work.keysVersion) {
        stale.push(w);
        continue;
      }
      if (drafts.length >= limit) {
        later.push(w);
        continue;
      }
      let events: EventDraft[];
      try {
        events = w.decide(work, now);
      } catch (error) {
        decided.push(w);
        refused.push({ waiting: w, error });
        continue;
      }
      if (events.length > limit) {
        // More than one transaction takes: refused alone, not with the group around it.
        decided.push(w);
        refused.push({ waiting: w, error: tooLarge(events.length, limit) });
        continue;
      }
      if (drafts.length + events.length > limit) {
        later.push(w); // decided in the next group, on the state this one leaves
        continue;
      }
      // Later decisions in the group see this one's events.
      for (const d of events) evolve(work, { ...d, seq: work.size, recordedAt });
      for (const d of events) drafts.push(d);
      decided.push(w);
      taken.push({ waiting: w, count: events.length });
    }
    if (later.length > 0) this.waiting.unshift(...later);
    const restsOnHead = refused.length > 0 || taken.some((t) => t.count === 0 && t.waiting.emptyRestsOnHead);
    const on = after?.tip;
    let batch: SealedBatch | null = null;
    if (drafts.length > 0) {
      try {
        batch = await this.log.writer.seal(
          drafts,
          { expectedSize: parent.size, recordedAt: now, requests: taken.length },
          on,
        );
      } catch (error) {
        let failure = error;
        if (error instanceof DomainError && error.code === 'LOG_SIZE_CHANGED') {
          // Another process appended: caught up, the group is decided again on its events.
          try {
            await this.projection.catchUp();
            this.again([{ decided, stale }]);
            return null;
          } catch (caught) {
            failure = caught;
          }
        }
        this.fail({ decided, stale }, failure);
        return null;
      }
    }
    return { parent, work, decided, taken, refused, stale, restsOnHead, batch, tip: batch?.next ?? on };
  }

  /**
   * Sends the group's statement, the group before it having landed. A group that refuses, or
   * finds nothing left to do, is sent only if the database's head is still the state it was
   * decided on; if not, it is decided again on the caught-up state.
   */
  private async send(group: Group): Promise<Flight | null> {
    if (group.restsOnHead) {
      let moved: boolean;
      try {
        moved = (await this.log.reader.size()) > group.parent.size;
        if (moved) await this.projection.catchUp();
      } catch (error) {
        this.fail(group, error);
        return null;
      }
      if (moved) {
        this.again([group]);
        return null;
      }
    }
    const committed = group.batch ? this.log.writer.commit(group.batch) : Promise.resolve([]);
    // Awaited by `land` once the next group is decided; a failure before then is not unhandled.
    committed.catch(() => undefined);
    return { group, committed };
  }

  /**
   * Waits for the group's commit and answers its callers ('committed'); or, when it was not
   * written, rejects them with the failure ('failed') or leaves them to be decided again on the
   * caught-up state ('again').
   */
  private async land({ group, committed }: Flight): Promise<'committed' | 'failed' | 'again'> {
    let appended: readonly EventEnvelope[];
    try {
      appended = await committed;
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'LOG_SIZE_CHANGED')) {
        // Nothing was decided.
        this.fail(group, error);
        return 'failed';
      }
      // Another process appended (or the group before this one was not written): catch up and
      // decide the same decisions again, in their order (a refusal may have rested on events of
      // this group that were not written).
      try {
        await this.projection.catchUp();
      } catch (caught) {
        this.fail(group, caught);
        return 'failed';
      }
      return 'again';
    }
    for (const w of group.stale) w.resolve(STALE);
    // Refusals are given only now: one may rest on the events of a decision before it, in this
    // group or the one before, which must be in the log first.
    for (const r of group.refused) r.waiting.reject(r.error);
    // Each event folded once: `work` holds them all, the projection takes it over.
    if (appended.length > 0) this.projection.adopt(group.work, group.parent, appended);
    let at = 0;
    for (const t of group.taken) {
      t.waiting.resolve(appended.slice(at, at + t.count) as EventEnvelope[]);
      at += t.count;
    }
    return 'committed';
  }

  /** Rejects the group's decisions with the failure of its append (STALE ones are sent back). */
  private fail(group: Pick<Group, 'decided' | 'stale'>, error: unknown): void {
    for (const w of group.stale) w.resolve(STALE);
    for (const w of group.decided) w.reject(error);
  }

  /**
   * Queues the groups' decisions first, in order, to be decided again (LOG_BUSY for those that
   * were too often); those prepared on another key set are sent back to be prepared again.
   */
  private again(groups: readonly Pick<Group, 'decided' | 'stale'>[]): void {
    const busy = new InfrastructureError('LOG_BUSY', 'the log kept changing while this was decided; send it again');
    const retry: Waiting[] = [];
    for (const group of groups) {
      for (const w of group.stale) w.resolve(STALE);
      for (const w of group.decided) {
        if (++w.rounds >= MAX_ROUNDS) w.reject(busy);
        else retry.push(w);
      }
    }
    this.waiting.unshift(...retry);
  }
}
