import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, DomainError, ManualClock, parseSignedSnapshot } from '@signet/domain';
import { acceptSnapshot, verifySnapshot } from '@signet/client';
import { SnapshotService, TrustProjection } from '@signet/service';
import { type SignetLog, openLog } from '@signet/store';
import { encodeSignerKey } from '@signet/tlog';
import { type Backend, newBackend } from '../../../test/support/backends.js';
import { keyDrafts } from '../../../test/support/workers.js';

// Trust snapshots made by the server's SnapshotService on PGlite and Postgres, checked by the
// client library: determinism, and every refusal of a frozen, rolled back, forked or foreign one.

const DAY = 86_400_000;
const seed = (n: number) => new Uint8Array(32).fill(n);
const LOG_KEY = encodeSignerKey('snapshots.test/log', seed(7));
const OTHER_KEY = encodeSignerKey('snapshots.test/log', seed(8));
const options = { ttlMs: 7 * DAY, refreshMs: DAY };

interface Made {
  log: SignetLog;
  clock: ManualClock;
  snapshots: SnapshotService;
  projection: TrustProjection;
  backend: Backend;
}

/** A log with the given key, the same events at the same times. */
async function make(name: 'pglite' | 'postgres', logKey = LOG_KEY, keys = 3): Promise<Made> {
  const backend = await newBackend(name, { logKey });
  const clock = new ManualClock('2026-03-01T00:00:00Z');
  const log = await openLog(backend.config, {
    init: true,
    clock,
    policy: { ...DEFAULT_POLICY, rootKeys: [] },
    inMemory: name === 'pglite',
  });
  for (let i = 0; i < keys; i++) {
    clock.advance(60_000);
    await log.writer.append(keyDrafts(i, 1, i === 0));
  }
  const projection = new TrustProjection(log.reader);
  await projection.catchUp();
  return { log, clock, backend, projection, snapshots: new SnapshotService(log, projection, clock, options) };
}

const vkeyOf = (m: Made) => m.log.identity.verifierKey;
const consistencyFrom = (m: Made) => async (from: number, to: number) =>
  (await m.log.reader.consistencyProof(from, to)).proof;

async function refusal(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (error) {
    return (error as DomainError).code;
  }
  return 'accepted';
}

describe('trust snapshots', () => {
  const made: Made[] = [];
  let pglite: Made;
  let postgres: Made;

  beforeAll(async () => {
    pglite = await make('pglite');
    postgres = await make('postgres');
    made.push(pglite, postgres);
  });

  afterAll(async () => {
    for (const m of made) {
      await m.log.close();
      await m.backend.cleanup();
    }
  });

  it('the same state gives the same bytes and ETag on PGlite and Postgres, and after a restart', async () => {
    const a = await pglite.snapshots.current();
    const b = await postgres.snapshots.current();
    expect(a.body).toBe(b.body);
    expect(a.etag).toBe(b.etag);
    // A new service over the same log (a restarted server) at the same time.
    const projection = new TrustProjection(postgres.log.reader);
    await projection.catchUp();
    const again = await new SnapshotService(postgres.log, projection, postgres.clock, options).current();
    expect(again.body).toBe(b.body);
    const { trusted } = verifySnapshot(a.body, vkeyOf(pglite), { now: pglite.clock.now() });
    expect(trusted.snapshot.version).toBe(await pglite.log.reader.size());
    expect(trusted.snapshot.signingKeys.map((k) => [k.username, k.status])).toEqual([
      ['user0', 'awaiting-announcement'],
      ['user1', 'awaiting-announcement'],
      ['user2', 'awaiting-announcement'],
    ]);
  });

  it('is issued again at each refresh period; an older size is the same bytes forever', async () => {
    const first = await postgres.snapshots.current();
    const old = await postgres.snapshots.at(4);
    postgres.clock.advance(DAY);
    const refreshed = await postgres.snapshots.current();
    expect(refreshed.body).not.toBe(first.body);
    const a = parseSignedSnapshot(first.body).snapshot;
    const b = parseSignedSnapshot(refreshed.body).snapshot;
    expect(b.version).toBe(a.version);
    expect(Date.parse(b.issuedAt)).toBeGreaterThan(Date.parse(a.issuedAt));
    expect(Date.parse(b.expiresAt) - Date.parse(b.issuedAt)).toBe(7 * DAY);
    await postgres.log.writer.append(keyDrafts(10, 1, false));
    expect((await postgres.snapshots.at(4)).body).toBe(old.body);
    expect(parseSignedSnapshot(old.body).snapshot.version).toBe(4);
    expect(await refusal(postgres.snapshots.at(0))).toBe('NOT_IN_LOG');
    expect(await refusal(postgres.snapshots.at(10_000))).toBe('NOT_IN_LOG');
  });

  it('ready() answers the precomputed copy only while its state and refresh period last', async () => {
    const s = postgres.snapshots;
    const first = await s.current();
    expect(s.ready()).toBe(first);
    expect(s.ready()).toBe(first); // the remembered check
    postgres.clock.advance(DAY); // a new refresh period: the copy is not the head's any more
    expect(s.ready()).toBeNull();
    const refreshed = await s.current();
    expect(s.ready()).toBe(refreshed);
    await postgres.log.writer.append(keyDrafts(20, 1, false));
    await postgres.projection.catchUp();
    expect(s.ready()).toBeNull(); // a new event: neither
    const next = await s.current();
    expect(parseSignedSnapshot(next.body).snapshot.version).toBe(await postgres.log.reader.size());
    expect(s.ready()).toBe(next);
  });

  it('a client accepts newer consistent snapshots and refuses expired, older, foreign and forked ones', async () => {
    const m = postgres;
    const vkey = vkeyOf(m);
    const older = (await m.snapshots.at(4)).body;
    const current = (await m.snapshots.current()).body;
    const now = { now: m.clock.now() };
    // Newer and consistent: accepted (the proof comes from the log).
    expect(
      (await acceptSnapshot(current, older, vkey, consistencyFrom(m), { ...now, allowExpired: true })).trusted.snapshot
        .version,
    ).toBe(await m.log.reader.size());
    // Expired: the clock passes its expiry.
    expect(
      await refusal(() => verifySnapshot(current, vkey, { now: new Date(m.clock.now().getTime() + 8 * DAY) })),
    ).toBe('SNAPSHOT_EXPIRED');
    // Older than the last accepted.
    expect(
      await refusal(acceptSnapshot(older, current, vkey, consistencyFrom(m), { ...now, allowExpired: true })),
    ).toBe('SNAPSHOT_ROLLBACK');
    // Signed by another key (a log of the same name with another key).
    const foreign = await make('pglite', OTHER_KEY, 1);
    made.push(foreign);
    const foreignDoc = (await foreign.snapshots.current()).body;
    expect(await refusal(() => verifySnapshot(foreignDoc, vkey, now))).toBe('SNAPSHOT_WRONG_KEY');
    // A tampered signature or body.
    const doc = JSON.parse(current);
    doc.snapshot.signingKeys[0].status = 'active';
    expect(await refusal(() => verifySnapshot(JSON.stringify(doc), vkey, now))).toBe('SNAPSHOT_BAD_SIGNATURE');
    expect(await refusal(() => verifySnapshot('{"not":"a snapshot"}', vkey, now))).toBe('SNAPSHOT_MALFORMED');
    // Issued after this host's time (beyond the tolerated skew): the host's clock is wrong.
    expect(await refusal(() => verifySnapshot(current, vkey, { now: new Date(m.clock.now().getTime() - DAY) }))).toBe(
      'SNAPSHOT_FROM_THE_FUTURE',
    );
    // A fork: the same key and the same first events, then different ones.
    const fork = await make('pglite', LOG_KEY, 3);
    made.push(fork);
    fork.clock.set(m.clock.now());
    await fork.log.writer.append(keyDrafts(20, 1, false));
    const forked = (await fork.snapshots.current()).body;
    const forkedVersion = parseSignedSnapshot(forked).snapshot.version;
    const ours = (await m.snapshots.at(forkedVersion)).body;
    // Same size, other root.
    expect(
      await refusal(acceptSnapshot(forked, ours, vkey, consistencyFrom(fork), { ...now, allowExpired: true })),
    ).toBe('SNAPSHOT_FORK');
    // Larger than the last accepted, but no consistency proof joins them.
    await m.log.writer.append(keyDrafts(30, 3, false));
    const bigger = (await m.snapshots.current()).body;
    expect(await refusal(acceptSnapshot(bigger, forked, vkey, consistencyFrom(m), { now: m.clock.now() }))).toBe(
      'SNAPSHOT_FORK',
    );
  });
});
