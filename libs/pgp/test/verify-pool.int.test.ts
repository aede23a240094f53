import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeyRef, VerifyPool } from '@signet/pgp';
import { Gpg } from '../../../test/support/gpg.js';

// The verification threads as the server and the audit use them (the built worker, real GnuPG).

const day = (n: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + n * 86_400_000);

describe('VerifyPool', () => {
  const gpg = new Gpg();
  let fpr: string;
  let plain: KeyRef;
  let revoked: KeyRef;
  const data = new TextEncoder().encode('{"type":"ChangeMemberRole"}');
  let signature: string;
  beforeAll(() => {
    fpr = gpg.genKey('Pat <pat@example.org>', 'ed25519', day(-30));
    signature = gpg.detachSign(fpr, Buffer.from(data), day(-5));
    plain = { fingerprint: fpr, armored: gpg.exportKey(fpr) };
    gpg.importKey(gpg.genRevoke(fpr, 1, 'lost laptop', day(-3)));
    revoked = { fingerprint: fpr, armored: gpg.exportKey(fpr) };
  }, 60_000);
  afterAll(() => gpg.remove());

  it('checks each task with the key text it came with, when the text changes within one batch', async () => {
    const pool = new VerifyPool(1);
    try {
      // Asked in the same turn of the event loop: one message to the one thread.
      const asked = [revoked, plain, revoked, plain].map((key) =>
        pool.verify({ kind: 'detached', data, signature, keys: [key] }),
      );
      const answers = await Promise.all(asked);
      expect(answers.map((a) => a.ok)).toEqual([false, true, false, true]);
      expect(answers[0]).toMatchObject({ ok: false, code: 'BAD_SIGNATURE', message: expect.stringMatching(/revoked/) });
      // And in separate turns, with the text the thread holds already.
      expect((await pool.verify({ kind: 'detached', data, signature, keys: [plain] })).ok).toBe(true);
      expect((await pool.verify({ kind: 'detached', data, signature, keys: [revoked] })).ok).toBe(false);
    } finally {
      await pool.close();
    }
  });

  it('answers many tasks batched across threads, each with its own verdict', async () => {
    const pool = new VerifyPool(2);
    try {
      const other = new TextEncoder().encode('{"type":"AddMember"}');
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          pool.verify({ kind: 'detached', data: i % 3 === 0 ? other : data, signature, keys: [plain] }),
        ),
      );
      answers.forEach((a, i) => expect(a.ok, `task ${i}`).toBe(i % 3 !== 0));
    } finally {
      await pool.close();
    }
  });
});
