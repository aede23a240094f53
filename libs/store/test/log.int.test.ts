import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { InfrastructureError, ManualClock } from '@signet/domain';
import { type SignetLog, openLog, readNodes } from '@signet/store';
import { leafHash, openCheckpoint, parseVerifierKey, verifyConsistency, verifyInclusion } from '@signet/tlog';
import { BACKENDS, type Backend, newBackend } from '../../../test/support/backends.js';
import { checkLogIntegrity } from '../../../test/support/integrity.js';
import { foreignDraft } from '../../../test/support/drafts.js';

const draft = (i: number, extra = '') => {
  const data = { i, extra };
  return foreignDraft({ type: 'TestRecorded', v: 1, stream: `test/${i % 5}`, actor: 'log', data, evidence: null });
};

async function countEvents(log: SignetLog): Promise<number> {
  const r = await log.db.db.selectFrom('events').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

describe.each(BACKENDS)('the log on %s', (name) => {
  let backend: Backend;
  let log: SignetLog & { created: boolean };
  let second: SignetLog;
  const clock = new ManualClock('2026-11-24T10:00:00Z');

  beforeAll(async () => {
    backend = await newBackend(name, { poolSize: 1 });
    log = await openLog(backend.config, { init: true, clock, inMemory: name === 'pglite' });
    // A second, independent writer with its own connection, as a second process would have.
    // PGlite has a single connection by nature, so there the two writers share it.
    second = name === 'postgres' ? await openLog(backend.config, { clock }) : log;
  });
  afterAll(async () => {
    if (second !== log) await second.close();
    await log.close();
    await backend.cleanup();
  });

  it('starts with the genesis event naming the origin and verifier key', async () => {
    expect(log.created).toBe(true);
    const genesis = await log.reader.event(0);
    expect(genesis).toMatchObject({
      seq: 0,
      type: 'LogCreated',
      actor: 'log',
      recordedAt: '2026-11-24T10:00:00.000Z',
      data: { origin: 'signet.test/log', verifierKey: log.identity.verifierKey },
    });
    const head = (await log.reader.head())!;
    expect(head.size).toBe(1);
    expect(openCheckpoint(head.note, parseVerifierKey(log.identity.verifierKey)).size).toBe(1);
  });

  it('16 concurrent appenders over 2 connections (two writers, as two processes) make a gapless log whose checkpoints all agree', async () => {
    const before = await log.reader.size();
    const appenders = Array.from({ length: 16 }, async (_, a) => {
      const writer = (a % 2 === 0 ? log : second).writer;
      const seqs: number[] = [];
      for (let k = 0; k < 20; k++) {
        const n = 1 + ((a * 7 + k) % 5);
        const events = await writer.append(Array.from({ length: n }, (_, j) => draft(a * 1000 + k * 10 + j)));
        // one caller's events are contiguous
        events.forEach((e, j) => expect(e.seq).toBe(events[0]!.seq + j));
        seqs.push(...events.map((e) => e.seq));
      }
      return seqs;
    });
    const all = (await Promise.all(appenders)).flat().sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => before + i));
    const size = await checkLogIntegrity(log);
    expect(size).toBe(before + all.length);

    // Every stored checkpoint is signed and consistent with every later one.
    const vkey = parseVerifierKey(log.identity.verifierKey);
    const cps = (await log.reader.checkpoints()).map((c) => openCheckpoint(c.note, vkey));
    expect(cps.length).toBeGreaterThan(1);
    // Each with the next and with the last: consistency is transitive.
    const last = cps.at(-1)!;
    for (let i = 0; i < cps.length - 1; i++) {
      for (const later of [cps[i + 1]!, last]) {
        const p = await log.reader.consistencyProof(cps[i]!.size, later.size);
        verifyConsistency(cps[i]!.size, later.size, cps[i]!.root, later.root, p.proof);
      }
    }
  });

  it('serves inclusion proofs that verify against the signed head', async () => {
    const head = (await log.reader.head())!;
    for (const seq of [0, 1, Math.floor(head.size / 2), head.size - 1]) {
      const p = await log.reader.inclusionProof(seq, head.size);
      verifyInclusion(seq, head.size, leafHash((await log.reader.entry(seq))!), p.proof, head.root);
    }
    await expect(log.reader.inclusionProof(0, head.size + 1)).rejects.toMatchObject({ code: 'NOT_IN_LOG' });
    await expect(log.reader.consistencyProof(1, head.size + 5)).rejects.toMatchObject({ code: 'NOT_IN_LOG' });
  });

  it('refuses UPDATE, DELETE and TRUNCATE on the log tables, in the database', async () => {
    const db = log.db.db;
    for (const table of ['events', 'tree_nodes', 'checkpoints']) {
      await expect(sql.raw(`DELETE FROM ${table}`).execute(db)).rejects.toThrow(/append-only/);
      await expect(sql.raw(`TRUNCATE ${table}`).execute(db)).rejects.toThrow(/append-only/);
    }
    await expect(sql`UPDATE events SET type = 'Forged' WHERE seq = 0`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`UPDATE tree_nodes SET hash = hash WHERE level = 1`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`UPDATE events SET leaf_hash = leaf_hash WHERE seq = 1`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`UPDATE checkpoints SET note = ''`.execute(db)).rejects.toThrow(/append-only/);
    await checkLogIntegrity(log);
  });

  it('refuses an append whose expected size is stale, and appends nothing', async () => {
    // The other writer moves the head, so this writer's idea of it is out of date (Postgres).
    await second.writer.append([draft(0)]);
    const before = await countEvents(log);
    await expect(log.writer.append([draft(1)], { expectedSize: before - 1 })).rejects.toMatchObject({
      code: 'LOG_SIZE_CHANGED',
    });
    expect(await countEvents(log)).toBe(before);
    const [e] = await log.writer.append([draft(2)], { expectedSize: before });
    expect(e!.seq).toBe(before);
  });

  it('refuses malformed and oversized events without failing the appends beside them', async () => {
    const before = await countEvents(log);
    const results = await Promise.allSettled([
      log.writer.append([draft(1)]),
      log.writer.append([draft(2, 'x'.repeat(70_000))]),
      log.writer.append([foreignDraft({ ...draft(3), type: 'not a type' })]),
      log.writer.append([draft(4)]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'EVENT_TOO_LARGE' });
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'BAD_EVENT' });
    expect(await countEvents(log)).toBe(before + 2);
  });

  it('keeps recordedAt from the injected clock, never running backwards', async () => {
    clock.set('2026-11-25T00:00:00Z');
    const [a] = await log.writer.append([draft(5)]);
    expect(a!.recordedAt).toBe('2026-11-25T00:00:00.000Z');
    clock.set('2026-11-20T00:00:00Z');
    const [b] = await log.writer.append([draft(6)]);
    expect(b!.recordedAt).toBe('2026-11-25T00:00:00.000Z');
    clock.set('2026-11-26T00:00:00Z');
  });

  it('refuses to open with another log key', async () => {
    const { encodeSignerKey } = await import('@signet/tlog');
    const otherKey = encodeSignerKey('signet.test/log', new Uint8Array(32).fill(9));
    if (name === 'postgres') {
      await expect(openLog({ ...backend.config, logKey: otherKey })).rejects.toMatchObject({
        code: 'LOG_KEY_MISMATCH',
      });
    }
    // reading nodes of an empty id list is a no-op
    expect((await readNodes(log.db.db, [])).size).toBe(0);
  });

  it('on close, commits what was queued and refuses new appends', async () => {
    const w = second.writer;
    const queued = Array.from({ length: 10 }, (_, i) => w.append([draft(100 + i)]));
    const closing = w.close();
    await expect(w.append([draft(200)])).rejects.toBeInstanceOf(InfrastructureError);
    await expect(w.append([draft(200)])).rejects.toMatchObject({ code: 'LOG_CLOSED' });
    await closing;
    const done = await Promise.all(queued);
    expect(done.flat()).toHaveLength(10);
    await checkLogIntegrity(log);
  });
});
