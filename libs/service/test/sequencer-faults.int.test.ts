import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DomainError,
  type EventDraft,
  InfrastructureError,
  ManualClock,
  type TrustState,
  outcomeKey,
} from '@signet/domain';
import { VerifyPool, readPublicKey } from '@signet/pgp';
import { STALE, type SignetServices, createServices } from '@signet/service';
import { type SignetLog, openLog } from '@signet/store';
import { type Backend, newBackend } from '../../../test/support/backends.js';
import { inertDraft } from '../../../test/support/drafts.js';

// The sequencer when an append fails, when a decision is larger than a transaction, and when
// the key set moves under a decision; the pipeline (a group decided and sealed on the state of
// the one being appended) when that one is written, refused, or not written; the verification
// threads when one dies and at close.

describe('the sequencer under faults (PGlite)', () => {
  let backend: Backend;
  let log: SignetLog;
  let services: SignetServices;
  let n = 1000;

  beforeAll(async () => {
    backend = await newBackend('pglite', { maxBatch: 3 });
    log = await openLog(backend.config, { init: true, inMemory: true, clock: new ManualClock('2026-03-01T00:00:00Z') });
    services = await createServices(log, backend.config, new ManualClock('2026-03-01T00:00:00Z'));
  });

  afterAll(async () => {
    await services.close();
    await log.close();
    await backend.cleanup();
  });

  const events = (count: number): EventDraft[] =>
    Array.from({ length: count }, () => inertDraft(n++, { actor: 'test' }));

  it('gives no refusal that rests on a decision whose append failed', async () => {
    const { sequencer, projection } = services;
    const base = projection.state.size;
    // B is refused only once A's event is in the state it is decided on.
    const b = () => (state: { size: number }) => {
      if (state.size > base) throw new DomainError('NO_CHANGE', 'A came first');
      return events(1);
    };
    const commit = log.writer.commit.bind(log.writer);
    let failures = 1;
    log.writer.commit = (batch) => {
      if (failures-- > 0)
        return Promise.reject(new InfrastructureError('DATABASE_UNAVAILABLE', 'test: the database went away', 2));
      return commit(batch);
    };
    try {
      // One group on PGlite (nothing to overlap there): its append fails, B is not refused on A.
      const first = await Promise.allSettled([
        sequencer.decide({ decide: () => events(1), keysVersion: null }),
        sequencer.decide({ decide: b(), keysVersion: null }),
      ]);
      expect(first.map((r) => (r as PromiseRejectedResult).reason?.code)).toEqual([
        'DATABASE_UNAVAILABLE',
        'DATABASE_UNAVAILABLE',
      ]);
      expect(await log.reader.size()).toBe(base);
      // Sent again: A is appended, then B is refused on it.
      const again = await Promise.allSettled([
        sequencer.decide({ decide: () => events(1), keysVersion: null }),
        sequencer.decide({ decide: b(), keysVersion: null }),
      ]);
      expect(again[0]!.status).toBe('fulfilled');
      expect((again[1] as PromiseRejectedResult).reason?.code).toBe('NO_CHANGE');
      expect(await log.reader.size()).toBe(base + 1);
    } finally {
      log.writer.commit = commit;
    }
  });

  it('refuses alone a decision larger than one transaction takes; the group around it goes on', async () => {
    const { sequencer } = services;
    const before = await log.reader.size();
    const results = await Promise.allSettled([
      sequencer.decide({ decide: () => events(2), keysVersion: null }),
      sequencer.decide({ decide: () => events(4), keysVersion: null }), // the limit is 3
      sequencer.decide({ decide: () => events(1), keysVersion: null }),
      sequencer.decide({ decide: () => events(2), keysVersion: null }), // does not fit beside the first: next transaction
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason?.code).toBe('BATCH_TOO_LARGE');
    const sizes = results
      .filter((r) => r.status === 'fulfilled')
      .map((r) => (r as PromiseFulfilledResult<unknown[]>).value.length);
    expect(sizes).toEqual([2, 1, 2]);
    expect(await log.reader.size()).toBe(before + 5);
  });

  it('takes no decision once closed (LOG_CLOSED), and appends nothing', async () => {
    const closing = await createServices(log, backend.config, new ManualClock('2026-03-01T00:00:00Z'));
    const before = await log.reader.size();
    await closing.close();
    await expect(closing.sequencer.decide({ decide: () => events(1), keysVersion: null })).rejects.toMatchObject({
      code: 'LOG_CLOSED',
    });
    expect(await log.reader.size()).toBe(before);
  });

  it('sends a decision prepared on another key set back to be prepared again', async () => {
    const { sequencer, projection } = services;
    const stale = await sequencer.decide({ decide: () => events(1), keysVersion: projection.state.keysVersion - 1 });
    expect(stale).toBe(STALE);
  });
});

describe('the sequencer pipeline (Postgres: the next group sealed while a statement is in flight)', () => {
  let backend: Backend;
  let log: SignetLog;
  let services: SignetServices;
  let n = 5000;

  beforeAll(async () => {
    backend = await newBackend('postgres');
    log = await openLog(backend.config, { init: true, clock: new ManualClock('2026-03-01T00:00:00Z') });
    services = await createServices(log, backend.config, new ManualClock('2026-03-01T00:00:00Z'));
  });

  afterAll(async () => {
    await services.close();
    await log.close();
    await backend.cleanup();
  });

  const events = (count: number): EventDraft[] =>
    Array.from({ length: count }, () => inertDraft(n++, { actor: 'test' }));

  /** An event of the log's whose outcome key the state keeps: a later decision can ask whether it is in. */
  const marked = (): { draft: EventDraft; in: (state: TrustState) => boolean } => {
    const draft = inertDraft(n++);
    const key = outcomeKey(draft.type, draft.data)!;
    return { draft, in: (state) => state.outcomes.has(key) };
  };

  /** `count` decisions of one event each (eight or more queued at once with nothing in flight are split in two groups). */
  const plain = (count: number) =>
    Array.from({ length: count }, () => sequencer().decide({ decide: () => events(1), keysVersion: null }));
  const sequencer = () => services.sequencer;

  /** Records the writer's seal and commit calls in order, until the returned function is called. */
  function trace(): { steps: string[]; restore: () => void } {
    const steps: string[] = [];
    const { seal, commit } = log.writer;
    log.writer.seal = async (drafts, options, on) => {
      // `on`: the head a batch not yet committed leaves (a group sealed while another is in flight).
      steps.push(`seal ${options.expectedSize}${on ? ' on a batch in flight' : ''}`);
      return seal.call(log.writer, drafts, options, on);
    };
    log.writer.commit = (batch) => {
      steps.push(`send ${batch.base.size}`);
      return commit.call(log.writer, batch).finally(() => steps.push(`committed ${batch.base.size}`));
    };
    return {
      steps,
      restore: () => {
        log.writer.seal = seal;
        log.writer.commit = commit;
      },
    };
  }

  it('decides and seals the next group on the state of the one being appended, before it commits', async () => {
    const { sequencer, projection } = services;
    const base = projection.state.size;
    const a = marked();
    const { steps, restore } = trace();
    try {
      // B is accepted only on a state holding A's event, and C refused on it: both decided on
      // the state A's group leaves while A is being appended; C's refusal given once A is in.
      // (Eight decisions queued at once with nothing in flight: the first four form the first group.)
      const results = await Promise.allSettled([
        sequencer.decide({ decide: () => [a.draft], keysVersion: null }),
        ...plain(3),
        sequencer.decide({
          decide: (state) => {
            if (!a.in(state)) throw new DomainError('NO_CHANGE', 'A is not in yet');
            return events(1);
          },
          keysVersion: null,
        }),
        sequencer
          .decide({
            decide: (state) => {
              if (a.in(state)) throw new DomainError('NO_CHANGE', 'A came first');
              return events(1);
            },
            keysVersion: null,
          })
          .catch((error: DomainError) => {
            // Refused only on a state that holds A, committed.
            expect(projection.state.size).toBeGreaterThan(base);
            throw error;
          }),
        ...plain(2),
      ]);
      expect(results.map((r) => r.status)).toEqual([
        ...Array(5).fill('fulfilled'),
        'rejected',
        'fulfilled',
        'fulfilled',
      ]);
      expect((results[5] as PromiseRejectedResult).reason?.code).toBe('NO_CHANGE');
      expect(await log.reader.size()).toBe(base + 7);
      // The second group was sealed on the head the first leaves while the first was in flight
      // (on PGlite the statement may be done by then; it is landed only after), and sent once
      // the first committed.
      expect(steps.filter((s) => s.startsWith('seal') || s.startsWith('send'))).toEqual([
        `seal ${base}`,
        `send ${base}`,
        `seal ${base + 4} on a batch in flight`,
        `send ${base + 4}`,
      ]);
      expect(steps.indexOf(`committed ${base}`)).toBeLessThan(steps.indexOf(`send ${base + 4}`));
    } finally {
      restore();
    }
  });

  it('decides again the group decided on one that met another process append: each appended once', async () => {
    const { sequencer, projection } = services;
    const base = projection.state.size;
    const a = marked();
    const intruder = inertDraft(n++, { actor: 'test', text: 'from another process' });
    const commit = log.writer.commit.bind(log.writer);
    let intrude = true;
    log.writer.commit = async (batch) => {
      // Another writer appends just before the first group's statement: it finds the head moved.
      if (intrude) {
        intrude = false;
        await log.writer.append([intruder]);
      }
      return commit(batch);
    };
    try {
      const results = await Promise.all([
        sequencer.decide({ decide: () => [a.draft], keysVersion: null }),
        ...plain(3),
        sequencer.decide({
          decide: (state) => {
            if (!a.in(state)) throw new DomainError('NO_CHANGE', 'A is not in yet');
            return events(1);
          },
          keysVersion: null,
        }),
        ...plain(3),
      ]);
      for (const r of results) expect(r).not.toBe(STALE);
      const seqs = results.flatMap((r) => (r as { seq: number }[]).map((e) => e.seq));
      // The intruder took `base`; the eight follow it, each once, in their order.
      expect(seqs).toEqual(Array.from({ length: 8 }, (_, i) => base + 1 + i));
      expect(await log.reader.size()).toBe(base + 9);
      const texts: string[] = [];
      for await (const e of log.reader.scan(base, base + 9)) texts.push((e.data as { text: string }).text);
      expect(new Set(texts).size).toBe(9);
      expect(texts[0]).toBe('from another process');
      expect(projection.state.size).toBe(base + 9);
    } finally {
      log.writer.commit = commit;
    }
  });

  it('decides again the group behind one whose append failed, on the state without it', async () => {
    const { sequencer, projection } = services;
    const base = projection.state.size;
    const a = marked();
    const commit = log.writer.commit.bind(log.writer);
    let failures = 1;
    log.writer.commit = (batch) => {
      if (failures-- > 0)
        return Promise.reject(new InfrastructureError('DATABASE_UNAVAILABLE', 'test: the database went away', 2));
      return commit(batch);
    };
    try {
      // The first group [A, X, X, X] fails; C, decided on its state (accepted only without A),
      // is decided again without it and accepted, with the rest of its group.
      const results = await Promise.allSettled([
        sequencer.decide({ decide: () => [a.draft], keysVersion: null }),
        ...plain(3),
        sequencer.decide({
          decide: (state) => {
            if (a.in(state)) throw new DomainError('NO_CHANGE', 'A came first');
            return events(1);
          },
          keysVersion: null,
        }),
        ...plain(3),
      ]);
      expect(results.map((r) => (r.status === 'rejected' ? r.reason?.code : r.status))).toEqual([
        ...Array(4).fill('DATABASE_UNAVAILABLE'),
        ...Array(4).fill('fulfilled'),
      ]);
      expect(await log.reader.size()).toBe(base + 4);
      expect(projection.state.size).toBe(base + 4);
      expect(a.in(projection.state)).toBe(false);
    } finally {
      log.writer.commit = commit;
    }
  });
});

describe('the verification threads', () => {
  it('replace a thread that stopped, and fail what is waiting at close', async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'curve25519',
      userIDs: [{ name: 'v' }],
      format: 'armored',
    });
    const key = await openpgp.readPrivateKey({ armoredKey: privateKey });
    const fingerprint = (await readPublicKey(publicKey)).facts.fingerprint;
    const data = new TextEncoder().encode('hello');
    const signature = (await openpgp.sign({
      message: await openpgp.createMessage({ binary: data }),
      signingKeys: key,
      detached: true,
    })) as string;
    const task = { kind: 'detached' as const, data, signature, keys: [{ fingerprint, armored: publicKey }] };
    const pool = new VerifyPool(1);
    try {
      expect(await pool.verify(task)).toMatchObject({ ok: true, signer: fingerprint });
      // The thread dies (as when a heap is exhausted): what it held fails, the next task runs.
      const thread = (pool as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0]!;
      await thread.terminate();
      await new Promise((r) => setTimeout(r, 50));
      expect(await pool.verify(task)).toMatchObject({ ok: true, signer: fingerprint });
      const pending = pool.verify(task).then(
        () => 'answered',
        (error: { code?: string }) => error.code,
      );
      await pool.close();
      expect(await pending).toBe('LOG_CLOSED');
      await expect(pool.verify(task)).rejects.toMatchObject({ code: 'LOG_CLOSED' });
    } finally {
      await pool.close();
    }
  });
});
