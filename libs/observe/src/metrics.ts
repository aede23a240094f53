import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from '@signet/domain';
import type { WorkerObserver } from '@signet/jobs';
import { type BatchStats, type SignetLog, outboxStatus, readCheckedHead } from '@signet/store';
import { type BuildInfo, buildInfo } from './build-info.js';

/**
 * The Prometheus metrics every Signet process has, in its own registry: Node's default metrics
 * under their standard names (process_cpu_seconds_total, nodejs_eventloop_lag_seconds, …),
 * `signet_build_info`, its appends, the log's head and outbox as the database has them (read
 * when scraped), and what its workers did. The API adds its HTTP metrics (apps/api/src/metrics.ts).
 */
export class ProcessMetrics implements WorkerObserver {
  readonly registry = new Registry();

  readonly appended = new Counter({
    name: 'signet_events_appended_total',
    help: 'Events committed to the log by this process',
    registers: [this.registry],
  });
  readonly batches = new Counter({
    name: 'signet_append_batches_total',
    help: 'Append transactions committed by this process',
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'signet_append_batch_size',
    help: 'Events per committed append transaction (group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });
  readonly batchSeconds = new Histogram({
    name: 'signet_append_batch_duration_seconds',
    help: 'Time to commit one append transaction, from start to commit',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly treeSize = new Gauge({
    name: 'signet_tree_size',
    help: 'Leaves in the log at the latest checkpoint',
    registers: [this.registry],
  });
  readonly signedTreeSize = new Gauge({
    name: 'signet_signed_tree_size',
    help: 'Largest tree this log has signed or served (its checkpoint file); the database must never hold less',
    registers: [this.registry],
  });
  readonly checkpointAge = new Gauge({
    name: 'signet_checkpoint_age_seconds',
    help: 'Seconds since the head checkpoint was signed (one is signed per committed batch, so this grows while nothing is appended)',
    registers: [this.registry],
  });
  readonly outboxPending = new Gauge({
    name: 'signet_outbox_pending_jobs',
    help: 'Jobs dispatched to a consumer and not done yet',
    labelNames: ['consumer'],
    registers: [this.registry],
  });
  readonly outboxLag = new Gauge({
    name: 'signet_outbox_lag_events',
    help: 'Events appended that the dispatcher has not yet looked at for a consumer',
    labelNames: ['consumer'],
    registers: [this.registry],
  });
  readonly outboxLagSeconds = new Gauge({
    name: 'signet_outbox_lag_seconds',
    help: 'Age of the oldest event a consumer has not finished with (a pending job, or one not yet looked at); 0 when it is caught up',
    labelNames: ['consumer'],
    registers: [this.registry],
  });
  readonly jobs = new Counter({
    name: 'signet_jobs_total',
    help: 'Jobs run by this process, by consumer and outcome (done, delayed: to look again later, error: thrown, retried by the queue)',
    labelNames: ['consumer', 'outcome'],
    registers: [this.registry],
  });
  readonly jobSeconds = new Histogram({
    name: 'signet_job_duration_seconds',
    help: 'Time to run one job, by consumer',
    labelNames: ['consumer'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
    registers: [this.registry],
  });
  readonly announcementsPosted = new Counter({
    name: 'signet_announcements_posted_total',
    help: 'Announcements this process posted, by channel',
    labelNames: ['channel'],
    registers: [this.registry],
  });
  readonly announcementPostErrors = new Counter({
    name: 'signet_announcement_post_errors_total',
    help: 'Failed tries to post an announcement, by channel (each may be tried again)',
    labelNames: ['channel'],
    registers: [this.registry],
  });
  readonly announcementFailures = new Counter({
    name: 'signet_announcement_failures_total',
    help: 'Announcements this process recorded as failed (AnnouncementFailed: out of tries, or refused for good), by channel',
    labelNames: ['channel'],
    registers: [this.registry],
  });

  /** The head as last read: its age keeps growing while the database cannot be read. */
  private lastHeadAt: Date | null = null;

  constructor(build: BuildInfo = buildInfo()) {
    // No prefix: dashboards and alerts for Node processes expect the standard names.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'signet_build_info',
      help: 'Always 1; the labels say which Signet and which Node this process runs',
      labelNames: ['version', 'node'],
      registers: [this.registry],
    }).set({ version: build.version, node: build.node }, 1);
  }

  recordBatch(stats: BatchStats): void {
    this.appended.inc(stats.events);
    this.batches.inc();
    this.batchSize.observe(stats.events);
    this.batchSeconds.observe(stats.millis / 1000);
    this.treeSize.set(stats.treeSize);
  }

  jobRan(consumer: string, outcome: 'done' | 'delayed' | 'error', seconds: number): void {
    this.jobs.inc({ consumer, outcome });
    this.jobSeconds.observe({ consumer }, seconds);
  }
  announcementPosted(channel: string): void {
    this.announcementsPosted.inc({ channel });
  }
  announcementPostFailed(channel: string): void {
    this.announcementPostErrors.inc({ channel });
  }
  announcementFailed(channel: string): void {
    this.announcementFailures.inc({ channel });
  }

  /**
   * Reads what the database says of the log (head, outbox) into the gauges, before a scrape. A
   * database that cannot be read leaves the last values (the checkpoint's age still grows):
   * a scrape answers with the process's metrics whatever the database does.
   */
  async collectLog(log: SignetLog, clock: Clock): Promise<void> {
    this.signedTreeSize.set(log.watermark.size);
    const now = clock.now().getTime();
    try {
      const head = await readCheckedHead(log.db.db, log.watermark);
      if (head) {
        this.treeSize.set(head.size);
        this.lastHeadAt = head.recordedAt;
      }
      const size = head?.size ?? 0;
      const ages = new Map<number, number>();
      const ageOf = async (seq: number) => {
        if (!ages.has(seq)) {
          const event = await log.reader.event(seq);
          ages.set(seq, event ? Math.max(0, now - Date.parse(event.recordedAt)) / 1000 : 0);
        }
        return ages.get(seq)!;
      };
      for (const c of await outboxStatus(log.db)) {
        this.outboxPending.set({ consumer: c.consumer }, c.pending);
        this.outboxLag.set({ consumer: c.consumer }, Math.max(0, size - c.nextSeq));
        const unfinished = Math.min(
          c.oldestPendingSeq ?? Number.POSITIVE_INFINITY,
          c.nextSeq < size ? c.nextSeq : Number.POSITIVE_INFINITY,
        );
        this.outboxLagSeconds.set({ consumer: c.consumer }, Number.isFinite(unfinished) ? await ageOf(unfinished) : 0);
      }
    } catch {
      // the database is away, or the log unsafe to read: /readyz says so; the values stay as they were
    }
    if (this.lastHeadAt) this.checkpointAge.set(Math.max(0, now - this.lastHeadAt.getTime()) / 1000);
  }

  /** The registry in Prometheus text form, with its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
