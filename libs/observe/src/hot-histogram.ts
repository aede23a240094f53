import type { Registry } from 'prom-client';

/** One label set's counts: per bucket (not cumulative; the last is +Inf), sum and count. */
export interface HotHistogramChild {
  observe(value: number): void;
}

interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram for a hot path (every HTTP request): a child counts an observation with
 * one bucket search and three additions. prom-client's own child converts, validates and hashes
 * its labels again on every `observe` (about 1.5 µs, a tenth of a 304's whole cost). Exposed in
 * the registry exactly as prom-client's histogram writes one: `_bucket{le=…,labels…}` cumulative,
 * `_sum`, `_count`.
 */
export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The child of one label set (made once; keep it). */
  child(labels: Readonly<Record<string, string>>): HotHistogramChild {
    const key = this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    let series = this.series.get(key);
    if (!series) {
      const own: Record<string, string> = {};
      for (const n of this.labelNames) own[n] = labels[n] ?? '';
      series = { labels: own, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.series.set(key, series);
    }
    const s = series;
    const bounds = this.buckets;
    return {
      observe(value: number) {
        let i = 0;
        while (i < bounds.length && value > bounds[i]!) i++;
        s.counts[i]! += 1;
        s.sum += value;
        s.count += 1;
      },
    };
  }

  /** What the registry writes (prom-client's metric interface). */
  async getForPromString(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: {
      labels: Record<string, string | number>;
      sharedLabels?: Record<string, string>;
      value: number;
      metricName: string;
    }[];
  }> {
    const values = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += s.counts[i]!;
        values.push({
          labels: { le: this.buckets[i]! },
          sharedLabels: s.labels,
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({
        labels: { le: '+Inf' },
        sharedLabels: s.labels,
        value: s.count,
        metricName: `${this.name}_bucket`,
      });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The same with the labels merged (prom-client's `get`, used for JSON). */
  async get() {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ labels, sharedLabels, ...rest }) => ({
        ...rest,
        exemplar: rest.metricName.endsWith('_bucket') ? null : undefined,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }

  reset(): void {
    this.series.clear();
  }
}
