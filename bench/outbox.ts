// Outbox lag: from the commit of a key's authorization to the commit of its ADDING announcement
// (AnnouncementPosted on the Atom channel), p50 and p99, with 32 concurrent appenders, on the
// BullMQ queue and on the in-process queue — beside BullMQ's raw end-to-end job latency (add →
// processor) measured in the same run with the same concurrency.
import { Queue, Worker } from 'bullmq';
import { DEFAULT_POLICY, type EventEnvelope, type TrustState } from '@signet/domain';
import { type Workers, redisOptions, startWorkers } from '@signet/jobs';
import { createServices } from '@signet/service';
import { openLog } from '@signet/store';
import { newBackend } from '../test/support/backends.js';
import { keyDrafts } from '../test/support/workers.js';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const APPENDERS = Number(process.env.BENCH_APPENDERS || 32);

function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function outboxLag(queue: 'bullmq' | 'in-process', keys: number): Promise<number[]> {
  const backend = await newBackend('postgres');
  let workers: Workers | null = null;
  const config = {
    ...backend.config,
    redisUrl: REDIS_URL,
    jobs: {
      ...backend.config.jobs,
      pollMs: 250,
      concurrency: 16,
      queue: `signet-bench-${process.pid}-${queue}-${Date.now()}`,
    },
  };
  // As in the server: the dispatcher is woken by this process's commits (and polls for others').
  const log = await openLog(config, {
    init: true,
    policy: { ...DEFAULT_POLICY, rootKeys: [] },
    onBatch: () => workers?.poke(),
  });
  const services = await createServices(log, config, { now: () => new Date() });
  const { projection, sequencer: decider } = services;
  const committed = new Map<number, number>();
  const announced = new Map<number, number>();
  let done: () => void = () => {};
  const all = new Promise<void>((r) => (done = r));
  // The announcement's commit is seen where the sequencer hands its own appends to the projection.
  const seen = (events: readonly EventEnvelope[]) => {
    const at = performance.now();
    for (const e of events) {
      if (e.type === 'AnnouncementPosted' && e.data.channel === 'atom') announced.set(e.data.cause, at);
    }
    if (announced.size >= keys) done();
  };
  const adopt = projection.adopt.bind(projection);
  projection.adopt = (decided: TrustState, events: readonly EventEnvelope[]) => {
    seen(events);
    return adopt(decided, events);
  };
  const apply = projection.apply.bind(projection);
  projection.apply = (events: readonly EventEnvelope[]) => {
    seen(events);
    apply(events);
  };
  workers = await startWorkers({ services, config }, { queue });
  await log.writer.append(keyDrafts(0, 0, true));
  let next = 0;
  await Promise.all(
    Array.from({ length: APPENDERS }, async () => {
      while (next < keys) {
        const i = next++;
        // As the server appends a command's events: decided on the state, through the Decider.
        const appended = await decider.decideByLog(() => keyDrafts(1 + i, 1, false));
        committed.set(appended[appended.length - 1]!.seq, performance.now());
      }
    }),
  );
  await Promise.race([all, new Promise((r) => setTimeout(r, 120_000))]);
  await workers.stop();
  await services.close();
  await log.close();
  await backend.cleanup();
  return [...committed].filter(([seq]) => announced.has(seq)).map(([seq, t]) => announced.get(seq)! - t);
}

/** BullMQ alone: a no-op processor, jobs added by 32 concurrent producers; add() to processor start. */
async function rawBullmq(jobs: number): Promise<number[]> {
  const name = `signet-bench-raw-${process.pid}-${Date.now()}`;
  const queue = new Queue(name, { connection: redisOptions(REDIS_URL) });
  const added = new Map<string, number>();
  const latencies: number[] = [];
  let done: () => void = () => {};
  const all = new Promise<void>((r) => (done = r));
  const worker = new Worker(
    name,
    async (job) => {
      latencies.push(performance.now() - added.get(job.id!)!);
      if (latencies.length >= jobs) done();
    },
    { connection: { ...redisOptions(REDIS_URL), maxRetriesPerRequest: null }, concurrency: 16 },
  );
  await worker.waitUntilReady();
  let next = 0;
  await Promise.all(
    Array.from({ length: APPENDERS }, async () => {
      while (next < jobs) {
        const id = `raw-${next++}`;
        added.set(id, performance.now());
        await queue.add('raw', {}, { jobId: id, removeOnComplete: true });
      }
    }),
  );
  await all;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return latencies;
}

export async function benchOutbox(
  line: (what: string, figure: string, baseline: string, ratio: number, target?: string, label?: string) => void,
  quick: boolean,
): Promise<void> {
  const keys = quick ? 200 : 1000;
  const raw = await rawBullmq(keys);
  const rawP50 = percentile(raw, 50);
  const rawP99 = percentile(raw, 99);
  for (const queue of ['bullmq', 'in-process'] as const) {
    const lags = await outboxLag(queue, keys);
    const p50 = percentile(lags, 50);
    const p99 = percentile(lags, 99);
    const label = `raw BullMQ job (${keys} jobs)`;
    line(
      `outbox lag p50, ${queue} (${lags.length}/${keys} keys, 32 appenders)`,
      `${p50.toFixed(1)} ms`,
      `${rawP50.toFixed(1)} ms`,
      p50 / rawP50,
      undefined,
      label,
    );
    line(`outbox lag p99, ${queue}`, `${p99.toFixed(1)} ms`, `${rawP99.toFixed(1)} ms`, p99 / rawP99, undefined, label);
  }
}
