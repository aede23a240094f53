import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificationsBy, groupFingerprint, readPublicKey, verifyCleartext, verifyDetached } from '@signet/pgp';
import { Gpg } from '../../../test/support/gpg.js';

// libs/pgp against what real GnuPG writes.

const day = (n: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + n * 86_400_000);

describe('OpenPGP facts from GnuPG output', () => {
  const gpg = new Gpg();
  const fpr: Record<string, string> = {};
  beforeAll(() => {
    fpr.bob = gpg.genKey('Bob <bob@example.org>', 'ed25519', day(-30));
    fpr.mal = gpg.genKey('Mal <mal@example.org>', 'ed25519', day(-30));
    fpr.rsa = gpg.genKey('Eve (CODE SIGNING KEY) <eve@example.org>', 'rsa2048', day(-30));
  });
  afterAll(() => gpg.remove());

  it('reads a key: fingerprint, algorithm, size, user IDs', async () => {
    const { facts } = await readPublicKey(gpg.exportKey(fpr.rsa!));
    expect(facts).toMatchObject({
      fingerprint: fpr.rsa,
      algorithm: 'rsa',
      bits: 2048,
      userIds: [{ name: 'Eve', comment: 'CODE SIGNING KEY', email: 'eve@example.org' }],
      selfRevoked: false,
    });
    expect(groupFingerprint(facts.fingerprint)).toMatch(/^([0-9A-F]{4} ){9}[0-9A-F]{4}$/);
    expect((await readPublicKey(gpg.exportKey(fpr.bob!))).facts).toMatchObject({ algorithm: 'ed25519' });
  });

  it('refuses garbage, truncated, private and multiple keys', async () => {
    const armored = gpg.exportKey(fpr.bob!);
    for (const bad of [
      '',
      'garbage',
      armored.slice(0, armored.length / 2),
      gpg.run(['--armor', '--export-secret-keys', fpr.bob!]),
      gpg.run(['--armor', '--export', fpr.bob!, fpr.mal!]),
      'x'.repeat(300_000),
    ]) {
      await expect(readPublicKey(bad)).rejects.toMatchObject({ code: 'BAD_KEY' });
    }
  });

  it('finds certifications by known keys, and their revocation by gpg --quick-revoke-sig', async () => {
    gpg.certify(fpr.bob!, fpr.rsa!, day(1));
    gpg.certify(fpr.mal!, fpr.rsa!, day(1));
    const bob = (await readPublicKey(gpg.exportKey(fpr.bob!))).key;
    let key = (await readPublicKey(gpg.exportKey(fpr.rsa!))).key;
    expect(await certificationsBy(key, [bob])).toEqual([
      {
        certifier: fpr.bob,
        userId: 'Eve (CODE SIGNING KEY) <eve@example.org>',
        created: day(1).toISOString(),
        digest: expect.any(String),
        revoked: false,
        valid: true,
      },
    ]);
    gpg.revokeCertification(fpr.bob!, fpr.rsa!, day(2));
    key = (await readPublicKey(gpg.exportKey(fpr.rsa!))).key;
    expect((await certificationsBy(key, [bob])).map((c) => c.revoked)).toEqual([true]);
  });

  it('verifies detached signatures and refuses SHA-1, weak digests, unknown signers and forgeries', async () => {
    const bob = (await readPublicKey(gpg.exportKey(fpr.bob!))).key;
    const data = Buffer.from('package bytes');
    const sig = gpg.detachSign(fpr.bob!, data, day(3));
    expect(await verifyDetached(data, sig, [bob], 'SHA512')).toEqual({
      signer: fpr.bob,
      created: day(3).toISOString(),
      digest: 'SHA512',
    });
    await expect(verifyDetached(Buffer.from('other bytes'), sig, [bob])).rejects.toMatchObject({
      code: 'BAD_SIGNATURE',
    });
    await expect(verifyDetached(data, gpg.detachSign(fpr.bob!, data, day(3), 'SHA1'), [bob])).rejects.toMatchObject({
      code: 'SHA1_REFUSED',
    });
    await expect(
      verifyDetached(data, gpg.detachSign(fpr.bob!, data, day(3), 'SHA256'), [bob], 'SHA512'),
    ).rejects.toMatchObject({ code: 'WEAK_DIGEST' });
    await expect(verifyDetached(data, gpg.detachSign(fpr.mal!, data, day(3)), [bob])).rejects.toMatchObject({
      code: 'UNKNOWN_SIGNER',
    });
    for (const bad of ['', 'garbage', sig.slice(0, 60), 'x'.repeat(20_000)])
      await expect(verifyDetached(data, bad, [bob])).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
  });

  it('verifies clear-signed text as gpg --clearsign writes it', async () => {
    const bob = (await readPublicKey(gpg.exportKey(fpr.bob!))).key;
    const text = '[config]\nversion=1\nhash=sha256\n[hashes]\nmodule.xml = ' + 'a'.repeat(64) + '\n';
    const signed = gpg.clearSign(fpr.bob!, text, day(4));
    const result = await verifyCleartext(signed, [bob]);
    expect(result).toMatchObject({ signer: fpr.bob, created: day(4).toISOString(), digest: 'SHA512' });
    expect(result.text.trimEnd()).toBe(text.trimEnd());
    await expect(verifyCleartext(signed.replace('version=1', 'version=2'), [bob])).rejects.toMatchObject({
      code: 'BAD_SIGNATURE',
    });
    await expect(verifyCleartext(gpg.clearSign(fpr.bob!, text, day(4), 'SHA1'), [bob])).rejects.toMatchObject({
      code: 'SHA1_REFUSED',
    });
    await expect(verifyCleartext('not signed', [bob])).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
  });
});
