import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDetached } from '@signet/pgp';
import { dearmorSignature } from '../src/armor.js';
import { verifyDirect } from '../src/direct-verify.js';
import { Gpg } from '../../../test/support/gpg.js';

// The direct path (node:crypto) against openpgp.verify itself: the same verdict, and the same
// reason, for what GnuPG writes, good and altered.

const day = (n: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + n * 86_400_000);

/** openpgp.js's own verdict, at the signature's creation time, as keys.ts asked before. */
async function reference(data: Uint8Array, armored: string, key: openpgp.PublicKey): Promise<string> {
  try {
    const signature = await openpgp.readSignature({ armoredSignature: armored });
    const result = await openpgp.verify({
      message: await openpgp.createMessage({ binary: data }),
      signature,
      verificationKeys: [key],
      expectSigned: true,
      format: 'binary',
      date: signature.packets[0]!.created ?? undefined,
    });
    await result.signatures[0]!.verified;
    return 'ok';
  } catch (error) {
    return `the signature does not verify: ${(error as Error).message}`;
  }
}

async function ours(data: Uint8Array, armored: string, key: openpgp.PublicKey): Promise<string> {
  try {
    await verifyDetached(data, armored, [key]);
    return 'ok';
  } catch (error) {
    return (error as Error).message;
  }
}

/** The byte offsets of a signature packet's body, its left 16 bits of the digest and its last byte. */
function offsets(packet: Uint8Array): { body: number; left16: number; last: number } {
  let body: number;
  if (packet[0]! & 0x40) body = packet[1]! < 192 ? 2 : packet[1]! < 224 ? 3 : 6;
  else body = 1 + [1, 2, 4][packet[0]! & 3]!;
  const hashed = (packet[body + 4]! << 8) | packet[body + 5]!;
  const unhashedAt = body + 6 + hashed;
  const unhashed = (packet[unhashedAt]! << 8) | packet[unhashedAt + 1]!;
  return { body, left16: unhashedAt + 2 + unhashed, last: packet.length - 1 };
}

/**
 * The signature packet with its first value (RSA's s, EdDSA's r) zero-padded to one byte more than
 * `size` (the modulus's bytes, 32 for EdDSA), its bit count to match. (One zero byte more is not
 * always too long: a value may be shorter than its size to begin with.)
 */
function longerFirstValue(packet: Uint8Array, size: number): Uint8Array {
  const { body, left16 } = offsets(packet);
  const at = left16 + 2;
  const length = Math.ceil(((packet[at]! << 8) | packet[at + 1]!) / 8);
  const bits = (size + 1) * 8;
  const content = Buffer.concat([
    packet.subarray(body, at),
    Buffer.from([bits >> 8, bits & 0xff]),
    Buffer.alloc(size + 1 - length),
    packet.subarray(at + 2),
  ]);
  // A new-format signature packet (tag 2) with a one- or two-octet length.
  const header =
    content.length < 192
      ? Buffer.from([0xc2, content.length])
      : Buffer.from([0xc2, ((content.length - 192) >> 8) + 192, (content.length - 192) & 0xff]);
  return Buffer.concat([header, content]);
}

const rearmor = (bytes: Uint8Array) => openpgp.armor(openpgp.enums.armor.signature, bytes);

describe('direct verification (node:crypto) agrees with openpgp.verify', () => {
  const gpg = new Gpg();
  const fpr: Record<string, string> = {};
  const keys: Record<string, openpgp.PublicKey> = {};
  const data = new TextEncoder().encode('{"type":"ChangeMemberRole","role":"leader"}\n');
  beforeAll(async () => {
    fpr.rsa = gpg.genKey('Rsa <rsa@example.org>', 'rsa3072', day(-30));
    fpr.ed = gpg.genKey('Ed <ed@example.org>', 'ed25519', day(-30));
    // A key that expired five days after it was made, one revoked later, one signing with a subkey.
    gpg.run(['--passphrase', '', '--quick-gen-key', 'Old <old@example.org>', 'ed25519', 'sign', '5d'], day(-30));
    fpr.old = /^fpr:+([0-9A-F]{40}):/m.exec(gpg.run(['--with-colons', '--list-keys', '<old@example.org>']))![1]!;
    fpr.gone = gpg.genKey('Gone <gone@example.org>', 'rsa2048', day(-30));
    fpr.sub = gpg.genKey('Sub <sub@example.org>', 'ed25519', day(-30));
    gpg.run(['--passphrase', '', '--quick-add-key', fpr.sub, 'ed25519', 'sign', 'never'], day(-29));
    for (const name of Object.keys(fpr)) keys[name] = await openpgp.readKey({ armoredKey: gpg.exportKey(fpr[name]!) });
  }, 120_000);
  afterAll(() => gpg.remove());

  const sign = (who: string, at: Date, digest = 'SHA512') => gpg.detachSign(fpr[who]!, Buffer.from(data), at, digest);

  it('takes the direct path for RSA and Ed25519 signatures with every SHA-2 digest, and they verify', async () => {
    for (const who of ['rsa', 'ed', 'sub'])
      for (const digest of ['SHA512', 'SHA384', 'SHA256', ...(who === 'rsa' ? ['SHA224'] : [])]) {
        const armored = sign(who, day(-1), digest);
        const signature = await openpgp.readSignature({ armoredSignature: armored });
        expect(await verifyDirect(signature.packets[0]!, data, keys[who]!), `${who} ${digest}`).toBe(true);
        expect(await ours(data, armored, keys[who]!)).toBe('ok');
      }
  });

  it('gives openpgp.verify’s verdict and reason for altered data, digests and signature values', async () => {
    for (const who of ['rsa', 'ed']) {
      const armored = sign(who, day(-1));
      const packet = dearmorSignature(armored)!;
      const { left16, last } = offsets(packet);
      const altered = (at: number) => {
        const copy = Uint8Array.from(packet);
        copy[at] ^= 0x01;
        return rearmor(copy);
      };
      const otherData = Uint8Array.from(data);
      otherData[3] ^= 0x20;
      const cases: [Uint8Array, string][] = [
        [otherData, armored],
        [data, altered(left16)],
        [data, altered(left16 + 1)],
        [data, altered(last)],
        [data, altered(last - 20)],
      ];
      for (const [bytes, text] of cases) {
        const expected = await reference(bytes, text, keys[who]!);
        expect(expected).not.toBe('ok');
        expect(await ours(bytes, text, keys[who]!)).toBe(expected);
      }
    }
  });

  it('gives openpgp.verify’s verdict for expired, revoked and too-new keys', async () => {
    // gpg signs with no expired key: this one signs before it expires and is checked after it did.
    const beforeExpiry = sign('old', day(-27));
    const revokedLater = sign('gone', day(-5));
    gpg.importKey(gpg.genRevoke(fpr.gone!, 1, 'lost laptop', day(-3)));
    const revoked = await openpgp.readKey({ armoredKey: gpg.exportKey(fpr.gone!) });
    // Signed with a clock before the key was made.
    const early = gpg.run(
      ['-u', fpr.rsa!, '--ignore-time-conflict', '--armor', '--detach-sign'],
      day(-40),
      new TextDecoder().decode(data),
    );
    const cases: [string, openpgp.PublicKey, 'ok' | 'refused'][] = [
      [beforeExpiry, keys.old!, 'ok'],
      [revokedLater, revoked, 'refused'],
      [early, keys.rsa!, 'refused'],
    ];
    for (const [armored, key, verdict] of cases) {
      const expected = await reference(data, armored, key);
      expect(expected === 'ok' ? 'ok' : 'refused').toBe(verdict);
      expect(await ours(data, armored, key)).toBe(expected);
    }
  });

  it('leaves other signatures to openpgp.verify: text mode, critical notations, expiring signatures', async () => {
    const asText = gpg.run(
      ['-u', fpr.rsa!, '--textmode', '--armor', '--detach-sign'],
      day(-1),
      new TextDecoder().decode(data),
    );
    const critical = gpg.run(
      ['-u', fpr.ed!, '--sig-notation', '!policy@example.org=strict', '--armor', '--detach-sign'],
      day(-1),
      new TextDecoder().decode(data),
    );
    const notation = gpg.run(
      [
        '-u',
        fpr.ed!,
        '--sig-notation',
        'note@example.org=plain',
        '--default-sig-expire',
        '2d',
        '--armor',
        '--detach-sign',
      ],
      day(-1),
      new TextDecoder().decode(data),
    );
    for (const [armored, key] of [
      [asText, keys.rsa!],
      [critical, keys.ed!],
      [notation, keys.ed!],
    ] as const)
      expect(await ours(data, armored, key)).toBe(await reference(data, armored, key));
    expect(await ours(data, critical, keys.ed!)).toMatch(/Unknown critical notation/);
  });

  it('gives openpgp.verify’s verdict for clear-signed texts (module.sig), good and altered', async () => {
    const { verifyCleartext } = await import('@signet/pgp');
    const text = '[SIGNATURES]\nmodule.xml = 5d41402abc4b2a76b9719d911017c592  \r\nREADME = trailing   \n- dashed\n';
    const cleartextReference = async (armored: string, key: openpgp.PublicKey, allowSha1 = false) => {
      try {
        const message = await openpgp.readCleartextMessage({ cleartextMessage: armored });
        const packet = (message as unknown as { signature: openpgp.Signature }).signature.packets[0]!;
        const result = await openpgp.verify({
          message,
          verificationKeys: [key],
          expectSigned: true,
          date: packet.created ?? undefined,
          ...(allowSha1
            ? { config: { rejectMessageHashAlgorithms: new Set([openpgp.enums.hash.md5, openpgp.enums.hash.ripemd]) } }
            : {}),
        });
        await result.signatures[0]!.verified;
        return 'ok';
      } catch (error) {
        return `the clear signature does not verify: ${(error as Error).message}`;
      }
    };
    const ourCleartext = async (armored: string, key: openpgp.PublicKey, allowSha1 = false) => {
      try {
        await verifyCleartext(armored, [key], { allowSha1 });
        return 'ok';
      } catch (error) {
        return (error as Error).message;
      }
    };
    for (const who of ['rsa', 'ed']) {
      const signed = gpg.clearSign(fpr[who]!, text, day(-1));
      const message = await openpgp.readCleartextMessage({ cleartextMessage: signed });
      const packet = (message as unknown as { signature: openpgp.Signature }).signature.packets[0]!;
      const messageText = (message as unknown as { text: string }).text;
      expect(await verifyDirect(packet, { text: messageText }, keys[who]!), who).toBe(true);
      const sha1 = gpg.clearSign(fpr[who]!, text, day(-1), 'SHA1');
      const cases: [string, boolean, 'ok' | 'refused'][] = [
        [signed, false, 'ok'],
        [signed.replace('README', 'READNE'), false, 'refused'],
        [signed.replace('- dashed', 'dashed'), false, 'refused'],
        // FreePBX's SHA-1, allowed: openpgp.js checks it (and finds it too weak for EdDSA)
        [sha1, true, who === 'rsa' ? 'ok' : 'refused'],
        [sha1, false, 'refused'],
      ];
      for (const [armored, allowSha1, verdict] of cases) {
        const expected = await cleartextReference(armored, keys[who]!, allowSha1);
        const got = await ourCleartext(armored, keys[who]!, allowSha1);
        if (verdict === 'ok') expect(got, `${who} ${armored.slice(0, 80)}`).toBe('ok');
        else expect(got).not.toBe('ok');
        if (got !== 'ok' && !got.startsWith('the clear signature does not verify')) continue; // refused before (SHA-1)
        expect(got).toBe(expected);
      }
    }
  });

  it('reads the plain armor itself and hands any other form to openpgp.js, with openpgp.js’s verdict', async () => {
    const armored = sign('ed', day(-1));
    const plain = dearmorSignature(armored)!;
    expect(Buffer.from(plain)).toEqual(Buffer.from((await openpgp.unarmor(armored)).data as Uint8Array));
    expect(dearmorSignature(armored.replace(/\n/g, '\r\n'))).toEqual(plain);
    const lines = armored.trim().split('\n');
    const checksum = lines.findIndex((line) => /^=[A-Za-z0-9+/]{4}$/.test(line));
    const wrongChecksum = [...lines];
    if (checksum > 0) wrongChecksum[checksum] = wrongChecksum[checksum] === '=AAAA' ? '=AAAB' : '=AAAA';
    const variants = {
      crlf: armored.replace(/\n/g, '\r\n'),
      header: armored.replace('-----\n\n', '-----\nComment: made by hand\n\n'),
      // openpgp.js 6 skips the checksum: read here as it reads it
      wrongChecksum: wrongChecksum.join('\n'),
      leadingSpace: `  ${armored}`,
      leadingTab: `\t${armored}`,
      bom: `\uFEFF${armored}`,
      nbsp: `\u00A0${armored}`,
      trailingNbsp: `${armored.trimEnd()}\u00A0`,
      twoLineEnds: `${armored}\n`,
      strayCharacter: armored.replace(/\n[A-Za-z0-9+/]/, '\n*'),
    };
    for (const name of [
      'header',
      'leadingSpace',
      'leadingTab',
      'bom',
      'nbsp',
      'trailingNbsp',
      'strayCharacter',
    ] as const)
      expect(dearmorSignature(variants[name]), name).toBeNull();
    expect(dearmorSignature(variants.wrongChecksum)).toEqual(plain);
    // A text openpgp.js cannot read is refused by both with its reason (ours says "cannot be read").
    const reason = (message: string) => message.replace(/^the signature (cannot be read|does not verify): /, '');
    for (const [name, text] of Object.entries(variants))
      expect(reason(await ours(data, text, keys.ed!)), name).toBe(reason(await reference(data, text, keys.ed!)));
    // Garbage is still refused as it was, with openpgp.js's reason.
    expect(await ours(data, `-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n`, keys.ed!)).toMatch(
      /^the signature cannot be read/,
    );
  });

  it('gives openpgp.verify’s verdict for an all-zero issuer key ID and for over-long signature values', async () => {
    for (const who of ['rsa', 'ed']) {
      const armored = sign(who, day(-1));
      // An unhashed issuer subpacket of zeros: anyone can add it, and the signature stays valid;
      // openpgp.js's key lookup takes it for any key, its SignaturePacket.verify refuses it.
      const wildcard = await openpgp.readSignature({ armoredSignature: armored });
      (
        wildcard.packets[0]!.unhashedSubpackets as unknown as { type: number; critical: boolean; body: Uint8Array }[]
      ).push({ type: 16, critical: false, body: new Uint8Array(8) });
      const zeroIssuer = wildcard.armor();
      const expected = await reference(data, zeroIssuer, keys[who]!);
      expect(expected).not.toBe('ok');
      expect(await ours(data, zeroIssuer, keys[who]!)).toBe(expected);

      // A signature value one byte longer than its size (a leading zero): openpgp.js's "too long".
      const size = who === 'rsa' ? (keys.rsa!.keyPacket.publicParams as { n: Uint8Array }).n.length : 32;
      const text = rearmor(longerFirstValue(dearmorSignature(armored)!, size));
      const expectedLong = await reference(data, text, keys[who]!);
      expect(expectedLong).not.toBe('ok');
      expect(await ours(data, text, keys[who]!)).toBe(expectedLong);
    }
  });
});
