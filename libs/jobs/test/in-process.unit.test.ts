import { describe, expect, it } from 'vitest';
import { InProcessQueue } from '../src/in-process.js';
import type { JobRef } from '../src/queue.js';

describe('the in-process queue', () => {
  it('runs ready jobs by priority, and in the order they came within one priority, through a backlog', async () => {
    const priority: Record<string, number> = { announce: 1, activate: 3, archive: 4 };
    const queue = new InProcessQueue((consumer) => ({ attempts: 1, backoffMs: 10, priority: priority[consumer]! }), 1);
    const jobs: JobRef[] = [];
    for (let seq = 0; seq < 3000; seq++)
      jobs.push({ consumer: ['archive', 'announce', 'activate'][seq % 3]!, seqs: [seq] });
    await queue.enqueue(jobs);
    const ran: JobRef[] = [];
    const all = new Promise<void>((resolve) =>
      queue.start(async (job) => {
        ran.push(job);
        if (ran.length === jobs.length) resolve();
      }, []),
    );
    await all;
    await queue.close();
    const expected = ['announce', 'activate', 'archive'].flatMap((c) => jobs.filter((j) => j.consumer === c));
    expect(ran).toEqual(expected);
  });
});
