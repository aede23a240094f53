// The job queue port: the workers see only this. Two adapters: BullMQ on Redis (bullmq.ts) and
// an in-process queue (in-process.ts) for the embedded default. Both give the same guarantees
// because neither is the record of what is pending: the outbox in the database is (dispatcher.ts),
// and each job's outcome can enter the log only once (outcome keys).

import { createHash } from 'node:crypto';

/**
 * One job: a consumer acting on some events of the log, the seqs ascending. The dispatcher hands
 * a consumer what one round found for it in one job (up to `MAX_JOB_SEQS`), so that a burst of
 * events costs a few jobs and a few appends, not a job and an append each.
 */
export interface JobRef {
  readonly consumer: string;
  readonly seqs: readonly number[];
}

/** The most events one job acts on. */
export const MAX_JOB_SEQS = 64;

/**
 * A job's id, from its consumer and its seqs: `<consumer>-<seq>` for one event, else
 * `<consumer>-<first>-<last>-<digest of the seqs>`. The same jobs sent again (a resend, another
 * process's dispatcher) have the same id, which the queue adds once.
 */
export function jobId(job: JobRef): string {
  const { consumer, seqs } = job;
  if (seqs.length === 1) return `${consumer}-${seqs[0]}`;
  const digest = createHash('sha256').update(seqs.join(',')).digest('hex').slice(0, 12);
  return `${consumer}-${seqs[0]}-${seqs[seqs.length - 1]}-${digest}`;
}

/** The jobs for these (consumer, seq) pairs: per consumer in seq order, `MAX_JOB_SEQS` at most in each. */
export function jobsOf(pairs: readonly { readonly consumer: string; readonly seq: number }[]): JobRef[] {
  const byConsumer = new Map<string, number[]>();
  for (const { consumer, seq } of pairs) {
    let seqs = byConsumer.get(consumer);
    if (!seqs) byConsumer.set(consumer, (seqs = []));
    seqs.push(seq);
  }
  const jobs: JobRef[] = [];
  for (const [consumer, seqs] of byConsumer) {
    seqs.sort((a, b) => a - b);
    for (let i = 0; i < seqs.length; i += MAX_JOB_SEQS) jobs.push({ consumer, seqs: seqs.slice(i, i + MAX_JOB_SEQS) });
  }
  return jobs;
}

/** The key of one (consumer, seq) pair in `JobQueue.holding`. */
export function pairKey(consumer: string, seq: number): string {
  return `${consumer}/${seq}`;
}

export interface Attempt {
  /** 1 for the first run. */
  readonly number: number;
  readonly of: number;
  /** The last try: a handler records its failure now rather than throwing. */
  readonly final: boolean;
}

/** What a handler may ask for: to run again after a while (a key still in its waiting period). */
export interface JobResult {
  readonly retryInMs?: number;
}

export type JobHandler = (job: JobRef, attempt: Attempt) => Promise<JobResult | void>;

/** A periodic task: run by every worker process on a timer of its own (`runPeriodically`). */
export interface Periodic {
  readonly name: string;
  readonly everyMs: number;
  readonly run: () => Promise<void>;
}

/**
 * Runs each task every `everyMs` in this process, never two runs of one at once; returns what
 * stops them. Not a schedule kept in the queue: the activation sweep is what catches a delayed
 * job the queue lost, so it must not be lost with it (a Redis restarted empty loses its job
 * schedulers too, and nothing would sweep again until a worker restarted). Several processes
 * sweeping is harmless: an outcome can enter the log once.
 */
export function runPeriodically(
  periodic: readonly Periodic[],
  onError: (name: string, error: unknown) => void = () => {},
): () => void {
  const timers = periodic.map((p) => {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      p.run()
        .catch((error) => onError(p.name, error))
        .finally(() => (busy = false));
    }, p.everyMs);
    timer.unref();
    return timer;
  });
  return () => {
    for (const t of timers) clearInterval(t);
  };
}

/** A consumer's jobs: how many tries, the first backoff (doubled each time), and the priority. */
export interface JobPolicy {
  readonly attempts: number;
  readonly backoffMs: number;
  /** 1 runs first (announcements), larger numbers after (BullMQ's convention). */
  readonly priority: number;
}

/** Thrown by a handler for bad data: retrying cannot help (BullMQ's UnrecoverableError). */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError';
}

export interface JobQueue {
  /**
   * Adds jobs. A job whose id is already in the queue (waiting, delayed, running, or kept after
   * completion) is not added again; with `resend`, one that failed for good is retried.
   */
  enqueue(jobs: readonly JobRef[], options?: { resend?: boolean }): Promise<void>;
  /**
   * The (consumer, seq) pairs (`pairKey`) of the jobs the queue holds waiting, delayed or
   * running: a resend leaves those out, so that a job still waiting its turn is not run twice.
   */
  holding(): Promise<ReadonlySet<string>>;
  /** Starts processing. */
  start(handler: JobHandler, periodic: readonly Periodic[]): Promise<void>;
  /** Lets running jobs finish, then stops. */
  close(): Promise<void>;
  /** What keeps the queue from taking jobs now (its server unreachable), or null when it can. */
  notReady(): Promise<string | null>;
}

/** Exponential backoff: base, 2·base, 4·base … */
export function backoffDelay(policy: JobPolicy, failedAttempts: number): number {
  return policy.backoffMs * 2 ** Math.max(0, failedAttempts - 1);
}
