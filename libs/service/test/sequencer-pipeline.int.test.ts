import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventDraft, type EventEnvelope, ManualClock, type TrustState, emptyState, evolve } from '@signet/domain';
import { STALE, type SignetServices, createServices } from '@signet/service';
import { type SignetLog, openLog } from '@signet/store';
import { type Backend, newBackend } from '../../../test/support/backends.js';
import { inertDraft } from '../../../test/support/drafts.js';

// On Postgres the sequencer sends a group while the group before it is still being written,
// decided on the state that group leaves. Each decision here writes the log size it saw, so an
// event whose text is not its own seq was decided on a state other than the one before it.

/** The whole state as plain data (as adopt.unit.test.ts compares it). */
function plain(state: TrustState): unknown {
  return JSON.parse(
    JSON.stringify(state, (_, v) => (v instanceof Map ? [...v] : v instanceof Set ? [...v] : v)),
  ) as unknown;
}

describe('groups sent behind the group being written (Postgres)', () => {
  let backend: Backend;
  let log: SignetLog;
  let other: SignetLog;
  let services: SignetServices;
  const clock = new ManualClock('2026-03-01T00:00:00Z');
  let cause = 0;
  let decided = 0;
  /** Most appends this process had in flight at once. */
  let most = 0;

  /** The events a decision appended (none here is prepared against a key set). */
  async function written(decision: Promise<EventEnvelope[] | typeof STALE>): Promise<EventEnvelope[]> {
    const events = await decision;
    if (events === STALE) throw new Error('no decision here is prepared against a key set');
    return events;
  }

  /** A decision that records the size of the state it was decided on (and a command id, which the state keeps). */
  const seeing = () =>
    written(
      services.sequencer.decide({
        decide: (state) => {
          decided += 1;
          cause += 1;
          const evidence = { command: JSON.stringify({ id: `cmd-${cause}` }), signature: 'sig' };
          return [inertDraft(cause, { actor: 'test', text: `saw ${state.size}`, evidence })];
        },
        keysVersion: null,
      }),
    );

  async function expectDecidedInOrder(events: readonly EventEnvelope[]) {
    for (const e of events) expect((e.data as { text: string }).text).toBe(`saw ${e.seq}`);
    const size = await log.reader.size();
    const folded = emptyState();
    for await (const e of log.reader.scan(0, size)) evolve(folded, e);
    const state = services.projection.state;
    expect(plain(state)).toEqual(plain(folded));
    // Adopted group after group, not as a layer over each group before (see rebaseDecision).
    expect(state.commands.size).toBeGreaterThan(0);
    expect(Reflect.get(state.commands, 'base')).toBeNull();
  }

  beforeAll(async () => {
    backend = await newBackend('postgres');
    log = await openLog(backend.config, { init: true, clock });
    other = await openLog(backend.config, { clock });
    services = await createServices(log, backend.config, clock);
    const append = log.writer.appendPrepared.bind(log.writer);
    let inFlight = 0;
    log.writer.appendPrepared = (...args) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      return append(...args).finally(() => (inFlight -= 1));
    };
  });

  afterAll(async () => {
    await services.close();
    await other.close();
    await log.close();
    await backend.cleanup();
  });

  it('decides each group on the state the group before it leaves, and the projection ends as a fold of the log', async () => {
    expect(log.writer.pipelined).toBe(true);
    decided = 0;
    const events = (await Promise.all(Array.from({ length: 200 }, seeing))).flat();
    expect(events).toHaveLength(200);
    // Sent while another was in flight, and each written where it was sent: none decided twice.
    expect(most).toBeGreaterThanOrEqual(2);
    expect(decided).toBe(200);
    await expectDecidedInOrder(events);
  });

  it('decides both groups again, in order, when the first finds that another process appended', async () => {
    // Another process appends: this process's projection and cached head are now one event behind.
    await other.writer.append([inertDraft(++cause, { actor: 'test', text: 'from the other process' })]);
    const size = await log.reader.size();
    decided = 0;
    const events = (await Promise.all(Array.from({ length: 32 }, seeing))).flat();
    // The first two groups were decided on the old state and sent; neither was written there.
    expect(decided).toBeGreaterThan(32);
    expect(events.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 32 }, (_, i) => size + i));
    await expectDecidedInOrder(events);
  });

  it('answers a refusal behind a group being written only on the log that holds that group', async () => {
    // The second decision refuses when the first one's event is in its state: it must be decided
    // on a state that holds it, and refused only once that event is in the log.
    let first = -1;
    const a = services.sequencer.decide({
      decide: (state) => {
        first = state.size;
        return [inertDraft(++cause, { actor: 'test', text: `saw ${state.size}` })];
      },
      keysVersion: null,
    });
    const b = services.sequencer.decide({
      decide: (state) => {
        if (state.size > first) throw new Error(`refused at ${state.size}`);
        return [inertDraft(++cause, { actor: 'test', text: `saw ${state.size}` })];
      },
      keysVersion: null,
    });
    const [events, refusal] = await Promise.all([
      written(a),
      b.then(
        () => null,
        (error: unknown) => error,
      ),
    ]);
    expect(refusal).toBeInstanceOf(Error);
    expect((refusal as Error).message).toBe(`refused at ${first + 1}`);
    expect(await log.reader.size()).toBe(first + 1);
    await expectDecidedInOrder(events);
  });

  it('refuses a decision whose events do not fold (CORRUPT_LOG), alone or behind a group, and appends none of it', async () => {
    // A key retired that the log never added: the fold refuses it.
    const fingerprint = 'A'.repeat(40);
    const retired = {
      type: 'SigningKeyRetired',
      v: 1,
      stream: `signing-key/${fingerprint}`,
      actor: 'log',
      data: { fingerprint, reason: 'rotated' },
      evidence: null,
    } as unknown as EventDraft;
    const size = await log.reader.size();
    const alone = await services.sequencer.append([retired]).then(
      () => null,
      (error: unknown) => error,
    );
    expect(alone).toMatchObject({ code: 'CORRUPT_LOG' });
    const [good, behind] = await Promise.allSettled([seeing(), services.sequencer.append([retired])]);
    expect(good.status).toBe('fulfilled');
    expect(behind).toMatchObject({ status: 'rejected', reason: { code: 'CORRUPT_LOG' } });
    expect(await log.reader.size()).toBe(size + 1);
    await expectDecidedInOrder((good as PromiseFulfilledResult<EventEnvelope[]>).value);
  });

  it('refuses an event too large alone (EVENT_TOO_LARGE): the decisions grouped with it are appended', async () => {
    // Four decisions at once: two groups, the first holding the decision whose event is too large.
    const decide = (text: string) =>
      services.sequencer.decide({
        decide: (state) => [inertDraft(++cause, { actor: 'test', text: text || `saw ${state.size}` })],
        keysVersion: null,
      });
    const size = await log.reader.size();
    const answers = await Promise.allSettled([decide(''), decide('x'.repeat(70_000)), decide(''), decide('')]);
    expect(answers[1]).toMatchObject({ status: 'rejected', reason: { code: 'EVENT_TOO_LARGE' } });
    const appended = [answers[0], answers[2], answers[3]].map((a) => {
      expect(a.status).toBe('fulfilled');
      return (a as PromiseFulfilledResult<EventEnvelope[]>).value;
    });
    expect(await log.reader.size()).toBe(size + 3);
    await expectDecidedInOrder(appended.flat());
  });

  it('writes an append decided behind another only right behind it, never on a head of that size made by others', async () => {
    await log.writer.append([inertDraft(++cause, { actor: 'test' })]);
    const size = await log.reader.size();
    // Behind this process's back the log grows by one event.
    await other.writer.append([inertDraft(++cause, { actor: 'test', text: 'from the other process' })]);
    const first = log.writer.append([inertDraft(++cause, { actor: 'test' })], { expectedSize: size });
    const behind = log.writer.sentHead;
    expect(behind).not.toBeNull();
    // Decided on the state `first` would leave: the log now has that size, but not that state.
    const second = log.writer.append([inertDraft(++cause, { actor: 'test', text: 'decided behind' })], {
      expectedSize: size + 1,
      behind: behind!,
    });
    const [a, b] = await Promise.allSettled([first, second]);
    expect(a).toMatchObject({ status: 'rejected', reason: { code: 'LOG_SIZE_CHANGED' } });
    expect(b).toMatchObject({ status: 'rejected', reason: { code: 'LOG_SIZE_CHANGED' } });
    expect(await log.reader.size()).toBe(size + 1);
    // Once the writer made another head (of any size), nothing goes behind the one that failed.
    await log.writer.append([inertDraft(++cause, { actor: 'test' })]);
    const stale = log.writer.append([inertDraft(++cause, { actor: 'test' })], {
      expectedSize: size + 2,
      behind: behind!,
    });
    await expect(stale).rejects.toMatchObject({ code: 'LOG_SIZE_CHANGED' });
    expect(await log.reader.size()).toBe(size + 2);
  });

  it('commits appends in the order they were made when one is made again on a head another process moved', async () => {
    await log.writer.append([inertDraft(++cause, { actor: 'test' })]);
    // Behind this process's back the log grows by one event: X, made on the cached head, is made
    // again on the database's head; Y, sent behind X, waits for it.
    await other.writer.append([inertDraft(++cause, { actor: 'test', text: 'from the other process' })]);
    const size = await log.reader.size();
    const text = (e: EventEnvelope) => (e.data as { text: string }).text;
    // Z is made the moment X is sent on the database's head: after Y, so it must commit after Y.
    const writer = log.writer as unknown as {
      send: (batch: { head: { size: number }; envelopes: EventEnvelope[] }) => Promise<boolean>;
    };
    const send = writer.send.bind(writer);
    let z: Promise<EventEnvelope[]> | null = null;
    writer.send = (batch) => {
      const sent = send(batch);
      if (!z && batch.head.size === size && text(batch.envelopes[0]!) === 'X')
        z = log.writer.append([inertDraft(++cause, { actor: 'test', text: 'Z' })]);
      return sent;
    };
    try {
      const x = log.writer.append([inertDraft(++cause, { actor: 'test', text: 'X' })]);
      const y = log.writer.append([inertDraft(++cause, { actor: 'test', text: 'Y' })]);
      const [[ex], [ey]] = await Promise.all([x, y]);
      expect(z).not.toBeNull();
      const [ez] = await z!;
      expect([ex!.seq, ey!.seq, ez!.seq]).toEqual([size, size + 1, size + 2]);
    } finally {
      Reflect.deleteProperty(writer, 'send');
    }
  });
});
