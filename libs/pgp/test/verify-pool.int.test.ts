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

  it('holds at most so many keys per thread, forgetting the least recently used, and sends one again when needed', async () => {
    const others = ['Quinn', 'Rae', 'Sam'].map((name) => {
      const fingerprint = gpg.genKey(`${name} <${name.toLowerCase()}@example.org>`, 'ed25519', day(-30));
      return {
        key: { fingerprint, armored: gpg.exportKey(fingerprint) },
        signature: gpg.detachSign(fingerprint, Buffer.from(data), day(-5)),
      };
    });
    const all = [{ key: plain, signature }, ...others];
    const pool = new VerifyPool(1, 2);
    try {
      // One turn of the event loop (one batch) naming four keys, the first twice: the thread is
      // told to forget keys in the same order, after the tasks that used them took them.
      const asked = [...all, all[0]!].map(({ key, signature: sig }) =>
        pool.verify({ kind: 'detached', data, signature: sig, keys: [key] }),
      );
      expect((await Promise.all(asked)).map((a) => a.ok)).toEqual([true, true, true, true, true]);
      expect(pool.keysHeld()).toEqual([2]);
      // Then one at a time, each key forgotten and sent again in turn.
      for (const { key, signature: sig } of [...all, ...all])
        expect((await pool.verify({ kind: 'detached', data, signature: sig, keys: [key] })).ok).toBe(true);
      expect(pool.keysHeld()).toEqual([2]);
      // A wrong signature is still refused with a forgotten-then-resent key.
      expect((await pool.verify({ kind: 'detached', data, signature: others[0]!.signature, keys: [plain] })).ok).toBe(
        false,
      );
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
