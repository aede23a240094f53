import { describe, expect, it } from 'vitest';
import {
  TlogError,
  checkCosignatures,
  cosignCheckpoint,
  cosignedMessage,
  encodeSignerKey,
  encodeVerifierKey,
  encodeWitnessSignerKey,
  encodeWitnessVerifierKey,
  ed25519PublicKey,
  fromHex,
  openCheckpoint,
  openCosignedCheckpoint,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  parseWitnessSignerKey,
  parseWitnessVerifierKey,
  parseWitnessVerifierKeys,
  requireQuorum,
  sha256,
  signCheckpoint,
  signatureLine,
  verifyCosignatures,
  witnessKeyHash,
} from '@signet/tlog';

/**
 * A real checkpoint of the CT log arche2025h1.staging.ct.transparency.dev with real witness
 * cosignatures (C2SP tlog-cosignature v1, all made at 1779573024), as quoted with its keys in the
 * test suite of the Python package tlog_scales (tests of its signing module). The first line is
 * the log's RFC 6962 STH signature (type 0x05), which no key here knows; the second its Ed25519
 * note signature. The key of witness.stagemole.eu is not known here either.
 */
const REAL = {
  note: [
    'arche2025h1.staging.ct.transparency.dev',
    '1432088532',
    'U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=',
    '',
    '— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=',
    '— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=',
    '— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==',
    '— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==',
    '— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==',
    '— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==',
    '',
  ].join('\n'),
  logKey: 'arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f',
  // Published witness keys; remora's is also in transparency-dev/formats, note/note_cosigv1_test.go.
  witnesses: [
    'transparency.dev/DEV:witness-little-garden+d8042a87+BCtusOxINQNUTN5Oj8HObRkh2yHf/MwYaGX4CPdiVEPM',
    'witness1.smartit.nu/witness1+a48c820f+BPSFWg9G6KPiO7QPryYO5Xq4oYJJ+kAvLKLSimDhoxMO',
    'remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2',
  ],
  timestamp: 1779573024,
};

/**
 * Constructed by hand from the spec's text (no implementation of it was at hand to produce one):
 * the spec's example checkpoint and time, cosigned by a witness whose seed is SHA-256("signet
 * witness KAT seed"); computed with bare node:crypto, independently of this library.
 */
const HAND = {
  seed: fromHex('ba8cf4a044ef679e5f0c5fabe349dc505a5bf7b5a0d921faf88b54c5ba955878'),
  name: 'witness.example/kat',
  skey: 'PRIVATE+KEY+witness.example/kat+e8c298eb+BLqM9KBE72eeXwxfq+NJ3FBaW/e1oNkh+viLVMW6lVh4',
  vkey: 'witness.example/kat+e8c298eb+BFaCcHemu/iOnjc8Oegb38/QhChzKbb261T4Rm51UHcM',
  /** The same name and key as a plain (0x01) note key. */
  plainKeyHash: 0x2b694dd0,
  body: 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
  timestamp: 1679315147,
  line: '— witness.example/kat 6MKY6wAAAABkGFDLHGBGwW1zNMueX+ndFyI/4qBJ/0HLnEUzpty+vjJS8xIb6a6/XYHnCufUjyZhslpfuHaG+pIIrwyUiDOVKpJNAw==\n',
};

const code = (c: string) => expect.objectContaining({ code: c });

describe('known answers', () => {
  const logKey = parseVerifierKey(REAL.logKey);
  const witnesses = REAL.witnesses.map(parseWitnessVerifierKey);

  it('verifies the real checkpoint with the log key alone, its cosignature lines ignored', () => {
    const cp = openCheckpoint(REAL.note, logKey);
    expect(cp.size).toBe(1432088532);
    expect(cp.cosignedBy).toEqual([]);
  });

  it("verifies the real witnesses' cosignatures and their timestamps", () => {
    const valid = verifyCosignatures(REAL.note, witnesses);
    expect(valid.map((c) => c.witness.name)).toEqual(witnesses.map((w) => w.name));
    expect(valid.map((c) => c.timestamp)).toEqual([REAL.timestamp, REAL.timestamp, REAL.timestamp]);
    expect(valid.map((c) => c.line)).toEqual(
      REAL.note
        .split('\n')
        .slice(6, 9)
        .map((l) => `${l}\n`),
    );
    expect(openCosignedCheckpoint(REAL.note, logKey, witnesses, 3).cosignatures).toHaveLength(3);
  });

  it('works as note verifiers: openCheckpoint names the witnesses that cosigned', () => {
    expect(openCheckpoint(REAL.note, logKey, witnesses).cosignedBy.map((v) => v.name)).toEqual(
      witnesses.map((w) => w.name),
    );
  });

  it('computes the published key hashes', () => {
    for (const [vkey, w] of REAL.witnesses.map((k, i) => [k, witnesses[i]!] as const)) {
      expect(w.keyHash.toString(16).padStart(8, '0')).toBe(vkey.split('+')[1]);
      expect(encodeWitnessVerifierKey(w.name, w.publicKey)).toBe(vkey);
    }
  });

  it('encodes the hand-made keys and signature line', () => {
    const { signer, publicKey } = parseWitnessSignerKey(HAND.skey);
    expect(encodeWitnessSignerKey(HAND.name, HAND.seed)).toBe(HAND.skey);
    expect(encodeWitnessVerifierKey(HAND.name, ed25519PublicKey(HAND.seed))).toBe(HAND.vkey);
    expect(signer.verifierKey).toBe(HAND.vkey);
    expect(witnessKeyHash(HAND.name, publicKey)).toBe(0xe8c298eb);
    expect(cosignCheckpoint(HAND.body, signer, HAND.timestamp)).toBe(HAND.line);
    expect(Buffer.from(cosignedMessage(HAND.body, HAND.timestamp)).toString()).toBe(
      `cosignature/v1\ntime 1679315147\n${HAND.body}`,
    );
  });

  it('refuses a plain (0x01) note key as a witness key', () => {
    expect(() => parseWitnessVerifierKey('TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6')).toThrow(
      code('BAD_KEY'),
    );
    expect(() => parseWitnessVerifierKey(REAL.logKey)).toThrow(code('BAD_KEY'));
  });
});

describe('cosigning a checkpoint', () => {
  const logSeed = sha256('signet cosignature test log');
  const origin = 'signet.example/log';
  const log = parseSignerKey(encodeSignerKey(origin, logSeed));
  const logKey = parseVerifierKey(encodeVerifierKey(origin, log.publicKey));
  const note = signCheckpoint({ origin, size: 42, root: sha256('root 42'), extensions: [] }, log.signer);
  const keys = ['a.witness.example', 'b.witness.example', 'c.witness.example'].map((name) =>
    parseWitnessSignerKey(encodeWitnessSignerKey(name, sha256(name))),
  );
  const [a, b, c] = keys.map((k) => k.signer);
  const verifiers = keys.map((k) => parseWitnessVerifierKey(k.signer.verifierKey));
  const cosigned = note + cosignCheckpoint(note, a!, 1_700_000_000) + cosignCheckpoint(note, b!, 1_700_000_001);

  it('round-trips: the log key alone still opens the note, and two of three witnesses verify', () => {
    expect(openCheckpoint(cosigned, logKey).size).toBe(42);
    const valid = requireQuorum(cosigned, verifiers, 2);
    expect(valid.map((v) => [v.witness.name, v.timestamp])).toEqual([
      ['a.witness.example', 1_700_000_000],
      ['b.witness.example', 1_700_000_001],
    ]);
    expect(openCosignedCheckpoint(cosigned, logKey, verifiers, 2).size).toBe(42);
  });

  it('names the missing witnesses when the quorum is not met', () => {
    expect(() => requireQuorum(cosigned, verifiers)).toThrow(code('QUORUM_NOT_MET'));
    expect(() => requireQuorum(cosigned, verifiers)).toThrow(/missing: c\.witness\.example$/);
    expect(() => requireQuorum(note, verifiers, 1)).toThrow(
      /missing: a\.witness\.example, b\.witness\.example, c\.witness\.example/,
    );
    expect(() => requireQuorum(cosigned, verifiers, 0)).toThrow(RangeError);
  });

  it('refuses a cosignature over a changed checkpoint', () => {
    const moved = cosigned.replace('\n42\n', '\n43\n');
    const { valid, invalid } = checkCosignatures(moved, verifiers);
    expect(valid).toEqual([]);
    expect(invalid.map((s) => s.name)).toEqual(['a.witness.example', 'b.witness.example']);
  });

  it('refuses a changed timestamp or signature byte', () => {
    const line = cosignCheckpoint(note, a!, 1_700_000_000);
    const sig = parseNote(note + line).signatures.at(-1)!;
    for (const at of [4, 11, 12, 40, 75]) {
      const bytes = Buffer.from(sig.signature);
      bytes[at - 4] = bytes[at - 4]! ^ 0x01;
      const tampered = note + signatureLine({ ...sig, signature: bytes });
      expect(checkCosignatures(tampered, verifiers).invalid, `byte ${at}`).toHaveLength(1);
      expect(() => requireQuorum(tampered, verifiers, 1), `byte ${at}`).toThrow(code('QUORUM_NOT_MET'));
    }
  });

  it('ignores a line whose key hash is not the witness key hash', () => {
    const sig = parseNote(note + cosignCheckpoint(note, a!, 1)).signatures.at(-1)!;
    const other = note + signatureLine({ ...sig, keyHash: (sig.keyHash + 1) >>> 0 });
    expect(checkCosignatures(other, verifiers)).toMatchObject({ valid: [], invalid: [] });
  });

  it('takes the newest of several cosignatures by one witness', () => {
    const both = note + cosignCheckpoint(note, a!, 5) + cosignCheckpoint(note, a!, 9) + cosignCheckpoint(note, a!, 7);
    expect(verifyCosignatures(both, verifiers).map((c) => c.timestamp)).toEqual([9]);
  });

  it('never takes a cosignature for the log’s own signature, even by the log’s name and key', () => {
    // A witness sharing the log's name and key: its key hash differs (type 0x04, not 0x01).
    const twin = parseWitnessSignerKey(encodeWitnessSignerKey(origin, logSeed)).signer;
    expect(twin.keyHash).not.toBe(logKey.keyHash);
    const body = note.slice(0, note.indexOf('\n\n') + 1);
    const onlyTwin = `${body}\n${cosignCheckpoint(body, twin, 1)}`;
    expect(() => openCheckpoint(onlyTwin, logKey)).toThrow(code('UNVERIFIED_NOTE'));
    // A cosignature relabelled with the log's key hash does not verify as the log's signature.
    const sig = parseNote(onlyTwin).signatures[0]!;
    expect(() => openCheckpoint(`${body}\n${signatureLine({ ...sig, keyHash: logKey.keyHash })}`, logKey)).toThrow(
      code('UNVERIFIED_NOTE'),
    );
  });

  it('does not count a plain note signature by a witness-named key as a cosignature', () => {
    const plain = parseSignerKey(encodeSignerKey('a.witness.example', sha256('a.witness.example'))).signer;
    const body = note.slice(0, note.indexOf('\n\n') + 1);
    const signed = `${note}${signatureLine({ name: plain.name, keyHash: plain.keyHash, signature: plain.sign(Buffer.from(body)) })}`;
    expect(checkCosignatures(signed, verifiers)).toMatchObject({ valid: [], invalid: [] });
  });

  it('refuses a timestamp beyond 2^53 - 1 in a line, and bad timestamps to sign with', () => {
    const sig = parseNote(note + cosignCheckpoint(note, a!, 1)).signatures.at(-1)!;
    const bytes = Buffer.from(sig.signature);
    bytes.writeBigUInt64BE(2n ** 60n, 0);
    expect(checkCosignatures(note + signatureLine({ ...sig, signature: bytes }), verifiers).invalid).toHaveLength(1);
    for (const t of [-1, 1.5, Number.NaN, 2 ** 53])
      expect(() => cosignCheckpoint(note, a!, t), String(t)).toThrow(code('BAD_COSIGNATURE'));
  });

  it('cosigns only a checkpoint', () => {
    expect(() => cosignCheckpoint('not a checkpoint\n', a!, 1)).toThrow(code('BAD_CHECKPOINT'));
    expect(() => cosignCheckpoint('garbage', a!, 1)).toThrow(TlogError);
    expect(cosignCheckpoint(note, c!, 3)).toBe(cosignCheckpoint(note.slice(0, note.indexOf('\n\n') + 1), c!, 3));
  });
});

describe('witness keys', () => {
  const k1 = encodeWitnessVerifierKey('one.example', ed25519PublicKey(sha256('1')));
  const k2 = encodeWitnessVerifierKey('two.example', ed25519PublicKey(sha256('2')));

  it('reads a list separated by commas or newlines', () => {
    expect(parseWitnessVerifierKeys(` ${k1},\n${k2}\n\n`).map((w) => w.name)).toEqual(['one.example', 'two.example']);
    expect(parseWitnessVerifierKeys('')).toEqual([]);
  });

  it('refuses two keys with one name, wrong hashes and malformed keys', () => {
    const again = encodeWitnessVerifierKey('one.example', ed25519PublicKey(sha256('3')));
    expect(() => parseWitnessVerifierKeys(`${k1},${again}`)).toThrow(code('BAD_KEY'));
    const [name, , b64] = [k1.split('+')[0], k1.split('+')[1], k1.split('+').slice(2).join('+')];
    for (const bad of [`${name}+00000000+${b64}`, `${name}+${b64}`, 'x', `a b+12345678+${b64}`]) {
      expect(() => parseWitnessVerifierKey(bad), bad).toThrow(code('BAD_KEY'));
    }
    const skey = encodeWitnessSignerKey('one.example', sha256('1'));
    expect(() => parseWitnessSignerKey(skey.replace(/\+[0-9a-f]{8}\+/, '+00000000+'))).toThrow(code('BAD_KEY'));
    expect(() => parseWitnessSignerKey(encodeSignerKey('one.example', sha256('1')))).toThrow(code('BAD_KEY'));
  });

  it('derives the verifier key from the signer key', () => {
    expect(parseWitnessSignerKey(encodeWitnessSignerKey('one.example', sha256('1'))).signer.verifierKey).toBe(k1);
  });
});
