import {
  type Clock,
  DomainError,
  type EventDraft,
  type EventEnvelope,
  InfrastructureError,
  type PreparedEvent,
  type TrustState,
  cloneForDecision,
  evolve,
  placeEvent,
  prepareEvent,
  rebaseDecision,
} from '@signet/domain';
import type { SignetLog } from '@signet/store';
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
}

/** A group decided and sent, while its append is in flight. */
interface Sent {
  /** The state its events leave: the next group is decided on a copy of it. */
  readonly work: TrustState;
  /** The head its append makes (the writer's `sentHead`), when it was sent at once: a group goes behind it only then. */
  readonly head: object | null;
  /**
   * Settles once the group is answered; true when its events are in the log and the projection
   * adopted `work`, so that the group sent behind it can be adopted in turn. Never rejects.
   */
  readonly settled: Promise<boolean>;
}

/** A decision taken into a group, and how many of the group's events are its own. */
interface Taken {
  readonly waiting: Waiting;
  readonly count: number;
}

/** A decision's events folded into the group's state, so that the decisions after it see them. */
function foldDecision(work: TrustState, decided: readonly EventDraft[], nowIso: string): void {
  for (const d of decided) evolve(work, placeEvent(d, work.size, nowIso));
}

/** Each decision of a group answered with its own events, in the group's order. */
function answer(taken: readonly Taken[], appended: readonly EventEnvelope[]): void {
  let at = 0;
  for (const t of taken) {
    t.waiting.resolve(appended.slice(at, at + t.count));
    at += t.count;
  }
}

function tooLarge(events: number, limit: number): DomainError {
  return new DomainError(
    'BATCH_TOO_LARGE',
    `this would append ${events} events at once; the log takes at most ${limit} in one transaction (SIGNET_MAX_BATCH)`,
  );
}

/** Decisions taken together and appended as one transaction. */
const MAX_GROUP = 256;
/** Rounds of catching up with another process's appends before a group is given up (LOG_BUSY). */
const MAX_ROUNDS = 20;

/**
 * The log's one sequencer (as Sunlight's pool → sequencePool, or Tessera's queue and flush).
 * Decisions arrive already verified (signatures are checked on worker threads before they queue);
 * whatever arrived while the previous append was in flight forms the next group: each decided in
 * turn on one state, all their events appended in one transaction (events, tree nodes and the
 * signed checkpoint: LogWriter.append); the state they were folded into becomes the projection's.
 *
 * Another process may append too (several API processes, a worker). Its events reach this state
 * only by reading the log, so a group decided on a stale state is never written (the append
 * expects the size decided on), and a refusal is only given on a state caught up to the
 * database's head: a member added through another process is known here before anyone is told
 * "unknown signer".
 *
 * On Postgres a group whose every decision appends something is decided on the state the group
 * still being written will leave and sent right behind it (`sendBehind`): written only on the
 * exact head that group makes, or decided again once it settled (`settle`).
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
      this.waiting.push({ ...decision, resolve, reject });
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
    // The group whose append is in flight. On Postgres the next group is decided on the state it
    // leaves and sent behind it: the database writes one group while this thread makes the next.
    let front: Sent | null = null;
    while (this.waiting.length > 0) {
      // With nothing in flight, half of those waiting go first and the rest right behind them, so
      // that callers answered by one group make the group after the next while it is written.
      const pipelined = this.log.writer.pipelined;
      const take: number = pipelined && !front ? Math.ceil(this.waiting.length / 2) : this.waiting.length;
      const group: Waiting[] = this.waiting.splice(0, Math.min(take, MAX_GROUP));
      let sent: Sent | null = null;
      try {
        if (pipelined) sent = this.sendBehind(group, front);
      } catch {
        sent = null; // not sent: sequenced as usual below
      }
      if (front) await front.settled;
      front = sent;
      if (!sent) {
        try {
          await this.sequence(group);
        } catch (error) {
          for (const w of group) w.reject(error);
        }
      }
      // Callers whose decision just resolved queue their next one in this turn of the event
      // loop: let them, so that they join the next group rather than wait for the one after.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (front) await front.settled;
  }

  /**
   * Decides `group` on the state `front` leaves (the projection's when none is in flight) and
   * sends its events, without waiting for `front` to be written. Only a group whose every decision
   * appends something: null for one that refuses, finds nothing to do, was prepared against
   * another key set or would not fit one append, whose answer rests on the database's head; it
   * is sequenced as usual once `front` settled.
   */
  private sendBehind(group: Waiting[], front: Sent | null): Sent | null {
    // Behind a group only right behind its append, on the head that append makes.
    if (front && (front.head === null || front.head !== this.log.writer.sentHead)) return null;
    const base = front ? front.work : this.projection.state;
    const work = cloneForDecision(base);
    const now = this.decisionTime(base);
    const nowIso = now.toISOString();
    const limit = this.log.writer.maxEvents;
    const events: PreparedEvent[] = [];
    const taken: Taken[] = [];
    try {
      for (const w of group) {
        if (w.keysVersion !== null && w.keysVersion !== work.keysVersion) return null;
        const decided = w.decide(work, now);
        if (decided.length === 0 || events.length + decided.length > limit) return null;
        const prepared = decided.map(prepareEvent);
        foldDecision(work, decided, nowIso);
        events.push(...prepared);
        taken.push({ waiting: w, count: decided.length });
      }
    } catch {
      // A refusal, an event too large, or events that do not fold (CORRUPT_LOG): given by
      // `sequence`, on the head.
      return null;
    }
    const before = this.log.writer.sentHead;
    const appending = this.log.writer.appendPrepared(events, {
      expectedSize: base.size,
      recordedAt: now,
      requests: group.length,
      behind: front?.head ?? undefined,
    });
    // The head this group's append makes, if it was sent at once: a new one. (An append refused
    // before any statement, an event too large say, leaves the writer's as it was.)
    const after = this.log.writer.sentHead;
    const head = after !== before ? after : null;
    const settled = this.settle(taken, work, appending, front).catch((error: unknown) => {
      for (const w of group) w.reject(error);
      return false;
    });
    return { work, head, settled };
  }

  /** Answers a group sent behind `front`, after `front` is answered: the log's order. */
  private async settle(
    taken: readonly Taken[],
    work: TrustState,
    appending: Promise<EventEnvelope[]>,
    front: Sent | null,
  ): Promise<boolean> {
    let appended: EventEnvelope[] | null = null;
    let failure: unknown = null;
    try {
      appended = await appending;
    } catch (error) {
      failure = error;
    }
    const frontAdopted = front ? await front.settled : true;
    if (!appended) {
      if (!(failure instanceof DomainError && failure.code === 'LOG_SIZE_CHANGED')) throw failure;
      // Not written on the state it was decided on (the group before failed, or another process
      // appended): decided again, as usual, on the database's head.
      await this.sequence(taken.map((t) => t.waiting));
      return false;
    }
    // In the log, so the group before it is too. Its state is taken over when the projection
    // took over the state of that group (otherwise its events are folded in).
    let adopted = false;
    if (frontAdopted) {
      if (front) rebaseDecision(work, this.projection.state);
      adopted = this.projection.adopt(work, appended);
    } else {
      this.projection.apply(appended);
    }
    answer(taken, appended);
    return adopted;
  }

  /**
   * The time a group is decided at: the time its events will carry, never before the log's last
   * event, so that replaying the log with recordedAt as the clock reaches the same decisions.
   */
  private decisionTime(state: TrustState): Date {
    return new Date(Math.max(this.clock.now().getTime(), state.lastRecordedAt ? Date.parse(state.lastRecordedAt) : 0));
  }

  /** Decides `group` on the head's state and appends its events; again on a newer state if the log moved. */
  private async sequence(group: Waiting[]): Promise<void> {
    let pending = group;
    for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
      const state = this.projection.state;
      const base = state.size;
      const work = cloneForDecision(state);
      const now = this.decisionTime(state);
      const nowIso = now.toISOString();
      const events: PreparedEvent[] = [];
      const taken: Taken[] = [];
      const refused: { waiting: Waiting; error: unknown }[] = [];
      const limit = this.log.writer.maxEvents;
      const later: Waiting[] = [];
      const stale = new Set<Waiting>();
      for (const w of pending) {
        // Prepared against another key set than the one it would be decided on (a decision
        // before it in this group may have added a key): sent back to be prepared again.
        if (w.keysVersion !== null && w.keysVersion !== work.keysVersion) {
          w.resolve(STALE);
          stale.add(w);
          continue;
        }
        if (events.length >= limit) {
          later.push(w);
          continue;
        }
        let decided: EventDraft[];
        let prepared: PreparedEvent[];
        try {
          decided = w.decide(work, now);
          // Checked and encoded here, so that an event too large (EVENT_TOO_LARGE) refuses its
          // decision alone, not the group it would have been appended with.
          prepared = decided.map(prepareEvent);
        } catch (error) {
          refused.push({ waiting: w, error });
          continue;
        }
        if (decided.length > limit) {
          // More than one transaction takes: refused alone, not with the group around it.
          refused.push({ waiting: w, error: tooLarge(decided.length, limit) });
          continue;
        }
        if (events.length + decided.length > limit) {
          later.push(w); // decided again in the next round, on the state this round leaves
          continue;
        }
        foldDecision(work, decided, nowIso);
        events.push(...prepared);
        taken.push({ waiting: w, count: decided.length });
      }
      // A refusal, or a decision of the log's that nothing is left to do, rests on the
      // database's head: if another process appended, decide again on it.
      const restsOnHead = refused.length > 0 || taken.some((t) => t.count === 0 && t.waiting.emptyRestsOnHead);
      if (restsOnHead && (await this.log.reader.size()) > base) {
        await this.projection.catchUp();
        pending = pending.filter((w) => !stale.has(w));
        continue;
      }
      if (events.length === 0) {
        for (const r of refused) r.waiting.reject(r.error);
        for (const t of taken) t.waiting.resolve([]);
        pending = later;
        continue;
      }
      let appended: EventEnvelope[];
      try {
        appended = await this.log.writer.appendPrepared(events, {
          expectedSize: base,
          recordedAt: now,
          requests: taken.length,
        });
      } catch (error) {
        if (!(error instanceof DomainError && error.code === 'LOG_SIZE_CHANGED')) throw error;
        // Another process appended: catch up and decide the same group again, in its order
        // (a refusal may have rested on events of this group that were not written).
        await this.projection.catchUp();
        pending = pending.filter((w) => !stale.has(w));
        continue;
      }
      // Refusals are given only now: one may rest on the events of a decision before it in this
      // group, which must be in the log first. (On any other failure of the append, `drain`
      // rejects the whole group with that failure: nothing was decided.)
      for (const r of refused) r.waiting.reject(r.error);
      // Each event folded once: `work` holds them all, the projection takes it over.
      this.projection.adopt(work, appended);
      answer(taken, appended);
      pending = later;
      round = -1; // a round that appended is progress, not contention
    }
    if (pending.length > 0) {
      const busy = new InfrastructureError('LOG_BUSY', 'the log kept changing while this was decided; send it again');
      for (const w of pending) w.reject(busy);
    }
  }
}
