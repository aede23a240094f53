import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  FINGERPRINT,
  MAX_COMMAND_BYTES,
  checkCommandSize,
  commandIdUse,
  emptyState,
  fingerprintOf,
  groupFingerprint,
  isFingerprint,
  utf8Length,
} from '@signet/domain';

describe('command size', () => {
  it('is measured in UTF-8 bytes, as Buffer.byteLength counts them', () => {
    for (const text of ['', 'a', 'é', '€', '😀', 'a😀é€', '\ud800', 'x\udc00y', '\ud83d\ude00\ud83d']) {
      expect([text, utf8Length(text)]).toEqual([text, Buffer.byteLength(text, 'utf8')]);
    }
  });
  it('refuses (TOO_LARGE) a command of more than MAX_COMMAND_BYTES bytes, not code units', () => {
    expect(() => checkCommandSize('a'.repeat(MAX_COMMAND_BYTES))).not.toThrow();
    const tooLarge = expect.objectContaining({ code: 'TOO_LARGE' });
    expect(() => checkCommandSize('a'.repeat(MAX_COMMAND_BYTES + 1))).toThrow(tooLarge);
    const wide = 'é'.repeat(MAX_COMMAND_BYTES / 2 + 1); // fewer code units than the limit, more bytes
    expect(wide.length).toBeLessThan(MAX_COMMAND_BYTES);
    expect(() => checkCommandSize(wide)).toThrow(tooLarge);
  });
});

describe('fingerprints', () => {
  const FPR = 'FEEDDEAFABBABEADBABEFACEDEADBEEFCEDECAFE';
  it('are 40 upper-case hex digits; a typed one in any case is read as upper case', () => {
    expect(isFingerprint(FPR)).toBe(true);
    expect(FINGERPRINT.test(FPR)).toBe(true);
    expect(isFingerprint(FPR.toLowerCase())).toBe(false);
    expect(isFingerprint(FPR.slice(1))).toBe(false);
    expect(fingerprintOf(FPR.toLowerCase())).toBe(FPR);
    expect(fingerprintOf(`${FPR} `)).toBeNull();
    expect(fingerprintOf('G'.repeat(40))).toBeNull();
  });
  it('are grouped by four, as announcements write them', () => {
    expect(groupFingerprint(FPR)).toBe('FEED DEAF ABBA BEAD BABE FACE DEAD BEEF CEDE CAFE');
  });
});

describe('command ids', () => {
  it('are new, a replay of the same bytes, or reused for other bytes (ID_REUSED)', () => {
    const state = emptyState();
    const bytes = '{"id":"c1"}';
    expect(commandIdUse(state, 'c1', bytes)).toBe('new');
    state.commands.set('c1', { commandSha256: createHash('sha256').update(bytes).digest('hex'), seqs: [1] });
    expect(commandIdUse(state, 'c1', bytes)).toBe('replay');
    expect(commandIdUse(state, 'c1', '{"id":"c1" }')).toBe('ID_REUSED');
    expect(commandIdUse(state, 'c2', bytes)).toBe('new');
  });
});
