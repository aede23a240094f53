import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  type EventDraft,
  type EventEnvelope,
  GrowMap,
  type TrustState,
  cloneForDecision,
  draftOf,
  genesisDraft,
  sealEvent,
} from '@signet/domain';
import { AuditError, Replayer, decodeAuditCheckpoint, encodeAuditCheckpoint } from '@signet/audit';

const VKEY = 'audit.test/log+01020304+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=';
const AT = new Date('2026-01-01T00:00:00.000Z');
const FPR = 'A'.repeat(40);
const seal = (draft: EventDraft, seq: number, at = AT): EventEnvelope => sealEvent(draft, seq, at).envelope;
const genesis = (vkey = VKEY) =>
  seal(genesisDraft({ origin: 'audit.test/log', verifierKey: vkey, policy: { ...DEFAULT_POLICY, rootKeys: [] } }), 0);

async function refusal(
  replayer: Replayer,
  event: EventEnvelope,
  verified: Parameters<Replayer['accept']>[1] = null,
): Promise<{ seq: number | null; code: string; message: string }> {
  try {
    await replayer.accept(event, verified);
  } catch (error) {
    expect(error).toBeInstanceOf(AuditError);
    const e = error as AuditError;
    return { seq: e.seq, code: e.code, message: e.message };
  }
  throw new Error('accepted');
}

describe('Replayer: the log’s decisions re-run, each discrepancy named by seq and reason', () => {
  it('takes a genesis naming the pinned key, and refuses one naming another', async () => {
    const replayer = new Replayer(VKEY);
    await replayer.accept(genesis(), null);
    expect(replayer.state.size).toBe(1);
    expect(
      await refusal(
        new Replayer(VKEY),
        genesis('audit.test/log+05060708+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA='),
      ),
    ).toMatchObject({ seq: 0, code: 'BAD_GENESIS' });
    const otherOrigin = seal(
      genesisDraft({ origin: 'other.test/log', verifierKey: VKEY, policy: { ...DEFAULT_POLICY, rootKeys: [] } }),
      0,
    );
    expect(await refusal(new Replayer(VKEY), otherOrigin)).toMatchObject({
      seq: 0,
      code: 'BAD_GENESIS',
      message: expect.stringMatching(/created as other\.test\/log/),
    });
  });

  it('refuses events out of order, events no rule writes, and outcomes the rules do not allow', async () => {
    const replayer = new Replayer(VKEY);
    await replayer.accept(genesis(), null);
    const member = draftOf({ type: 'MemberRemoved', v: 1, data: { fingerprint: FPR } }, `member/${FPR}`, FPR, null);
    expect(await refusal(replayer, seal(member, 5))).toMatchObject({ seq: 5, code: 'OUT_OF_ORDER' });
    expect(await refusal(replayer, seal(member, 1))).toMatchObject({
      seq: 1,
      code: 'UNEXPECTED_EVENT',
      message: expect.stringMatching(/no signed command/),
    });
    const activated = draftOf(
      { type: 'SigningKeyActivated', v: 1, data: { fingerprint: FPR, activeFrom: AT.toISOString() } },
      `signing-key/${FPR}`,
      'log',
      null,
    );
    expect(await refusal(replayer, seal(activated, 1))).toMatchObject({
      seq: 1,
      code: 'UNEXPECTED_EVENT',
      message: expect.stringMatching(/the activation: the rules give no event here/),
    });
    const posted = draftOf(
      {
        type: 'AnnouncementPosted',
        v: 1,
        data: {
          fingerprint: FPR,
          kind: 'ADDING',
          channel: 'atom',
          url: 'https://x.example/1',
          text: 'ADDING …',
          cause: 0,
        },
      },
      `signing-key/${FPR}`,
      'log',
      null,
    );
    expect(await refusal(replayer, seal(posted, 1))).toMatchObject({
      seq: 1,
      code: 'UNEXPECTED_EVENT',
      message: expect.stringMatching(/calls for none/),
    });
    const authorized = draftOf(
      { type: 'SigningKeyAuthorized', v: 1, data: { fingerprint: FPR, authorizedBy: [] } },
      `signing-key/${FPR}`,
      'log',
      null,
    );
    expect(await refusal(replayer, seal(authorized, 1))).toMatchObject({ seq: 1, code: 'UNEXPECTED_EVENT' });
    const archive = (treeSize: number) =>
      draftOf(
        {
          type: 'ArchiveSnapshotTaken',
          v: 1,
          data: { treeSize, listing: 'a'.repeat(64), raw: 'b'.repeat(64), keys: {}, triggers: [], cause: 0 },
        },
        'archive',
        'log',
        null,
      );
    expect(await refusal(replayer, seal(archive(5), 1))).toMatchObject({
      seq: 1,
      code: 'EVENT_MISMATCH',
      message: expect.stringMatching(/size 5 for seq 0 cannot be taken at seq 1/),
    });
    // The log's time only moves forward, and not past the auditor's.
    const earlier = draftOf({ type: 'MemberRemoved', v: 1, data: { fingerprint: FPR } }, `member/${FPR}`, FPR, null);
    expect(await refusal(replayer, seal(earlier, 1, new Date(AT.getTime() - 1)))).toMatchObject({
      seq: 1,
      code: 'TIME_WENT_BACK',
    });
    expect(await refusal(replayer, seal(earlier, 1, new Date(Date.now() + 86_400_000)))).toMatchObject({
      seq: 1,
      code: 'FUTURE_EVENT',
    });
    // Nothing was folded in by a refused event.
    expect(replayer.state.size).toBe(1);
  });

  it('refuses a command whose evidence does not verify, or verifies as another key’s', async () => {
    const replayer = new Replayer(VKEY);
    await replayer.accept(genesis(), null);
    const command = draftOf({ type: 'MemberRemoved', v: 1, data: { fingerprint: FPR } }, `member/${FPR}`, FPR, {
      command: '{}',
      signature: 'sig',
    });
    expect(
      await refusal(replayer, seal(command, 1), {
        ok: false,
        code: 'BAD_SIGNATURE',
        message: 'the signature does not verify',
      }),
    ).toMatchObject({ seq: 1, code: 'BAD_EVIDENCE' });
    expect(
      await refusal(replayer, seal(command, 1), {
        ok: true,
        signer: 'B'.repeat(40),
        created: AT.toISOString(),
        digest: 'SHA512',
        text: null,
      }),
    ).toMatchObject({
      code: 'BAD_EVIDENCE',
      message: expect.stringMatching(/signed by B{40}, the event names A{40}/),
    });
    expect(
      await refusal(replayer, seal(command, 1), {
        ok: true,
        signer: FPR,
        created: AT.toISOString(),
        digest: 'SHA512',
        text: null,
      }),
    ).toMatchObject({ code: 'BAD_EVIDENCE', message: expect.stringMatching(/cannot be read/) });
  });

  it('keeps what it needs to resume: the state (maps and sets) and its memory come back exactly', async () => {
    const replayer = new Replayer(VKEY);
    await replayer.accept(genesis(), null);
    replayer.state.outcomes.add('archive/0');
    replayer.state.commands.set('c1', { commandSha256: 'ab'.repeat(32), seqs: [1] });
    replayer.state.published.add('m\u0000core\u00001.0\u0000ab');
    const text = encodeAuditCheckpoint({
      origin: 'audit.test/log',
      verifierKey: VKEY,
      checkpoint: 'note',
      size: 1,
      tree: { size: 1, frontier: [new Uint8Array(32).fill(3)], pending: [[new Uint8Array(32).fill(3)]] },
      state: replayer.state,
      memory: replayer.memory(),
    });
    const back = decodeAuditCheckpoint(text);
    expect(back.state).toEqual(replayer.state);
    expect(back.memory).toEqual(replayer.memory());
    expect(Buffer.from(back.tree.frontier[0]!).toString('hex')).toBe('03'.repeat(32));
    expect(() => decodeAuditCheckpoint('{"format":"other"}')).toThrow(/signet-audit-checkpoint/);
    expect(() => decodeAuditCheckpoint('not json')).toThrow(AuditError);
  });

  it('resumes from a file saved before the members and keys became grow-only maps', async () => {
    const replayer = new Replayer(VKEY);
    await replayer.accept(genesis(), null);
    const member = {
      fingerprint: 'A'.repeat(40),
      username: 'alice',
      role: 'leader',
      key: 'k',
      addedAt: 'x',
      removedAt: null,
    };
    // What such a file holds: both as plain Maps, tagged 'map'.
    const old = {
      ...replayer.state,
      members: new Map([[member.fingerprint, member]]),
      signingKeys: new Map(),
    } as unknown as TrustState;
    const text = encodeAuditCheckpoint({
      origin: 'audit.test/log',
      verifierKey: VKEY,
      checkpoint: 'note',
      size: 1,
      tree: { size: 1, frontier: [new Uint8Array(32)], pending: [] },
      state: old,
      memory: replayer.memory(),
    });
    expect(text).toContain('"map"');
    const back = decodeAuditCheckpoint(text);
    expect(back.state.members).toBeInstanceOf(GrowMap);
    expect(back.state.signingKeys).toBeInstanceOf(GrowMap);
    expect([...back.state.members.values()]).toEqual([member]);
    // A decision's copy of it works (a continuity check makes one).
    const copy = cloneForDecision(back.state);
    expect(copy.members.get(member.fingerprint)).toEqual(member);
  });
});
