import { describe, expect, it } from 'vitest';
import { Histogram, Registry } from 'prom-client';
import { HotHistogram, ProcessMetrics, buildInfo } from '@signet/observe';

describe('the metrics every process has', () => {
  it("Node's default metrics under their standard names, and signet_build_info", async () => {
    const metrics = new ProcessMetrics({ version: '1.2.3', node: 'v20.0.0' });
    const { body, contentType } = await metrics.scrape();
    expect(contentType).toMatch(/^text\/plain/);
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_version_info',
    ])
      expect(body).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    expect(body).not.toMatch(/^# TYPE signet_(process|nodejs)_/m);
    expect(body).toMatch(/^signet_build_info\{version="1\.2\.3",node="v20\.0\.0"\} 1$/m);
    expect(buildInfo()).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), node: process.version });
  });

  it('what the workers report: jobs, posts, failed tries and failed announcements', async () => {
    const metrics = new ProcessMetrics();
    metrics.jobRan('archiver', 'done', 0.01);
    metrics.jobRan('announce-webhook', 'error', 0.2);
    metrics.announcementPostFailed('webhook');
    metrics.announcementFailed('webhook');
    metrics.announcementPosted('atom');
    const { body } = await metrics.scrape();
    expect(body).toMatch(/^signet_jobs_total\{consumer="archiver",outcome="done"\} 1$/m);
    expect(body).toMatch(/^signet_jobs_total\{consumer="announce-webhook",outcome="error"\} 1$/m);
    expect(body).toMatch(/^signet_job_duration_seconds_count\{consumer="archiver"\} 1$/m);
    expect(body).toMatch(/^signet_announcement_post_errors_total\{channel="webhook"\} 1$/m);
    expect(body).toMatch(/^signet_announcement_failures_total\{channel="webhook"\} 1$/m);
    expect(body).toMatch(/^signet_announcements_posted_total\{channel="atom"\} 1$/m);
    // Prometheus conventions: counters end in _total, units in the name.
    for (const [, name, type] of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      if (type === 'counter') expect(name).toMatch(/_total$/);
      if (name!.startsWith('signet_') && type !== 'counter') expect(name).not.toMatch(/_total$/);
    }
  });
});

describe('HotHistogram', () => {
  it("writes exactly what prom-client's histogram writes for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const buckets = [0.001, 0.01, 0.1, 1];
    const hot = new HotHistogram('x_seconds', 'help text', ['method', 'route', 'status'], buckets, ours);
    const reference = new Histogram({
      name: 'x_seconds',
      help: 'help text',
      labelNames: ['method', 'route', 'status'],
      buckets,
      registers: [theirs],
    });
    const observations: [Record<string, string>, number][] = [
      [{ method: 'GET', route: '/a', status: '200' }, 0.0005],
      [{ method: 'GET', route: '/a', status: '200' }, 0.001],
      [{ method: 'GET', route: '/a', status: '200' }, 0.05],
      [{ method: 'POST', route: '/b "q"', status: '400' }, 2],
      [{ method: 'GET', route: '/a', status: '304' }, 0.1],
    ];
    for (const [labels, value] of observations) {
      hot.child(labels).observe(value);
      reference.labels(labels).observe(value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
    hot.reset();
    expect(await ours.metrics()).toBe('# HELP x_seconds help text\n# TYPE x_seconds histogram\n');
  });
});
