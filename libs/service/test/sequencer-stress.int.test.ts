import * as openpgp from 'openpgp';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, DomainError, ManualClock, emptyState, evolve, outcomeKey } from '@signet/domain';
import { readPublicKey } from '@signet/pgp';
import { type SignetServices, createServices } from '@signet/service';
import { type SignetLog, openLog } from '@signet/store';
import { type Backend, newBackend } from '../../../test/support/backends.js';
import { inertDraft } from '../../../test/support/drafts.js';
import { ed25519 } from '../../../test/support/keys.js';

// Two processes' worth of services on one Postgres database while its backends are terminated
// again and again, and while clients give up waiting and send the same command to the other
// process (the first one still deciding it): every command is applied exactly once, no command
// is refused (none of them can rightly be), and both projections end equal to a fold of the log.
// The topology test does this with real processes; this one runs the same race many times a
// second, in one process, so that a rare false refusal shows here rather than once in CI.

const CLIENTS = 8;
const ROUNDS = Number(process.env.SIGNET_STRESS_ROUNDS ?? 6);
/** A client waits this long for an answer before it sends the same bytes to the other process. */
const PATIENCE_MS = Number(process.env.SIGNET_STRESS_PATIENCE ?? 60);
/** Backends are terminated about this often. */
const FAULT_EVERY_MS = Number(process.env.SIGNET_STRESS_FAULT_MS ?? 200);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tried until the pool's terminated connections are replaced. */
async function settled<T>(read: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await read();
    } catch (error) {
      if (i >= 20) throw error;
    }
  }
}

describe('the sequencer under lost connections and resent commands (Postgres, two processes)', () => {
  let backend: Backend;
  const logs: SignetLog[] = [];
  const wiring: SignetServices[] = [];
  const clock = new ManualClock('2026-03-01T00:00:00Z');
  let root: Awaited<ReturnType<typeof ed25519>>;

  async function sign(body: Record<string, unknown>, id: string, signer: openpgp.PrivateKey = root.priv) {
    const bytes = JSON.stringify({ origin: 'signet.test/log', id, issuedAt: clock.now().toISOString(), ...body });
    const message = await openpgp.createMessage({ binary: new TextEncoder().encode(bytes) });
    const signature = (await openpgp.sign({ message, signingKeys: signer, detached: true })) as string;
    return { bytes, signature };
  }

  /** A code-signing key made before the log's time. */
  async function signingKey(name: string) {
    const { publicKey } = await openpgp.generateKey({
      type: 'curve25519',
      userIDs: [{ name, email: `${name}@example.org`, comment: 'CODE SIGNING KEY' }],
      date: new Date('2026-02-01T00:00:00Z'),
      format: 'armored',
    });
    return { pub: publicKey, fpr: (await readPublicKey(publicKey)).facts.fingerprint };
  }

  beforeAll(async () => {
    root = await ed25519('root');
    backend = await newBackend('postgres');
    const policy = { ...DEFAULT_POLICY, allowEd25519: true, rootKeys: [{ fingerprint: root.fpr, key: root.pub }] };
    logs.push(await openLog(backend.config, { init: true, clock, policy }));
    logs.push(await openLog(backend.config, { clock }));
    for (const log of logs) wiring.push(await createServices(log, backend.config, clock));
  });

  afterAll(async () => {
    for (const w of wiring) await w.close();
    for (const log of logs) await log.close();
    await backend.cleanup();
  });

  it('applies every command once and refuses none', async () => {
    const members = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => ed25519(`m${i}`)));
    for (const [i, m] of members.entries()) {
      const c = await sign({ type: 'AddMember', key: m.pub, username: `m${i}`, role: 'member' }, `add-${i}`);
      await wiring[i % 2]!.commands.submit(c.bytes, c.signature);
    }

    const refusals: string[] = [];
    const acked = new Map<string, number[]>();
    let resent = 0;
    let failures = 0;
    /** Sends until a process acknowledges; a refusal is recorded (none is right here). */
    async function send(id: string, c: { bytes: string; signature: string }, first: number): Promise<void> {
      let at = first;
      for (let attempt = 0; attempt < 400; attempt++) {
        const answer = wiring[at]!.commands.submit(c.bytes, c.signature);
        // A rejection that comes after the client gave up is handled by the `then` below.
        const outcome = await Promise.race([
          answer.then(
            (r) => ({ ok: true as const, seqs: r.events.map((e) => e.seq) }),
            (error: unknown) => ({ ok: false as const, error }),
          ),
          sleep(PATIENCE_MS).then(() => ({ ok: false as const, error: null })),
        ]);
        if (outcome.ok) {
          acked.set(id, outcome.seqs);
          return;
        }
        if (outcome.error instanceof DomainError) {
          refusals.push(`${id} at process ${at}: ${outcome.error.code} ${outcome.error.message}`);
          return;
        }
        if (outcome.error) failures++;
        resent++;
        at = 1 - at;
        await sleep(2);
      }
      throw new Error(`${id} never acknowledged`);
    }

    // The database's backends terminated every FAULT_EVERY_MS or so while the clients write.
    const admin = new pg.Client({ connectionString: backend.config.databaseUrl });
    await admin.connect();
    const dbName = new URL(backend.config.databaseUrl!).pathname.slice(1);
    let stop = false;
    let terminated = 0;
    const faults = (async () => {
      while (!stop) {
        await sleep(FAULT_EVERY_MS * (0.4 + Math.random() * 1.2));
        const r = await admin.query(
          'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [dbName],
        );
        terminated += r.rows[0].n as number;
      }
    })();

    // Each process's workers record outcomes of their own (once each, whichever process is
    // first), and members are added meanwhile (the key set changes under prepared commands).
    const outcomes = Array.from({ length: 64 }, (_, i) => inertDraft(100_000 + i));
    let recorded = 0;
    const workers = wiring.map(async (w) => {
      while (!stop) {
        const draft = outcomes[Math.floor(Math.random() * outcomes.length)]!;
        const key = outcomeKey(draft.type, draft.data)!;
        try {
          const events = await w.sequencer.decideByLog((state) => (state.outcomes.has(key) ? [] : [draft]));
          recorded += events.length;
        } catch (error) {
          if (error instanceof DomainError) refusals.push(`a worker's outcome: ${error.code} ${error.message}`);
        }
        await sleep(3 + Math.random() * 6);
      }
    });
    // Readers: requests that read the head (a snapshot, a publication's keys) catch each
    // process's projection up with the log, any time, also while a decision waits its turn.
    const readers = wiring.map(async (w) => {
      while (!stop) {
        await w.projection.catchUp().catch(() => undefined);
        await sleep(1);
      }
    });
    // Newcomers: each added through one process signs a command of her own through the other at
    // once, which that process can only verify after catching up with the log (a catch-up that
    // runs while its sequencer holds decisions taken on the state before it).
    const newcomers = (async () => {
      for (let i = 0; !stop; i++) {
        const m = await ed25519(`new${i}`);
        const c = await sign({ type: 'AddMember', key: m.pub, username: `new${i}`, role: 'member' }, `new-${i}`);
        await send(`new-${i}`, c, i % 2);
        const key = await signingKey(`nk${i}`);
        const own = await sign({ type: 'AddSigningKey', key: key.pub }, `new-key-${i}`, m.priv);
        await send(`new-key-${i}`, own, (i + 1) % 2);
        await sleep(5);
      }
    })();

    try {
      await Promise.all(
        members.map(async (m, i) => {
          // The member adds a signing key of her own and the root authorizes it (a decision
          // prepared on the key set), then her role changes round after round.
          const key = await signingKey(`k${i}`);
          const add = await sign({ type: 'AddSigningKey', key: key.pub }, `key-${i}`, m.priv);
          await send(`key-${i}`, add, i % 2);
          const authorize = await sign({ type: 'AuthorizeSigningKey', fingerprint: key.fpr }, `auth-${i}`);
          await send(`auth-${i}`, authorize, (i + 1) % 2);
          if (refusals.length > 0) return;
          for (let r = 0; r < ROUNDS; r++) {
            const id = `role-${i}-${r}`;
            const c = await sign(
              { type: 'ChangeMemberRole', member: m.fpr, role: r % 2 === 0 ? 'leader' : 'member' },
              id,
            );
            await send(id, c, (i + r) % 2);
            if (refusals.length > 0) return;
          }
        }),
      );
    } finally {
      stop = true;
      await faults;
      await Promise.all(workers);
      await Promise.all(readers);
      await newcomers;
      await admin.end();
    }
    console.log(
      `stress: ${acked.size} acknowledged, ${recorded} outcomes, ${resent} resent (${failures} failures), ${terminated} backends terminated`,
    );
    expect(refusals).toEqual([]);
    expect(acked.size).toBeGreaterThanOrEqual(CLIENTS * (ROUNDS + 2));

    // Each command's event is in the log once, at the seq acknowledged; the projections are its fold.
    // (A connection terminated last is found dead at its next use: that read is tried again.)
    const size = await settled(() => logs[0]!.reader.size());
    const fresh = emptyState();
    const ids = new Map<string, number[]>();
    const byId = new Map<number, string>();
    const once = new Set<string>();
    for await (const e of logs[0]!.reader.scan(0, size)) {
      evolve(fresh, e);
      const key = e.actor === 'log' ? outcomeKey(e.type, e.data) : null;
      if (key) {
        expect(once.has(key), `${key} recorded twice`).toBe(false);
        once.add(key);
      }
      if (e.evidence) {
        // A command's events carry it as evidence (some commands append more than one).
        const id = (JSON.parse(e.evidence.command) as { id: string }).id;
        ids.set(id, [...(ids.get(id) ?? []), e.seq]);
        byId.set(e.seq, id);
      }
    }
    // Applied once: the events acknowledged that carry the command are all such events in the log
    // (a decision may add events of the log's own, without evidence: an authorization certified).
    for (const [id, seqs] of acked) {
      expect(
        seqs.filter((seq) => byId.has(seq)).every((seq) => byId.get(seq) === id),
        id,
      ).toBe(true);
      expect(
        seqs.filter((seq) => byId.has(seq)),
        id,
      ).toEqual(ids.get(id));
    }
    for (const w of wiring) {
      const state = await settled(() => w.projection.catchUp());
      expect(state.size).toBe(fresh.size);
      expect([...state.members.values()]).toEqual([...fresh.members.values()]);
    }
  }, 300_000);
});
