import { Counter, Histogram } from 'prom-client';
import { ProcessMetrics } from '@signet/observe';

/** The API process's metrics: every process's (ProcessMetrics), and its HTTP answers. */
export class Metrics extends ProcessMetrics {
  readonly requestSeconds = new Histogram({
    name: 'signet_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly refusals = new Counter({
    name: 'signet_refusals_total',
    help: 'Requests refused with an error code (every 4xx answer, and any DomainError), by code',
    labelNames: ['code'],
    registers: [this.registry],
  });

  /** Label-bound histogram children, so a request does not hash its labels again. */
  private readonly requestChildren = new Map<string, { observe(value: number): void }>();

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requestObserver(method, route, status).observe(seconds);
  }

  /** The request histogram of one method, route and status, for a hot path to keep. */
  requestObserver(method: string, route: string, status: number): { observe(seconds: number): void } {
    const key = `${method} ${status} ${route}`;
    let child = this.requestChildren.get(key);
    if (!child) {
      child = this.requestSeconds.labels({ method, route, status: String(status) });
      // Routes are a fixed set (unmatched ones share one label), so this stays small.
      if (this.requestChildren.size < 10_000) this.requestChildren.set(key, child);
    }
    return child;
  }

  /** Codes are closed sets (apps/api/src/errors.ts), so the label stays small. */
  refused(code: string): void {
    this.refusals.inc({ code });
  }
}
