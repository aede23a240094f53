import {
  type EventEnvelope,
  type TrustState,
  announcementFor,
  continuityAlerts,
  decideActivation,
  decideAnnouncementFailed,
  decideAnnouncementPosted,
  decideArchiveSnapshot,
  dueActivations,
  keyListing,
  ACTIVATION_CAUSES,
  ANNOUNCEMENT_CAUSES,
  CONTINUITY_CAUSES,
  LISTING_CHANGES,
  listingChanged,
  outcomeKey,
  rawListing,
  renderTime,
} from '@signet/domain';
import { renderKeyPage, renderListingPage } from '@signet/render';
import { ArchiveStore, type SignetServices } from '@signet/service';
import type { SignetConfig } from '@signet/store';
import { type Channel, atomChannel, mastodonChannel, webhookChannel } from './channels.js';
import { type ConsumerStatus, OutboxDispatcher, type Subscription } from './dispatcher.js';
import {
  type Attempt,
  type JobQueue,
  type JobRef,
  type JobResult,
  PermanentJobError,
  type JobPolicy,
} from './queue.js';

/** A consumer of the log: the event types it wants, and what it does for some of them (a job's seqs). */
interface Consumer extends Subscription {
  readonly retry: JobPolicy;
  handle(seqs: readonly number[], attempt: Attempt): Promise<JobResult | void>;
}

/** What the workers report as they go, for the process to count (its Prometheus metrics). */
export interface WorkerObserver {
  /**
   * A job ran (one job acts on the events one round of the dispatcher found for its consumer):
   * `done` (its outcomes recorded, or nothing to do), `delayed` (to look again later: a key in its
   * waiting period) or `error` (thrown: the queue retries it, or fails it for good).
   */
  jobRan(consumer: string, outcome: 'done' | 'delayed' | 'error', seconds: number): void;
  /** An announcement was posted on a channel. */
  announcementPosted(channel: string): void;
  /** A try to post on a channel failed; it may be tried again. */
  announcementPostFailed(channel: string): void;
  /** This process recorded an announcement as failed (AnnouncementFailed): out of tries, or refused for good. */
  announcementFailed(channel: string): void;
}

export interface WorkersContext {
  /** The log, its projection and its one sequencer, which workers' outcomes go through like commands. */
  readonly services: SignetServices;
  readonly config: SignetConfig;
  readonly onError?: (what: string, error: unknown) => void;
  readonly observer?: WorkerObserver;
}

/** The channels the configuration turns on: the Atom feed always. */
export function channelsFrom(config: SignetConfig): Channel[] {
  const channels = [atomChannel(config.publicUrl)];
  if (config.announce.webhookUrl)
    channels.push(webhookChannel(config.announce.webhookUrl, config.announce.webhookSecret));
  if (config.announce.mastodonUrl && config.announce.mastodonToken)
    channels.push(mastodonChannel(config.announce.mastodonUrl, config.announce.mastodonToken));
  return channels;
}

/**
 * The listing documents of a state, rendered as the log's time at that size shows them: the
 * listing, raw.txt, and the page of every listed key that may have changed since the latest
 * snapshot (an event about it, or about members, since then; or never archived).
 */
export function renderArchive(state: TrustState) {
  const now = renderTime(state);
  const listing = renderListingPage(state, now);
  const raw = rawListing(state, now);
  const { active, removed } = keyListing(state, now);
  const since = state.archive?.treeSize ?? 0;
  const everyKey = state.lastMemberChange >= since;
  const changed = [...active, ...removed].filter((k) => {
    if (everyKey || !state.archive?.keys[k.fingerprint]) return true;
    const last = state.signingKeys.get(k.fingerprint)!.history.last();
    return last !== undefined && last >= since;
  });
  const pages = Object.fromEntries(changed.map((k) => [k.fingerprint, renderKeyPage(state, k.fingerprint, now)!]));
  return { listing, raw, pages };
}

/**
 * The workers: the announcer (one consumer per channel), the archiver, the activation scheduler
 * and the continuity monitor, fed by the outbox dispatcher through a job queue. Each acts on the
 * trust state and records its outcomes through the sequencer, as the log's own decisions: a job
 * acts on all the events a round of the dispatcher found for it, and its outcomes, decided
 * together, go into one append.
 */
export class Workers {
  readonly dispatcher: OutboxDispatcher;
  private readonly consumers: Map<string, Consumer>;
  private archiving: Promise<void> = Promise.resolve();

  constructor(
    private readonly context: WorkersContext,
    private readonly queue: JobQueue,
  ) {
    const { config } = context;
    // Announcements first: the waiting period counts from them. Archiving last: one snapshot
    // shows every change before it, so a backlog of archive jobs mostly finds its work done.
    const policy = (priority: number, attempts = 10): JobPolicy => ({
      attempts,
      backoffMs: config.jobs.retryBaseMs,
      priority,
    });
    const consumers: Consumer[] = [
      ...channelsFrom(config).map((channel) => this.announcer(channel, policy(1, config.announce.attempts))),
      {
        name: 'continuity',
        types: CONTINUITY_CAUSES,
        retry: policy(2),
        handle: async () => void (await context.services.sequencer.decideByLog((state) => continuityAlerts(state))),
      },
      { name: 'activator', types: ACTIVATION_CAUSES, retry: policy(3), handle: (seqs) => this.activate(seqs) },
      { name: 'archiver', types: LISTING_CHANGES, retry: policy(4), handle: (seqs) => this.archiveSnapshot(seqs) },
    ];
    this.consumers = new Map(consumers.map((c) => [c.name, c]));
    this.dispatcher = new OutboxDispatcher({
      db: context.services.log.db,
      queue,
      consumers,
      pollMs: config.jobs.pollMs,
      resendAfterMs: config.jobs.sweepMs,
      recent: (seq) => context.services.projection.recent(seq),
      onError: (error) => context.onError?.('outbox dispatcher', error),
    });
  }

  /** The retry policy of a consumer (for the queue). */
  retryOf(consumer: string): JobPolicy {
    return (
      this.consumers.get(consumer)?.retry ?? {
        attempts: 10,
        backoffMs: this.context.config.jobs.retryBaseMs,
        priority: 5,
      }
    );
  }

  async start(): Promise<void> {
    await this.queue.start(
      (job, attempt) => this.run(job, attempt),
      [
        // Catches an activation whose delayed job was lost (or a clock that jumped).
        { name: 'activation-sweep', everyMs: this.context.config.jobs.sweepMs, run: () => this.sweepActivations() },
      ],
    );
    await this.dispatcher.start();
  }

  /** Stops dispatching, lets running jobs finish, closes the queue. */
  async stop(): Promise<void> {
    await this.dispatcher.stop();
    await this.queue.close();
  }

  /** Wake the dispatcher: this process appended. */
  poke(): void {
    this.dispatcher.poke();
  }

  status(): Promise<ConsumerStatus[]> {
    return this.dispatcher.status();
  }

  /** What keeps the queue from taking jobs now, or null. */
  notReady(): Promise<string | null> {
    return this.queue.notReady();
  }

  async sweepActivations(): Promise<void> {
    await this.context.services.sequencer.decideByLog((state, now) => dueActivations(state, now));
  }

  private async run(job: JobRef, attempt: Attempt): Promise<JobResult | void> {
    const started = performance.now();
    let outcome: 'done' | 'delayed' | 'error' = 'error';
    try {
      const consumer = this.consumers.get(job.consumer);
      // A consumer no longer configured (a channel turned off): nothing to do.
      const result = consumer ? await consumer.handle(job.seqs, attempt) : undefined;
      // Done, or scheduled to look again (a key in its waiting period): should that delayed job be
      // lost, the activation sweep catches the key.
      await this.dispatcher.done(job);
      outcome = result?.retryInMs === undefined ? 'done' : 'delayed';
      return result;
    } finally {
      this.context.observer?.jobRan(job.consumer, outcome, (performance.now() - started) / 1000);
    }
  }

  /** The event a job is about: handed over by the projection when it folded it lately, else read from the log. */
  private async event(seq: number) {
    const { projection, log } = this.context.services;
    const event = projection.recent(seq) ?? (await log.reader.event(seq));
    if (!event) throw new PermanentJobError(`the log has no event ${seq}`);
    return event;
  }

  private announcer(channel: Channel, retry: JobPolicy): Consumer {
    const { sequencer: decider, projection } = this.context.services;
    const observer = this.context.observer;
    return {
      name: `announce-${channel.name}`,
      types: ANNOUNCEMENT_CAUSES,
      retry,
      // Posted in log order, each post recorded as soon as it is made: the records of one job
      // queue up together in the sequencer and are appended as one group. A post that fails
      // does not hold up the others; the job is then tried again for what is left.
      handle: async (seqs, attempt) => {
        // The state must hold the events; for a post that leaves the process, the head's state.
        const held = projection.state.size > seqs[seqs.length - 1]!;
        const state = held && !channel.external ? projection.state : await projection.catchUp();
        const recording: Promise<unknown>[] = [];
        let again: unknown = null;
        for (const seq of seqs) {
          if (state.outcomes.has(outcomeKey('AnnouncementPosted', { channel: channel.name, cause: seq })!)) continue;
          let event: EventEnvelope;
          try {
            event = await this.event(seq);
          } catch (error) {
            again ??= error;
            continue;
          }
          const announcement = announcementFor(state, event);
          if (!announcement) continue;
          let url: string;
          try {
            url = await channel.post(announcement, { seq, origin: state.origin, recordedAt: event.recordedAt });
          } catch (error) {
            observer?.announcementPostFailed(channel.name);
            if (!attempt.final && !(error instanceof PermanentJobError)) {
              again ??= error;
              continue;
            }
            // Out of tries, or refused for good: the failure is the outcome, and other work goes on.
            const failed = (error as Error).message;
            recording.push(
              decider
                .decideByLog((s) =>
                  decideAnnouncementFailed(s, channel.name, seq, announcement, failed, attempt.number),
                )
                .then((recorded) => recorded.length > 0 && observer?.announcementFailed(channel.name)),
            );
            continue;
          }
          observer?.announcementPosted(channel.name);
          recording.push(decider.decideByLog((s) => decideAnnouncementPosted(s, channel.name, seq, announcement, url)));
        }
        await Promise.all(recording);
        if (again) throw again;
      },
    };
  }

  /** The keys the events are about, each activated if due (decided together: one append). */
  private async activate(seqs: readonly number[]): Promise<JobResult | void> {
    const { sequencer: decider, projection, clock } = this.context.services;
    const fprs = new Set<string>();
    for (const seq of seqs) {
      const event = await this.event(seq);
      if ('fingerprint' in event.data) fprs.add(event.data.fingerprint);
    }
    if (fprs.size === 0) return;
    await projection.catchUp();
    await Promise.all(
      [...fprs].map((fpr) => decider.decideByLog((state, now) => decideActivation(state, fpr, now).events)),
    );
    // Some still in their waiting period: look again when the first ends (the sweep also catches them).
    const now = clock.now().getTime();
    const waits = [...fprs].flatMap((fpr) => decideActivation(projection.state, fpr, clock.now()).retryAt ?? []);
    if (waits.length > 0) return { retryInMs: Math.max(0, Math.min(...waits.map((at) => Date.parse(at) - now))) };
  }

  /**
   * One snapshot at a time in this process: the archive jobs of a burst wait for the one
   * running, and the first to go after it shows every change up to the head, so the others find
   * their events shown (rather than each rendering and storing the listing beside the others).
   */
  private archiveSnapshot(seqs: readonly number[]): Promise<void> {
    const run = this.archiving.then(() => this.snapshot(seqs));
    this.archiving = run.catch(() => undefined);
    return run;
  }

  /** One snapshot for the job's events, answering the last of them (it shows every change up to the head). */
  private async snapshot(seqs: readonly number[]): Promise<void> {
    const { sequencer: decider, projection, archive } = this.context.services;
    const { config } = this.context;
    const state = await projection.catchUp();
    const seq = seqs[seqs.length - 1]!;
    // A snapshot taken since the events already shows them.
    if (
      state.outcomes.has(outcomeKey('ArchiveSnapshotTaken', { cause: seq })!) ||
      (state.archive && state.archive.treeSize > seq)
    )
      return;
    const docs = renderArchive(state);
    const rendered = {
      treeSize: state.size,
      listing: ArchiveStore.hash(docs.listing),
      raw: ArchiveStore.hash(docs.raw),
      keys: Object.fromEntries(Object.entries(docs.pages).map(([fpr, page]) => [fpr, ArchiveStore.hash(page)])),
    };
    if (!listingChanged(state, rendered)) return;
    // Stored before the snapshot is recorded: a store that fails fails the job, which is tried again.
    for (const doc of [docs.listing, docs.raw, ...Object.values(docs.pages)]) await archive.put(doc);
    const triggers = await Promise.all(
      config.archive.triggers.map((template) => this.trigger(template, rendered.listing)),
    );
    await decider.decideByLog((s) => decideArchiveSnapshot(s, seq, rendered, triggers));
  }

  /** Calls an external archive trigger (e.g. a web archive's save URL); the result is recorded, never fatal. */
  private async trigger(template: string, listingSha256: string) {
    const base = this.context.config.publicUrl;
    const url = template
      .replaceAll('{url}', `${base}/`)
      .replaceAll('{archive}', `${base}/archive/${listingSha256}`)
      .replaceAll('{sha256}', listingSha256);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
      await response.arrayBuffer().catch(() => undefined);
      return { url, ok: response.ok, status: response.status, error: response.ok ? null : `HTTP ${response.status}` };
    } catch (error) {
      return { url, ok: false, status: null, error: (error as Error).message.slice(0, 200) };
    }
  }
}
