import { describe, expect, it } from 'vitest';
import { InProcessQueue } from '../src/in-process.js';
import { MAX_JOB_SEQS, jobId, jobsOf, pairKey } from '../src/queue.js';

describe('jobs of a dispatcher round', () => {
  it('one job per consumer, its seqs in order, at most MAX_JOB_SEQS in each', () => {
    const pairs = [
      ...Array.from({ length: MAX_JOB_SEQS + 3 }, (_, i) => ({ consumer: 'announce-atom', seq: 200 - i })),
      { consumer: 'archiver', seq: 7 },
    ];
    const jobs = jobsOf(pairs);
    expect(jobs.map((j) => [j.consumer, j.seqs.length])).toEqual([
      ['announce-atom', MAX_JOB_SEQS],
      ['announce-atom', 3],
      ['archiver', 1],
    ]);
    expect(jobs[0]!.seqs[0]).toBe(200 - MAX_JOB_SEQS - 2);
    expect(jobs[1]!.seqs).toEqual([198, 199, 200]);
  });

  it('ids name the consumer and the seqs: the same jobs get the same id, other seqs another', () => {
    expect(jobId({ consumer: 'archiver', seqs: [7] })).toBe('archiver-7');
    const id = jobId({ consumer: 'announce-atom', seqs: [1, 5, 9] });
    expect(id).toMatch(/^announce-atom-1-9-[0-9a-f]{12}$/);
    expect(jobId({ consumer: 'announce-atom', seqs: [1, 5, 9] })).toBe(id);
    expect(jobId({ consumer: 'announce-atom', seqs: [1, 6, 9] })).not.toBe(id);
    expect(id).not.toContain(':');
  });

  it('the in-process queue holds the pairs of jobs waiting or running, not of those done or failed', async () => {
    const queue = new InProcessQueue(() => ({ attempts: 1, backoffMs: 10, priority: 1 }), 1);
    await queue.enqueue([
      { consumer: 'a', seqs: [1, 2] },
      { consumer: 'b', seqs: [3] },
      { consumer: 'c', seqs: [4] },
    ]);
    expect([...(await queue.holding())].sort()).toEqual(['a/1', 'a/2', 'b/3', 'c/4']);
    let release: () => void = () => {};
    const ran: string[] = [];
    await queue.start(async (job) => {
      ran.push(job.consumer);
      if (job.consumer === 'b') throw new Error('fails for good (one attempt)');
      if (job.consumer === 'c') await new Promise<void>((r) => (release = r));
    }, []);
    await new Promise((r) => setTimeout(r, 20));
    expect(ran).toEqual(['a', 'b', 'c']);
    expect([...(await queue.holding())]).toEqual([pairKey('c', 4)]);
    release();
    await queue.close();
    expect(await queue.holding()).toEqual(new Set());
  });
});
