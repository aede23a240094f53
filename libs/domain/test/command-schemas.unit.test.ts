import { describe, expect, it } from 'vitest';
import { COMMAND_ENVELOPE_FIELDS, COMMAND_TYPES, commandJsonSchemas, parseCommand } from '@signet/domain';

// The JSON Schemas published in the OpenAPI document and read by `signet command` are generated
// from the zod schemas parseCommand uses: they must say what the parser takes.

type Schema = { properties: Record<string, { enum?: string[] }>; required: string[]; additionalProperties: boolean };
const FPR = 'FEEDDEAFABBABEADBABEFACEDEADBEEFCEDECAFE';

describe("commands' JSON Schemas", () => {
  const schemas = commandJsonSchemas() as Record<string, Schema>;

  it('has one per command type, each closed, requiring the envelope and its own type', () => {
    expect(Object.keys(schemas)).toEqual([...COMMAND_TYPES]);
    expect(COMMAND_TYPES).toHaveLength(10);
    for (const type of COMMAND_TYPES) {
      const schema = schemas[type]!;
      expect(schema.additionalProperties, type).toBe(false);
      expect(schema.required, type).toEqual(expect.arrayContaining([...COMMAND_ENVELOPE_FIELDS, 'type']));
      expect(schema.properties.type?.enum ?? [(schema.properties.type as { const?: string }).const]).toEqual([type]);
    }
  });

  it('requires exactly the fields without which parseCommand refuses the command', () => {
    const envelope = { origin: 'o.example/log', id: 'c-1', issuedAt: '2026-01-01T00:00:00.000Z' };
    const example: Record<string, Record<string, string>> = {
      AddMember: { key: 'k', username: 'Eve', role: 'member' },
      ChangeMemberRole: { member: FPR, role: 'leader' },
      RemoveMember: { member: FPR },
      AddSigningKey: { key: 'k' },
      UpdateSigningKey: { key: 'k' },
      AuthorizeSigningKey: { fingerprint: FPR },
      RevokeAuthorization: { fingerprint: FPR },
      RecordAnnouncement: { fingerprint: FPR, kind: 'ADDING', url: 'https://social.example/1' },
      RetireSigningKey: { fingerprint: FPR },
      RevokeSigningKey: { fingerprint: FPR, reason: 'stolen' },
    };
    for (const type of COMMAND_TYPES) {
      const fields = example[type]!;
      expect(parseCommand(JSON.stringify({ ...envelope, type, ...fields })).type).toBe(type);
      const own = schemas[type]!.required.filter((f) => f !== 'type' && !(f in envelope));
      // RevokeSigningKey's reason is required only without a revocation: a rule JSON Schema cannot say.
      const mustHave = Object.keys(fields).filter((f) => !(type === 'RevokeSigningKey' && f === 'reason'));
      expect(own.sort(), type).toEqual(mustHave.sort());
      for (const field of own) {
        const { [field]: _, ...without } = fields;
        expect(() => parseCommand(JSON.stringify({ ...envelope, type, ...without })), `${type} ${field}`).toThrow(
          `${field}:`,
        );
      }
    }
  });
});
