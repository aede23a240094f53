import { describe, expect, it } from 'vitest';
import { armoredKeyBlocks } from '@signet/pgp';

// Splitting a text into its armored key blocks, as gpg --import finds them (no parsing here:
// the packets are read by openpgp.js, block by block; see keyring-file.int.test.ts).

const block = (kind: 'PUBLIC' | 'PRIVATE', body: string, eol = '\n') =>
  [
    `-----BEGIN PGP ${kind} KEY BLOCK-----`,
    'Comment: test',
    '',
    body,
    '=abcd',
    `-----END PGP ${kind} KEY BLOCK-----`,
  ].join(eol) + eol;

describe('armoredKeyBlocks', () => {
  it('finds every block in order, ignoring the text around them', () => {
    const text = `keys:\n${block('PUBLIC', 'AAAA')}between\n${block('PRIVATE', 'BBBB')}${block('PUBLIC', 'CCCC')}-- \nbye`;
    expect(armoredKeyBlocks(text, 'f')).toEqual([
      { kind: 'PUBLIC', armored: block('PUBLIC', 'AAAA') },
      { kind: 'PRIVATE', armored: block('PRIVATE', 'BBBB') },
      { kind: 'PUBLIC', armored: block('PUBLIC', 'CCCC') },
    ]);
  });

  it('reads CRLF files and a last block without a final newline', () => {
    const crlf = block('PUBLIC', 'AAAA', '\r\n') + block('PUBLIC', 'BBBB', '\r\n').trimEnd();
    const found = armoredKeyBlocks(crlf, 'f');
    expect(found.map((b) => b.armored.match(/^[A-Z]{4}\r?$/m)?.[0].trim())).toEqual(['AAAA', 'BBBB']);
    expect(found.every((b) => b.armored.endsWith('-----END PGP PUBLIC KEY BLOCK-----\n'))).toBe(true);
  });

  it('finds nothing in a text without key blocks (other armor, armor lines inside a line)', () => {
    expect(armoredKeyBlocks('', 'f')).toEqual([]);
    expect(armoredKeyBlocks('-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END PGP SIGNATURE-----\n', 'f')).toEqual([]);
    expect(
      armoredKeyBlocks('quoted: -----BEGIN PGP PUBLIC KEY BLOCK----- and -----END PGP PUBLIC KEY BLOCK-----\n', 'f'),
    ).toEqual([]);
  });

  it('refuses a block without its END line, an END without its BEGIN, and mismatched kinds, naming the file and block', () => {
    const a = block('PUBLIC', 'AAAA');
    const cases: [string, string][] = [
      [a + a.replace(/-----END.*\n/, ''), 'ring.asc: block 2 has no "-----END PGP PUBLIC KEY BLOCK-----" line'],
      [a.replace(/-----END.*\n/, '') + a, 'ring.asc: block 1 has no "-----END PGP PUBLIC KEY BLOCK-----" line'],
      [
        a + a.replace(/-----BEGIN.*\n/, ''),
        'ring.asc: an "-----END PGP PUBLIC KEY BLOCK-----" line without its BEGIN line after block 1',
      ],
      [
        a.replace('END PGP PUBLIC', 'END PGP PRIVATE'),
        'ring.asc: an "-----END PGP PRIVATE KEY BLOCK-----" line without its BEGIN line after block 0',
      ],
    ];
    for (const [text, message] of cases) {
      expect(() => armoredKeyBlocks(text, 'ring.asc')).toThrow(
        expect.objectContaining({ code: 'BAD_KEY', message: expect.stringContaining(message) }),
      );
    }
  });
});
