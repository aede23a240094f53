import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError, type EventDraft, InfrastructureError, ManualClock } from '@signet/domain';
import { VerifyPool, readPublicKey } from '@signet/pgp';
import { STALE, type SignetServices, createServices } from '@signet/service';
import { type SignetLog, openLog } from '@signet/store';
import { type Backend, newBackend } from '../../../test/support/backends.js';
import { inertDraft } from '../../../test/support/drafts.js';

// The sequencer when an append fails, when a decision is larger than a transaction, and when
// the key set moves under a decision; the verification threads when one dies and at close.

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

  it('gives no refusal that rests on a decision of its group whose append failed', async () => {
    const { sequencer, projection } = services;
    const base = projection.state.size;
    // B is refused only once A's event is in the state it is decided on.
    const b = () => (state: { size: number }) => {
      if (state.size > base) throw new DomainError('NO_CHANGE', 'A came first');
      return events(1);
    };
    const append = log.writer.appendPrepared.bind(log.writer);
    let failures = 1;
    log.writer.appendPrepared = (prepared, options) => {
      if (failures-- > 0)
        return Promise.reject(new InfrastructureError('DATABASE_UNAVAILABLE', 'test: the database went away', 2));
      return append(prepared, options);
    };
    try {
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
      log.writer.appendPrepared = append;
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
