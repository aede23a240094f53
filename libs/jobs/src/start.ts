import { BullQueue } from './bullmq.js';
import { InProcessQueue } from './in-process.js';
import { type JobQueue, type JobRef, jobId } from './queue.js';
import { Workers, type WorkersContext } from './workers.js';

/**
 * Starts the workers on BullMQ when REDIS_URL is set, otherwise on the in-process queue (the
 * embedded default, complete without Redis).
 */
export async function startWorkers(
  context: WorkersContext,
  options: { queue?: 'bullmq' | 'in-process' } = {},
): Promise<Workers> {
  const { config } = context;
  const kind = options.queue ?? (config.redisUrl ? 'bullmq' : 'in-process');
  let workers: Workers | null = null;
  const retry = (consumer: string) => workers!.retryOf(consumer);
  const onJobError = (job: JobRef | null, error: unknown) =>
    context.onError?.(job ? `job ${jobId(job)}` : 'job queue', error);
  let queue: JobQueue;
  if (kind === 'bullmq') {
    if (!config.redisUrl) throw new Error('REDIS_URL is not set');
    queue = new BullQueue({
      url: config.redisUrl,
      name: config.jobs.queue,
      retry,
      concurrency: config.jobs.concurrency,
      lockMs: config.jobs.lockMs,
      onError: onJobError,
    });
  } else {
    queue = new InProcessQueue(retry, config.jobs.concurrency, onJobError);
  }
  workers = new Workers(context, queue);
  await workers.start();
  return workers;
}
