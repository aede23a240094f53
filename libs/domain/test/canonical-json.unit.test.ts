import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  DomainError,
  type EventDraft,
  canonicalize,
  genesisDraft,
  parseEntry,
  prepareEvent,
  sealEvent,
} from '@signet/domain';

describe('RFC 8785 canonical JSON', () => {
  it('matches the RFC 8785 §3.2.2 example', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    );
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });
  it('sorts keys by UTF-16 code units (RFC 8785 §3.2.3 example)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    expect(canonicalize(input).indexOf('Carriage')).toBeLessThan(canonicalize(input).indexOf('One'));
    const order = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'].map((k) =>
      canonicalize(input).indexOf(JSON.stringify(k)),
    );
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
  it('orders keys as Array.prototype.sort does, for objects of any size', () => {
    // Small objects are sorted by insertion, larger ones by sort(): both must give the same order.
    const alphabet = ['a', 'B', '1', '_', '\u00e9', '\u20ac', '\ud83d\ude00', '\ufb33', 'aa', 'a\u0000', ''];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
    for (let size = 0; size <= 20; size++) {
      for (let round = 0; round < 20; round++) {
        const input: Record<string, number> = {};
        for (let i = 0; i < size; i++) input[`${alphabet[next() % alphabet.length]}${next() % 50}`] = i;
        const expected = `{${Object.keys(input)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${input[k]}`)
          .join(',')}}`;
        expect(canonicalize(input)).toBe(expected);
      }
    }
  });
  it('writes numbers as ECMAScript does (RFC 8785 Appendix B samples)', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '0'],
      [1e21, '1e+21'],
      [1e-7, '1e-7'],
      [123456789012345680000, '123456789012345680000'],
      [5e-324, '5e-324'],
      [-1.7976931348623157e308, '-1.7976931348623157e+308'],
      [0.000001, '0.000001'],
      [9007199254740992, '9007199254740992'],
    ];
    for (const [n, s] of cases) expect(canonicalize(n)).toBe(s);
  });
  it('refuses what JSON cannot say', () => {
    for (const bad of [NaN, Infinity, undefined, () => 1, '\ud800', { a: undefined }, new Date(0), 1n]) {
      expect(() => canonicalize(bad)).toThrow(DomainError);
    }
  });
});

describe('event envelope', () => {
  const policy = { ...DEFAULT_POLICY, rootKeys: [] };
  const draft = genesisDraft({ origin: 'signet.example/log', verifierKey: 'k', policy });
  it('seals and parses back exactly', () => {
    const { envelope, entry } = sealEvent(draft, 0, new Date('2026-11-24T10:00:00Z'));
    expect(new TextDecoder().decode(entry)).toBe(
      `{"actor":"log","data":{"origin":"signet.example/log","policy":${canonicalize(policy)},"verifierKey":"k"},` +
        '"evidence":null,"recordedAt":"2026-11-24T10:00:00.000Z","seq":0,"stream":"log","type":"LogCreated","v":1}',
    );
    expect(parseEntry(entry, 0)).toEqual(envelope);
  });
  it('refuses entries that are not canonical, mis-numbered or mis-shaped', () => {
    const { entry } = sealEvent(draft, 3, new Date('2026-11-24T10:00:00Z'));
    const text = new TextDecoder().decode(entry);
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(() => parseEntry(entry, 4)).toThrow(expect.objectContaining({ code: 'BAD_ENTRY' }));
    expect(() => parseEntry(enc(text.replace('{"actor"', '{ "actor"')))).toThrow(
      expect.objectContaining({ code: 'BAD_ENTRY' }),
    );
    expect(() => parseEntry(enc(text.replace(',"v":1}', ',"v":1,"x":2}')))).toThrow(
      expect.objectContaining({ code: 'BAD_ENTRY' }),
    );
    expect(() => parseEntry(enc(text.replace('2026-11-24T10:00:00.000Z', 'yesterday')))).toThrow(
      expect.objectContaining({ code: 'BAD_ENTRY' }),
    );
    expect(() => parseEntry(Uint8Array.of(0xff, 0xfe))).toThrow(expect.objectContaining({ code: 'BAD_ENTRY' }));
  });
  it('seals to exactly the RFC 8785 form of the envelope', () => {
    // The sequencer seals any well-shaped draft; only a reader of the protocol asks what it means.
    const foreign = {
      type: 'X',
      v: 3,
      stream: 'é/\u2028',
      actor: 'FEED',
      data: { z: [1.5, -0, 1e21, 'a"b'], a: { '\u20ac': null, '1': true } },
      evidence: { command: '{"id":1}\n', signature: 'sig' },
    } as unknown as EventDraft;
    for (const d of [draft, foreign]) {
      for (const seq of [0, 9, 10, 123456, Number.MAX_SAFE_INTEGER]) {
        const { envelope, entry } = prepareEvent(d).seal(seq, new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)));
        expect(new TextDecoder().decode(entry)).toBe(canonicalize(envelope));
        if (d === draft) expect(parseEntry(entry, seq)).toEqual(JSON.parse(canonicalize(envelope)));
        else expect(() => parseEntry(entry, seq)).toThrow(expect.objectContaining({ code: 'BAD_ENTRY' }));
      }
    }
  });
  it('seals a batch into one buffer exactly as each alone', () => {
    const at = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6));
    const iso = at.toISOString();
    const prepared = [draft, draft, draft].map(prepareEvent);
    const seqs = [9, 10, 123456];
    const lengths = prepared.map((p, i) => p.sealedLength(seqs[i]!, iso));
    const buffer = new Uint8Array(lengths.reduce((a, b) => a + b, 0) + 3).fill(0xff);
    let offset = 1;
    prepared.forEach((p, i) => {
      const envelope = p.sealInto(seqs[i]!, iso, buffer, offset);
      const alone = p.seal(seqs[i]!, at);
      expect(envelope).toEqual(alone.envelope);
      expect(buffer.subarray(offset, offset + lengths[i]!)).toEqual(alone.entry);
      offset += lengths[i]!;
    });
    // Nothing written outside the leaves.
    expect([buffer[0], buffer[offset], buffer[offset + 1]]).toEqual([0xff, 0xff, 0xff]);
  });
  it('refuses events too large for an entry bundle', () => {
    const big = genesisDraft({ origin: 'signet.example/log', verifierKey: 'x'.repeat(70_000), policy });
    expect(() => sealEvent(big, 1, new Date())).toThrow(expect.objectContaining({ code: 'EVENT_TOO_LARGE' }));
  });
});
