import { Counter } from 'prom-client';
import { HotHistogram, type HotHistogramChild, ProcessMetrics } from '@signet/observe';

/** The API process's metrics: every process's (ProcessMetrics), and its HTTP answers. */
export class Metrics extends ProcessMetrics {
  /** Every request is observed: a histogram whose children count without hashing labels again. */
  readonly requestSeconds = new HotHistogram(
    'signet_http_request_duration_seconds',
    'HTTP request latency by route and status',
    ['method', 'route', 'status'],
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    this.registry,
  );
  readonly refusals = new Counter({
    name: 'signet_refusals_total',
    help: 'Requests refused with an error code (every 4xx answer, and any DomainError), by code',
    labelNames: ['code'],
    registers: [this.registry],
  });

  /** Label-bound histogram children, so a request does not hash its labels again. */
  private readonly requestChildren = new Map<string, HotHistogramChild>();

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requestObserver(method, route, status).observe(seconds);
  }

  /** The request histogram of one method, route and status, for a hot path to keep. */
  requestObserver(method: string, route: string, status: number): HotHistogramChild {
    const key = `${method} ${status} ${route}`;
    let child = this.requestChildren.get(key);
    if (!child) {
      child = this.requestSeconds.child({ method, route, status: String(status) });
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
