import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPublicKey, readPublicKeys } from '@signet/pgp';
import { Gpg } from '../../../test/support/gpg.js';

// Keyring files as GnuPG writes them and as people assemble them: `gpg --import` reads every
// armored block of a file (and binary keyrings), so Signet must too.

const day = (n: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + n * 86_400_000);
const fingerprints = (keys: { getFingerprint(): string }[]) => keys.map((k) => k.getFingerprint().toUpperCase());

describe('keyring files: every block, as gpg --import reads them', () => {
  const gpg = new Gpg();
  const fpr: Record<string, string> = {};
  /** The revocation certificate gpg writes when it makes a key (openpgp-revocs.d), made usable. */
  const revocationOf = (f: string) =>
    readFileSync(join(gpg.home, 'openpgp-revocs.d', `${f}.rev`), 'utf8').replace(/^:-----BEGIN/m, '-----BEGIN');
  beforeAll(() => {
    Object.assign(
      fpr,
      gpg.genKeys(
        {
          a: ['A <a@example.org>', 'ed25519'],
          b: ['B <b@example.org>', 'ed25519'],
          c: ['C <c@example.org>', 'ed25519'],
        },
        day(-30),
      ),
    );
  });
  afterAll(() => gpg.remove());

  it('reads the same keys from cat a.asc b.asc, gpg --export --armor A B and gpg --export A B', async () => {
    const concatenated = gpg.exportKey(fpr.a!) + gpg.exportKey(fpr.b!);
    const exported = gpg.run(['--armor', '--export', fpr.a!, fpr.b!]);
    const binary = new Uint8Array(gpg.exportBinary(fpr.a!, fpr.b!));
    for (const input of [concatenated, exported, binary, Buffer.from(concatenated)]) {
      expect(fingerprints(await readPublicKeys(input, 'ring.asc'))).toEqual([fpr.a, fpr.b]);
    }
    // Text around and between the blocks (a mail, a web page) is ignored, as gpg ignores it.
    const mail = `Hello,\n\nhere are our keys.\n\n${gpg.exportKey(fpr.a!)}\nand\n\n${gpg.run(['--armor', '--export', fpr.b!, fpr.c!])}-- \nBye\n`;
    expect(fingerprints(await readPublicKeys(mail, 'mail.txt'))).toEqual([fpr.a, fpr.b, fpr.c]);
    // CRLF line ends (a file saved on Windows).
    expect(fingerprints(await readPublicKeys(concatenated.replace(/\n/g, '\r\n'), 'ring.asc'))).toEqual([fpr.a, fpr.b]);
  });

  it('merges a key given twice, as gpg merges an import into the key it has', async () => {
    const before = gpg.exportKey(fpr.c!);
    gpg.certify(fpr.a!, fpr.c!, day(1));
    const after = gpg.exportKey(fpr.c!);
    const keys = await readPublicKeys(before + after, 'ring.asc');
    expect(fingerprints(keys)).toEqual([fpr.c]);
    expect(keys[0]!.users[0]!.otherCertifications).toHaveLength(1);
  });

  it('applies a revocation certificate to the key of the same file it revokes', async () => {
    const keys = await readPublicKeys(gpg.exportKey(fpr.a!) + revocationOf(fpr.b!) + gpg.exportKey(fpr.b!), 'ring.asc');
    expect(fingerprints(keys)).toEqual([fpr.a, fpr.b]);
    expect([await keys[0]!.isRevoked(), await keys[1]!.isRevoked()]).toEqual([false, true]);
    await expect(readPublicKeys(gpg.exportKey(fpr.a!) + revocationOf(fpr.b!), 'ring.asc')).rejects.toMatchObject({
      code: 'BAD_KEY',
      message: expect.stringMatching(
        /^ring\.asc: block 2 is a revocation certificate for key [0-9A-F]{16}, which this file does not hold/,
      ),
    });
  });

  it('refuses a file with no usable key, a private key, a truncated or unreadable block — saying which', async () => {
    const a = gpg.exportKey(fpr.a!);
    const cases: [string | Uint8Array, RegExp][] = [
      ['', /^ring\.asc holds no OpenPGP public key/],
      ['just some text\n', /^ring\.asc holds no OpenPGP public key/],
      [new Uint8Array([1, 2, 3, 4]), /^ring\.asc holds no OpenPGP public key/],
      [gpg.run(['--armor', '--export-secret-keys', fpr.a!]), /^ring\.asc: block 1 is a private key/],
      [a + gpg.run(['--armor', '--export-secret-keys', fpr.b!]), /^ring\.asc: block 2 is a private key/],
      [a + a.slice(0, a.length / 2), /^ring\.asc: block 2 has no "-----END PGP PUBLIC KEY BLOCK-----" line/],
      [
        a.replace(/-----END PGP PUBLIC KEY BLOCK-----\n/, '') + a,
        /^ring\.asc: block 1 has no "-----END PGP PUBLIC KEY BLOCK-----" line/,
      ],
      [a.slice(0, a.length / 2) + a, /^ring\.asc: block 1 cannot be read/],
      [
        a + a.replace(/-----BEGIN PGP PUBLIC KEY BLOCK-----\n/, ''),
        /^ring\.asc: an "-----END PGP PUBLIC KEY BLOCK-----" line without its BEGIN line after block 1/,
      ],
      [a + a.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!'), /^ring\.asc: block 2 cannot be read/],
      [new Uint8Array([0x99, 0x00, 0x05, 1, 2, 3, 4, 5]), /^ring\.asc is not a readable binary keyring/],
      ['x'.repeat(5 * 1024 * 1024), /^ring\.asc is larger than/],
    ];
    for (const [input, message] of cases) {
      await expect(readPublicKeys(input, 'ring.asc'), String(message)).rejects.toMatchObject({
        code: 'BAD_KEY',
        message: expect.stringMatching(message),
      });
    }
  });

  it('refuses two blocks where exactly one key is expected (a command field), rather than taking the first', async () => {
    const a = gpg.exportKey(fpr.a!);
    expect((await readPublicKey(a)).facts.fingerprint).toBe(fpr.a);
    for (const two of [a + gpg.exportKey(fpr.b!), a + a, a + revocationOf(fpr.a!)]) {
      await expect(readPublicKey(two)).rejects.toMatchObject({
        code: 'BAD_KEY',
        message: expect.stringMatching(/^send exactly one key block; this text holds 2 armored blocks/),
      });
    }
    await expect(readPublicKey(gpg.run(['--armor', '--export', fpr.a!, fpr.b!]))).rejects.toMatchObject({
      code: 'BAD_KEY',
      message: 'send exactly one key; this block holds 2',
    });
  });
});
