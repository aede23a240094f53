import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type LogCreated, genesisDifferences } from '@signet/domain';

const A = 'A'.repeat(40);
const B = 'B'.repeat(40);
const genesis: LogCreated['data'] = {
  origin: 'signet.example.org/log',
  verifierKey: 'signet.example.org/log+00000000+AA',
  policy: {
    ...DEFAULT_POLICY,
    waitingPeriodDays: 7,
    rootKeys: [
      { fingerprint: A, key: '' },
      { fingerprint: B, key: '' },
    ],
  },
};

describe('genesisDifferences: what an init asks of an existing log', () => {
  it('finds none when nothing is asked, or what is asked is what the log has (root keys in any order)', () => {
    expect(genesisDifferences(genesis, {})).toEqual([]);
    expect(
      genesisDifferences(genesis, {
        origin: 'signet.example.org/log',
        rootKeys: [B, A.toLowerCase(), A],
        policy: { waitingPeriodDays: 7, allowEd25519: false, signingKeyComment: 'CODE SIGNING KEY' },
      }),
    ).toEqual([]);
  });

  it('names each setting that differs, with what the log has and what was asked', () => {
    expect(
      genesisDifferences(genesis, {
        origin: 'other.example/log',
        rootKeys: [A],
        policy: { waitingPeriodDays: 3, authorizationsRequired: 1, signingKeyComment: '' },
      }),
    ).toEqual([
      { setting: 'origin', logHas: '"signet.example.org/log"', asked: '"other.example/log"' },
      { setting: 'rootKeys', logHas: `${A}, ${B}`, asked: A },
      { setting: 'waitingPeriodDays', logHas: '7', asked: '3' },
      { setting: 'signingKeyComment', logHas: '"CODE SIGNING KEY"', asked: '""' },
    ]);
    expect(genesisDifferences({ ...genesis, policy: { ...genesis.policy, rootKeys: [] } }, { rootKeys: [A] })).toEqual([
      { setting: 'rootKeys', logHas: '(none)', asked: A },
    ]);
  });
});
