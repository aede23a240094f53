import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchStats } from '@signet/store';

/** Prometheus metrics of one process, in its own registry. */
@Injectable()
export class Metrics {
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
  readonly outboxPending = new Gauge({
    name: 'signet_outbox_pending_jobs',
    help: 'Jobs dispatched to a consumer and not done yet',
    labelNames: ['consumer'],
    registers: [this.registry],
  });
  readonly outboxLag = new Gauge({
    name: 'signet_outbox_lag_events',
    help: 'Events appended that a consumer has not looked at yet',
    labelNames: ['consumer'],
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: 'signet_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'signet_' });
  }

  /** Label-bound histogram children, so a request does not hash its labels again. */
  private readonly requestChildren = new Map<string, { observe(value: number): void }>();

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let child = this.requestChildren.get(key);
    if (!child) {
      child = this.requestSeconds.labels({ method, route, status: String(status) });
      // Routes are a fixed set (unmatched ones share one label), so this stays small.
      if (this.requestChildren.size < 10_000) this.requestChildren.set(key, child);
    }
    child.observe(seconds);
  }

  recordBatch(stats: BatchStats): void {
    this.appended.inc(stats.events);
    this.batches.inc();
    this.batchSize.observe(stats.events);
    this.batchSeconds.observe(stats.millis / 1000);
    this.treeSize.set(stats.treeSize);
  }
}
