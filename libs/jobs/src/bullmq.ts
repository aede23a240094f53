import { DelayedError, type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import {
  type JobHandler,
  type JobQueue,
  type JobRef,
  PermanentJobError,
  type Periodic,
  type JobPolicy,
  jobId,
  pairKey,
  runPeriodically,
} from './queue.js';

/** ioredis options from a `redis://[user:password@]host:port[/db]` URL. */
export function redisOptions(url: string) {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new Error(`REDIS_URL must be redis:// or rediss://, got ${u.protocol}`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
  };
}

/** A job's data: its consumer and seqs (`seq` alone in jobs an earlier release queued). */
interface JobData {
  readonly consumer?: string;
  readonly seqs?: readonly number[];
  readonly seq?: number;
}

/** The job a queued job's data describes, or null when it is not one of ours. */
function jobOf(data: JobData): JobRef | null {
  const seqs = data.seqs ?? (data.seq === undefined ? undefined : [data.seq]);
  if (typeof data.consumer !== 'string' || !Array.isArray(seqs) || seqs.length === 0) return null;
  if (!seqs.every((s) => Number.isSafeInteger(s))) return null;
  return { consumer: data.consumer, seqs };
}

export interface BullQueueOptions {
  readonly url: string;
  /** Queue name; several logs can share one Redis under different names. */
  readonly name: string;
  readonly retry: (consumer: string) => JobPolicy;
  readonly concurrency: number;
  /** A job whose worker died is run again after about this long. */
  readonly lockMs: number;
  readonly onError?: (job: JobRef | null, error: unknown) => void;
}

/**
 * BullMQ on Redis: one queue, job id `<consumer>-<seq>` (adding an id that exists is a no-op),
 * attempts with exponential backoff, `UnrecoverableError` for bad data, delayed jobs, and a
 * graceful close that lets running jobs finish. Periodic tasks run on this process's timers, not
 * as job schedulers in Redis (see `runPeriodically`).
 */
export class BullQueue implements JobQueue {
  private readonly queue: Queue;
  private worker: Worker | null = null;
  private stopPeriodic: () => void = () => {};

  constructor(private readonly options: BullQueueOptions) {
    // The producer fails fast while Redis is away (the outbox keeps the jobs and sends them again);
    // the worker waits for Redis to come back, as BullMQ requires.
    this.queue = new Queue(options.name, {
      connection: { ...redisOptions(options.url), enableOfflineQueue: false, maxRetriesPerRequest: 1 },
    });
    this.queue.on('error', (error) => options.onError?.(null, error));
  }

  async enqueue(jobs: readonly JobRef[], options: { resend?: boolean } = {}): Promise<void> {
    if (jobs.length === 0) return;
    if (options.resend) {
      for (const job of jobs) {
        const existing = await this.queue.getJob(jobId(job));
        if (!existing) await this.queue.add(job.consumer, job, this.jobOptions(job));
        else if ((await existing.getState()) === 'failed') await existing.retry('failed');
      }
      return;
    }
    await this.queue.addBulk(jobs.map((job) => ({ name: job.consumer, data: job, opts: this.jobOptions(job) })));
  }

  async holding(): Promise<ReadonlySet<string>> {
    const held = new Set<string>();
    const jobs = await this.queue.getJobs(['active', 'waiting', 'prioritized', 'delayed', 'waiting-children']);
    for (const queued of jobs) {
      const job = queued && jobOf(queued.data as JobData);
      if (job) for (const seq of job.seqs) held.add(pairKey(job.consumer, seq));
    }
    return held;
  }

  private jobOptions(job: JobRef) {
    const retry = this.options.retry(job.consumer);
    return {
      jobId: jobId(job),
      attempts: retry.attempts,
      priority: retry.priority,
      backoff: { type: 'exponential' as const, delay: retry.backoffMs },
      // Kept a while after completion so a resend racing with it does not run it again.
      removeOnComplete: { age: 3600, count: 100_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    };
  }

  async start(handler: JobHandler, periodic: readonly Periodic[]): Promise<void> {
    // Job schedulers of earlier releases (the same names) would keep adding jobs no one handles.
    for (const p of periodic) await this.queue.removeJobScheduler(p.name);
    this.worker = new Worker(
      this.options.name,
      async (job: Job<JobData>, token?: string) => {
        const ref = jobOf(job.data);
        if (!ref) throw new UnrecoverableError(`job ${job.id} has no consumer and seqs`);
        const retry = this.options.retry(ref.consumer);
        const number = job.attemptsMade + 1;
        try {
          const result = await handler(ref, { number, of: retry.attempts, final: number >= retry.attempts });
          if (result?.retryInMs !== undefined) {
            await job.moveToDelayed(Date.now() + result.retryInMs, token);
            throw new DelayedError();
          }
        } catch (error) {
          if (error instanceof DelayedError) throw error;
          this.options.onError?.(ref, error);
          if (error instanceof PermanentJobError) throw new UnrecoverableError(error.message);
          throw error;
        }
      },
      {
        connection: { ...redisOptions(this.options.url), maxRetriesPerRequest: null },
        concurrency: this.options.concurrency,
        lockDuration: this.options.lockMs,
        stalledInterval: Math.max(250, Math.floor(this.options.lockMs / 2)),
        maxStalledCount: 10,
      },
    );
    this.worker.on('error', (error) => this.options.onError?.(null, error));
    this.stopPeriodic = runPeriodically(periodic, (_name, error) => this.options.onError?.(null, error));
  }

  /** Redis connected and answering (a count of the queue's jobs within a second), and the worker running. */
  async notReady(): Promise<string | null> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const client = await this.queue.getBackend().client;
      if (client.status !== 'ready') return `Redis not connected (${client.status})`;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 1 s')), 1000);
      });
      await Promise.race([this.queue.count(), timeout]);
    } catch (error) {
      return `Redis unreachable: ${(error as Error).message}`;
    } finally {
      clearTimeout(timer);
    }
    if (this.worker && !this.worker.isRunning()) return 'the BullMQ worker is not running';
    return null;
  }

  async close(): Promise<void> {
    this.stopPeriodic();
    await this.worker?.close();
    await this.queue.close();
  }
}
