import { describe, expect, it } from 'vitest';
import {
  type EventDraft,
  GrowMap,
  KeySet,
  type TrustState,
  adoptDecision,
  cloneForDecision,
  draftOf,
  emptyState,
  evolve,
  rebaseDecision,
  signingKeyStream,
} from '@signet/domain';
import { LEADER, keyDrafts, keyFpr } from '../../../test/support/workers.js';

// The sequencer folds a group's events into a copy of the state (cloneForDecision) while it
// decides them; once they are in the log, the projection adopts the copy instead of folding
// them again. Adopting must leave the state exactly as folding would.

const AT = '2026-01-02T00:00:00.000Z';

function fold(state: TrustState, drafts: readonly EventDraft[]): void {
  for (const d of drafts) evolve(state, { ...d, seq: state.size, recordedAt: AT });
}

/** The whole state as plain data: maps and layered collections as arrays. */
function plain(state: TrustState): unknown {
  return JSON.parse(
    JSON.stringify(state, (_, v) => (v instanceof Map ? [...v] : v instanceof Set ? [...v] : v)),
  ) as unknown;
}

function published(i: number): EventDraft {
  const fingerprint = keyFpr(i);
  return draftOf(
    {
      type: 'PackageSignaturePublished',
      v: 1,
      data: {
        package: `pkg${i}`,
        version: '1.0.0',
        signer: fingerprint,
        artifactSha512: 'ab'.repeat(64),
        artifactSize: 10,
        signatureCreated: AT,
        signature: 'sig',
      },
    },
    `package/pkg${i}`,
    fingerprint,
    { command: JSON.stringify({ id: `cmd-${i}` }), signature: 'sig' },
  );
}

/** Groups of events that add keys, publish by them (growing their history) and retire one. */
function someGroups(): EventDraft[][] {
  return [
    keyDrafts(0, 3, true),
    [...keyDrafts(3, 2, false), published(0), published(1)],
    [published(3), published(0)],
    [
      draftOf(
        { type: 'SigningKeyRetired', v: 1, data: { fingerprint: keyFpr(1), reason: 'rotated' } },
        signingKeyStream(keyFpr(1)),
        LEADER,
        null,
      ),
      published(4),
    ],
  ];
}

describe('adoptDecision', () => {
  it('leaves the state as folding the same events would, group after group', () => {
    const groups = someGroups();
    const folded = emptyState();
    const adopted = emptyState();
    for (const group of groups) {
      fold(folded, group);
      const work = cloneForDecision(adopted);
      fold(work, group);
      adoptDecision(adopted, work);
      expect(plain(adopted)).toEqual(plain(folded));
    }
    expect(adopted.packageSignatures.length).toBe(5);
    expect(adopted.signingKeys.get(keyFpr(0))!.history.toArray()).toEqual(
      folded.signingKeys.get(keyFpr(0))!.history.toArray(),
    );
  });

  it('keeps the same state object, so holders of it see the adopted events', () => {
    const state = emptyState();
    const held = state;
    const work = cloneForDecision(state);
    fold(work, keyDrafts(0, 1, true));
    adoptDecision(state, work);
    expect(held.size).toBe(work.size);
    expect(held.signingKeys.has(keyFpr(0))).toBe(true);
  });

  it('a copy shares records until it changes one; the original never sees the change', () => {
    const state = emptyState();
    fold(state, keyDrafts(0, 2, true));
    const before = plain(state);
    const work = cloneForDecision(state);
    expect(work.signingKeys.get(keyFpr(1))).toBe(state.signingKeys.get(keyFpr(1)));
    const stream = signingKeyStream(keyFpr(0));
    fold(work, [
      draftOf(
        { type: 'MemberRoleChanged', v: 1, data: { fingerprint: LEADER, role: 'member', previousRole: 'leader' } },
        `member/${LEADER}`,
        LEADER,
        null,
      ),
      draftOf(
        {
          type: 'SigningKeyCertificationRevoked',
          v: 1,
          data: { fingerprint: keyFpr(0), certifier: LEADER, via: 'command' },
        },
        stream,
        LEADER,
        null,
      ),
      draftOf({ type: 'SigningKeyRetired', v: 1, data: { fingerprint: keyFpr(0), reason: 'x' } }, stream, LEADER, null),
    ]);
    expect(plain(state)).toEqual(before);
    expect(work.members.get(LEADER)!.role).toBe('member');
    expect(work.signingKeys.get(keyFpr(0))!.certifications[LEADER]!.revoked).toBe(true);
    expect(work.signingKeys.get(keyFpr(0))!.history.length).toBe(state.signingKeys.get(keyFpr(0))!.history.length + 2);
    // Untouched records are still shared: the copy did not pay for them.
    expect(work.signingKeys.get(keyFpr(1))).toBe(state.signingKeys.get(keyFpr(1)));
  });

  it('a copy lists members and keys in the order folding into the original would', () => {
    const state = emptyState();
    fold(state, keyDrafts(0, 3, true));
    const folded = emptyState();
    fold(folded, keyDrafts(0, 3, true));
    const group = [
      ...keyDrafts(3, 1, false),
      draftOf(
        { type: 'SigningKeyRetired', v: 1, data: { fingerprint: keyFpr(1), reason: 'rotated' } },
        signingKeyStream(keyFpr(1)),
        LEADER,
        null,
      ),
      draftOf(
        { type: 'MemberRoleChanged', v: 1, data: { fingerprint: LEADER, role: 'member', previousRole: 'leader' } },
        `member/${LEADER}`,
        LEADER,
        null,
      ),
    ];
    const work = cloneForDecision(state);
    fold(work, group);
    fold(folded, group);
    // A changed record stays where it was; a new one comes last, as in a Map.
    expect([...work.signingKeys].map(([k]) => k)).toEqual([...folded.signingKeys].map(([k]) => k));
    expect([...work.signingKeys.values()]).toEqual(
      [...folded.signingKeys.values()].map((k) =>
        expect.objectContaining({ fingerprint: k.fingerprint, retiredAt: k.retiredAt }),
      ),
    );
    expect([...work.members.values()].map((m) => [m.fingerprint, m.role])).toEqual(
      [...folded.members.values()].map((m) => [m.fingerprint, m.role]),
    );
    expect(work.signingKeys.size).toBe(folded.signingKeys.size);
    expect(work.members.size).toBe(folded.members.size);
    // A copy of the copy (a continuity check) lists them the same way.
    const deeper = cloneForDecision(work);
    expect([...deeper.signingKeys].map(([k]) => k)).toEqual([...folded.signingKeys].map(([k]) => k));
    // The original is untouched until the copy is adopted, and then lists them as folding did.
    expect(state.signingKeys.size).toBe(3);
    adoptDecision(state, work);
    expect(plain(state)).toEqual(plain(folded));
  });

  it('adopts a group decided behind another (a copy of its copy) once rebased, with no layer left over', () => {
    // Keys 0 and 1 gain history in consecutive groups: a history layered over a layer.
    const groups = someGroups();
    groups.splice(3, 0, [published(0), published(1), published(2)]);
    const folded = emptyState();
    const adopted = emptyState();
    // As the sequencer does on Postgres: group i + 1 is decided on group i's copy before group i
    // is adopted, then rebased onto the state that adopted group i, then adopted in turn.
    let front: TrustState | null = null;
    for (const group of groups) {
      const work = cloneForDecision(front ?? adopted);
      fold(work, group);
      if (front) {
        adoptDecision(adopted, front);
        rebaseDecision(work, adopted);
      }
      front = work;
    }
    adoptDecision(adopted, front!);
    for (const group of groups) fold(folded, group);
    expect(plain(adopted)).toEqual(plain(folded));
    // Every collection of the state is whole again, not a layer over another (a chain would grow
    // by one with each group and make every lookup walk it).
    const layered = (c: object) => Reflect.get(c, 'base') !== null;
    const { members, signingKeys, packageSignatures, moduleSignatures, published: ids, commands, outcomes } = adopted;
    for (const c of [members, signingKeys, packageSignatures, moduleSignatures, ids, commands, outcomes])
      expect(layered(c)).toBe(false);
    for (const key of adopted.signingKeys.values()) expect(layered(key.history)).toBe(false);
    expect(adopted.signingKeys.get(keyFpr(0))!.history.toArray()).toEqual(
      folded.signingKeys.get(keyFpr(0))!.history.toArray(),
    );
  });

  it('a copy read through a layer since collapsed counts each key once', () => {
    const base = new KeySet();
    base.add('a');
    const first = base.layer();
    first.add('b');
    const second = first.layer();
    second.add('c');
    first.collapse(); // its keys now in `base` too, while `second` still reads through it
    expect([...second].sort()).toEqual(['a', 'b', 'c']);
    expect(second.size).toBe(3);
    const map = new GrowMap<string, number>();
    map.set('a', 1);
    const m1 = map.layer();
    m1.set('b', 2);
    const m2 = m1.layer();
    m1.collapse();
    expect([...m2]).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(m2.size).toBe(2);
  });
});
