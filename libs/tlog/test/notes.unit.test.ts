import { describe, expect, it } from 'vitest';
import {
  TlogError,
  decodeEntryBundle,
  encodeEntryBundle,
  encodeSignerKey,
  encodeVerifierKey,
  ed25519PublicKey,
  openCheckpoint,
  openNote,
  parseCheckpointText,
  parseSignerKey,
  parseTilePath,
  parseVerifierKey,
  sha256,
  signCheckpoint,
  signNote,
  tilePath,
  tileWidthAt,
} from '@signet/tlog';

const seed = sha256('signet unit test key');
const other = sha256('another key');
const name = 'signet.example/log';
const signer = parseSignerKey(encodeSignerKey(name, seed)).signer;
const vkey = parseVerifierKey(encodeVerifierKey(name, ed25519PublicKey(seed)));
const cp = { origin: name, size: 12345, root: sha256('root'), extensions: [] };

describe('checkpoints as signed notes', () => {
  const note = signCheckpoint(cp, signer);

  it('round-trips', () => {
    const opened = openCheckpoint(note, vkey);
    expect(opened.size).toBe(12345);
    expect(Buffer.from(opened.root).equals(Buffer.from(cp.root))).toBe(true);
  });

  it('fails on any changed byte of the note', () => {
    const bytes = Buffer.from(note, 'utf8');
    for (let i = 0; i < bytes.length; i++) {
      const bad = Buffer.from(bytes);
      bad[i] = bad[i]! ^ 0x02;
      expect(() => openCheckpoint(bad.toString('utf8'), vkey), `byte ${i}`).toThrow(TlogError);
    }
  });

  it('refuses a checkpoint signed by another key under the same name', () => {
    const forged = signCheckpoint(cp, parseSignerKey(encodeSignerKey(name, other)).signer);
    expect(() => openCheckpoint(forged, vkey)).toThrow(expect.objectContaining({ code: 'UNVERIFIED_NOTE' }));
  });

  it('keeps unknown cosignatures and still verifies; refuses a bad one by a known key', () => {
    const witness = parseSignerKey(encodeSignerKey('witness.example', other)).signer;
    const cosigned = signNote(note.slice(0, note.indexOf('\n\n') + 1), [signer, witness]);
    expect(openCheckpoint(cosigned, vkey).size).toBe(12345);
    const wv = parseVerifierKey(encodeVerifierKey('witness.example', ed25519PublicKey(other)));
    expect(openCheckpoint(cosigned, vkey, [wv]).cosignedBy).toEqual([wv]);
    // change a byte of the signature itself (not of the key hash, which would just make it unknown)
    const tamperedWitness = cosigned.replace(
      /(\u2014 witness\.example \S{20})(\S)/u,
      (_, a, c) => a + (c === 'A' ? 'B' : 'A'),
    );
    expect(() => openCheckpoint(tamperedWitness, vkey, [wv])).toThrow(TlogError);
  });

  it('refuses malformed checkpoint texts', () => {
    for (const text of [
      '',
      'a\n',
      'a\n1\n',
      'a\n01\nAAAA\n',
      'a\n-1\nAAAA\n',
      `a\n1\n${'A'.repeat(43)}=\n\n`,
      'a\n1\nnot base64\n',
    ]) {
      expect(() => parseCheckpointText(text)).toThrow(TlogError);
    }
    expect(() => openNote('no signatures\n', [vkey])).toThrow(TlogError);
    expect(() => openNote('text\n\n— x AAAA\n', [vkey])).toThrow(TlogError);
  });

  it('refuses malformed keys', () => {
    for (const k of [
      '',
      'a+b',
      `${name}+00000000+AcmAqWXJMGotyCvlFdQgO9D2gkw15zWC8Vd0pR7DWhJE`,
      'a b+12345678+AA==',
      `${name}+zz+AA==`,
    ]) {
      expect(() => parseVerifierKey(k)).toThrow(TlogError);
    }
    expect(() => parseSignerKey('PRIVATE+KEY+x+00000000+AA==')).toThrow(TlogError);
  });
});

describe('tile paths and entry bundles from untrusted input', () => {
  it('refuses non-canonical paths', () => {
    for (const p of [
      'tile/0/1',
      'tile/0/0001',
      'tile/0/x000/001',
      'tile/0/001.p/0',
      'tile/0/001.p/256',
      'tile/0/001.p/01',
      'tile/64/000',
      'tile/00/000',
      'tile/x/000',
      'tile/0/001/',
      'tile/0/x1/000',
      '../etc/passwd',
      'tile/0/001.p/',
    ]) {
      expect(() => parseTilePath(p), p).toThrow(expect.objectContaining({ code: 'BAD_TILE_PATH' }));
    }
  });
  it('round-trips random coordinates', () => {
    for (let i = 0; i < 1000; i++) {
      const t = {
        level: i % 2 ? ('entries' as const) : i % 7,
        index: Math.floor(Math.random() * 2 ** 40),
        width: 1 + (i % 256),
      };
      expect(parseTilePath(tilePath(t))).toEqual(t);
    }
  });
  it('knows which tiles a tree of a given size has', () => {
    expect(tileWidthAt(0, 0, 257)).toBe(256);
    expect(tileWidthAt(0, 1, 257)).toBe(1);
    expect(tileWidthAt(0, 2, 257)).toBe(0);
    expect(tileWidthAt(1, 0, 257)).toBe(1);
    expect(tileWidthAt(1, 0, 255)).toBe(0);
    expect(tileWidthAt('entries', 1, 257)).toBe(1);
    expect(tileWidthAt(2, 0, 65536)).toBe(1);
  });
  it('decodes bundles and refuses truncated ones', () => {
    const entries = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(300, 7)];
    const bundle = encodeEntryBundle(entries);
    expect(decodeEntryBundle(bundle).map((e) => Buffer.from(e))).toEqual(entries);
    expect(() => decodeEntryBundle(bundle.subarray(0, bundle.length - 1))).toThrow(TlogError);
    expect(() => decodeEntryBundle(Uint8Array.of(0))).toThrow(TlogError);
    expect(() => encodeEntryBundle([new Uint8Array(65536)])).toThrow(TlogError);
  });
});
