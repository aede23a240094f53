import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyRevocationCertificate,
  certificationsBy,
  factsOf,
  keyInput,
  readPublicKey,
  revocationCertificateIssuer,
} from '@signet/pgp';
import { Gpg } from '../../../test/support/gpg.js';

// Key revocations and certifications exactly as GnuPG writes them.

const day = (n: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + n * 86_400_000);

describe('revocations and certifications from GnuPG', () => {
  const gpg = new Gpg();
  const fpr: Record<string, string> = {};
  beforeAll(() => {
    fpr.alice = gpg.genKey('Alice <alice@example.org>', 'ed25519', day(-30));
    fpr.eve = gpg.genKey('Eve (CODE SIGNING KEY) <eve@example.org>', 'ed25519', day(-30));
    fpr.other = gpg.genKey('Other (CODE SIGNING KEY) <other@example.org>', 'ed25519', day(-30));
  });
  afterAll(() => gpg.remove());

  it('reads a gpg --gen-revoke certificate, applied to the key or imported and exported with it', async () => {
    const cert = gpg.genRevoke(fpr.eve!, 1, 'laptop stolen', day(3));
    expect(cert).toContain('-----BEGIN PGP PUBLIC KEY BLOCK-----');
    expect(await revocationCertificateIssuer(cert)).toBe(fpr.eve!.slice(-16));
    expect(await revocationCertificateIssuer(gpg.exportKey(fpr.eve!))).toBeNull();
    expect(await revocationCertificateIssuer('garbage')).toBeNull();
    const eve = (await readPublicKey(gpg.exportKey(fpr.eve!))).key;
    expect((await factsOf(eve)).revocation).toBeNull();
    const applied = await factsOf(await applyRevocationCertificate(eve, cert));
    const expected = { created: day(3).toISOString(), reason: 'compromised', description: 'laptop stolen' };
    expect(applied).toMatchObject({ fingerprint: fpr.eve, selfRevoked: true, revocation: expected });
    const other = (await readPublicKey(gpg.exportKey(fpr.other!))).key;
    await expect(applyRevocationCertificate(other, cert)).rejects.toMatchObject({ code: 'BAD_REVOCATION' });
    // imported into the keyring and exported with the key: the same facts
    gpg.importKey(cert);
    expect((await readPublicKey(gpg.exportKey(fpr.eve!))).facts.revocation).toEqual(expected);
  });

  it('tells the reasons apart: superseded and no longer used', async () => {
    const other = (await readPublicKey(gpg.exportKey(fpr.other!))).key;
    for (const [menu, reason] of [
      [2, 'superseded'],
      [3, 'retired'],
      [0, 'unspecified'],
    ] as const) {
      const cert = gpg.genRevoke(fpr.other!, menu, 'rotating', day(4));
      expect((await factsOf(await applyRevocationCertificate(other, cert))).revocation).toMatchObject({
        reason,
        created: day(4).toISOString(),
      });
    }
  });

  it('keyInput applies a standalone certificate to the logged key it names', async () => {
    const cert = gpg.genRevoke(fpr.other!, 1, 'stolen', day(5));
    const other = (await readPublicKey(gpg.exportKey(fpr.other!))).key;
    const input = await keyInput(cert, [], async (issuer) =>
      other.getFingerprint().toUpperCase().endsWith(issuer) ? other : undefined,
    );
    expect(input.facts).toMatchObject({ fingerprint: fpr.other, revocation: { reason: 'compromised' } });
    await expect(keyInput(cert, [], async () => undefined)).rejects.toMatchObject({ code: 'UNKNOWN_SIGNING_KEY' });
  });

  it('reports a certification whose signature does not verify (the log refuses it), and leaves it out otherwise', async () => {
    gpg.certify(fpr.alice!, fpr.other!, day(1));
    const alice = (await readPublicKey(gpg.exportKey(fpr.alice!))).key;
    const good = (await readPublicKey(gpg.exportKey(fpr.other!))).key;
    expect(await certificationsBy(good, [alice], { includeInvalid: true })).toMatchObject([
      { certifier: fpr.alice, valid: true },
    ]);
    // change the certification's hash prefix: its signature no longer verifies
    const forged = (await openpgp.readKey({ armoredKey: good.armor() })) as openpgp.PublicKey;
    const cert = forged.users[0]!.otherCertifications[0]! as unknown as { signedHashValue: Uint8Array };
    cert.signedHashValue = Uint8Array.from(cert.signedHashValue, (b) => b ^ 0xff);
    const reread = (await readPublicKey(forged.armor())).key;
    expect(await certificationsBy(reread, [alice], { includeInvalid: true })).toMatchObject([
      { certifier: fpr.alice, valid: false },
    ]);
    expect(await certificationsBy(reread, [alice])).toEqual([]);
  });
});
