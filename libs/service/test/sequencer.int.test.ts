import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, ManualClock, emptyState, evolve } from '@signet/domain';
import { type CommandService, type SignetServices, type TrustProjection, createServices } from '@signet/service';
import { type SignetLog, openLog } from '@signet/store';
import { BACKENDS, type Backend, newBackend } from '../../../test/support/backends.js';
import { inertDraft } from '../../../test/support/drafts.js';
import { ed25519 } from '../../../test/support/keys.js';

// Commands from two processes' worth of services at once: each decided once, in some order,
// with replays answered and the projections equal to a fresh fold of the log.

describe.each(BACKENDS)('signed commands decided concurrently on %s', (name) => {
  let backend: Backend;
  const logs: SignetLog[] = [];
  const services: CommandService[] = [];
  const wiring: SignetServices[] = [];
  const projections: TrustProjection[] = [];
  const clock = new ManualClock('2026-03-01T00:00:00Z');
  let root: Awaited<ReturnType<typeof ed25519>>;
  let n = 0;

  async function signAs(signer: Awaited<ReturnType<typeof ed25519>>, body: Record<string, unknown>, id = `c${++n}`) {
    const bytes = JSON.stringify({ origin: 'signet.test/log', id, issuedAt: clock.now().toISOString(), ...body });
    const message = await openpgp.createMessage({ binary: new TextEncoder().encode(bytes) });
    const signature = (await openpgp.sign({ message, signingKeys: signer.priv, detached: true })) as string;
    return { bytes, signature };
  }
  const sign = (body: Record<string, unknown>, id?: string) => signAs(root, body, id);

  beforeAll(async () => {
    root = await ed25519('root');
    backend = await newBackend(name);
    const policy = { ...DEFAULT_POLICY, allowEd25519: true, rootKeys: [{ fingerprint: root.fpr, key: root.pub }] };
    const first = await openLog(backend.config, { init: true, clock, policy, inMemory: name === 'pglite' });
    logs.push(first);
    // Postgres: a second, independent log connection (another process). PGlite: one connection.
    logs.push(name === 'postgres' ? await openLog(backend.config, { clock }) : first);
    for (const log of logs) {
      const wired = await createServices(log, backend.config, clock);
      wiring.push(wired);
      services.push(wired.commands);
      projections.push(wired.projection);
    }
  });

  afterAll(async () => {
    for (const w of wiring) await w.close();
    for (const log of new Set(logs)) await log.close();
    await backend.cleanup();
  });

  it('applies every command exactly once, answers replays, refuses bad ones without appending', async () => {
    const members = await Promise.all(Array.from({ length: 12 }, (_, i) => ed25519(`m${i}`)));
    const adds = await Promise.all(
      members.map((m, i) => sign({ type: 'AddMember', key: m.pub, username: `m${i}`, role: 'member' })),
    );
    // Every add is sent to both services at once: one appends, the other answers a replay.
    const results = await Promise.all(adds.flatMap((c) => services.map((s) => s.submit(c.bytes, c.signature))));
    expect(results.filter((r) => !r.replayed)).toHaveLength(12);
    for (const r of results) expect(r.events.map((e) => e.type)).toEqual(['MemberAdded']);

    const roles = await Promise.all(
      members.map((m) => sign({ type: 'ChangeMemberRole', member: m.fpr, role: 'leader' })),
    );
    const before = await logs[0]!.reader.size();
    const bad = await sign({ type: 'RemoveMember', member: members[0]!.fpr });
    const outcomes = await Promise.allSettled([
      ...roles.map((c, i) => services[i % 2]!.submit(c.bytes, c.signature)),
      services[0]!.submit(
        bad.bytes,
        bad.signature.replace(/[A-Za-z](?=[^\n]*\n=)/, (c) => (c === 'A' ? 'B' : 'A')),
      ),
      services[1]!.submit(bad.bytes.replace('RemoveMember', 'RemoveMembers'), bad.signature),
    ]);
    expect(outcomes.slice(0, 12).every((o) => o.status === 'fulfilled')).toBe(true);
    expect(outcomes.slice(12).map((o) => (o as PromiseRejectedResult).reason?.code)).toEqual([
      expect.stringMatching(/BAD_SIGNATURE/),
      'BAD_COMMAND',
    ]);
    expect(await logs[0]!.reader.size()).toBe(before + 12);

    // Every projection, caught up, is exactly the fold of the log.
    const fresh = emptyState();
    for await (const e of logs[0]!.reader.scan(0, await logs[0]!.reader.size())) evolve(fresh, e);
    for (const p of projections) {
      const state = await p.catchUp();
      expect(state.size).toBe(fresh.size);
      expect([...state.members.values()]).toEqual([...fresh.members.values()]);
      expect([...state.members.values()].filter((m) => m.role === 'leader')).toHaveLength(12);
    }
  });

  it('a member added through one process signs a command through the other at once (no false UNKNOWN_SIGNER)', async () => {
    if (name !== 'postgres') return; // one process only on PGlite
    const newcomer = await ed25519('newcomer');
    const add = await sign({ type: 'AddMember', key: newcomer.pub, username: 'newcomer', role: 'management' });
    expect((await services[0]!.submit(add.bytes, add.signature)).replayed).toBe(false);
    const other = await ed25519('other');
    const byNewcomer = await signAs(newcomer, { type: 'AddMember', key: other.pub, username: 'other', role: 'member' });
    const result = await services[1]!.submit(byNewcomer.bytes, byNewcomer.signature);
    expect(result.events.map((e) => [e.type, e.actor])).toEqual([['MemberAdded', newcomer.fpr]]);
  });

  it('checks a refusal against the head with the size it was decided at, not the size the state grew to since', async () => {
    if (name !== 'postgres') return; // two processes only on Postgres
    const member = await ed25519('checked');
    const add = await sign({ type: 'AddMember', key: member.pub, username: 'checked', role: 'member' });
    await services[0]!.submit(add.bytes, add.signature);
    await projections[1]!.catchUp();
    // Process 0 makes the member a leader; process 1 has not read it yet.
    const up = await sign({ type: 'ChangeMemberRole', member: member.fpr, role: 'leader' });
    await services[0]!.submit(up.bytes, up.signature);
    // Process 1 is asked to make her a member again: on its state she still is one (NO_CHANGE).
    // While it looks whether the log moved, another request catches its projection up: the
    // refusal rested on the state before that, so it is decided again, and accepted.
    const reader = logs[1]!.reader;
    const size = reader.size.bind(reader);
    let hooked = true;
    reader.size = async () => {
      const n = await size();
      if (hooked) {
        hooked = false;
        await projections[1]!.catchUp();
      }
      return n;
    };
    try {
      const down = await sign({ type: 'ChangeMemberRole', member: member.fpr, role: 'member' });
      const result = await services[1]!.submit(down.bytes, down.signature);
      expect(result.events.map((e) => e.type)).toEqual(['MemberRoleChanged']);
      expect(hooked).toBe(false);
    } finally {
      reader.size = size;
    }
  });

  it('commits concurrent appends in groups, one transaction each, gapless', async () => {
    const before = await logs[0]!.reader.size();
    const checkpointsBefore = (await logs[0]!.reader.checkpoints()).length;
    // Events the projections fold to nothing (read back by the other process's projection too).
    const draft = (i: number) => inertDraft(i, { actor: 'test' });
    const appended = await Promise.all(Array.from({ length: 64 }, (_, i) => wiring[0]!.sequencer.append([draft(i)])));
    expect(
      appended
        .flat()
        .map((e) => e.seq)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 64 }, (_, i) => before + i));
    const checkpoints = (await logs[0]!.reader.checkpoints()).length - checkpointsBefore;
    expect(checkpoints).toBeGreaterThan(0);
    expect(checkpoints).toBeLessThan(64); // grouped
  });
});
