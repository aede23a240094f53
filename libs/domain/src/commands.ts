import { z } from 'zod';
import { DomainError } from './errors.js';
import { ROLES } from './events.js';
import { FINGERPRINT } from './fingerprint.js';
import { type TrustState, textDigest } from './state.js';

// Commands are JSON documents signed (detached OpenPGP) by the acting key. They are parsed here,
// once, from the exact bytes the actor signed.

/** The largest command, in UTF-8 bytes (the bytes the actor signed). */
export const MAX_COMMAND_BYTES = 256 * 1024;

/** Bytes of `text` in UTF-8 (a lone surrogate counts as U+FFFD, 3 bytes, as encoders write it). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit < 0xdc00 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4; // a surrogate pair: one code point above U+FFFF
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Refuses (TOO_LARGE) a command longer than MAX_COMMAND_BYTES in UTF-8. */
export function checkCommandSize(text: string): void {
  if (utf8Length(text) > MAX_COMMAND_BYTES) {
    throw new DomainError('TOO_LARGE', `a command is at most ${MAX_COMMAND_BYTES} bytes`);
  }
}

const fingerprint = z.string().regex(FINGERPRINT, 'a fingerprint is 40 upper-case hex digits');
const username = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a username is 1-64 letters, digits, ".", "_" or "-"');
const armoredKey = z.string().min(1).max(200_000);
const base = {
  origin: z.string().min(1).max(200),
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'an id is 1-128 letters, digits, ".", "_", ":" or "-"'),
  issuedAt: z.string().datetime({ offset: false }),
};

export const CommandSchema = z.discriminatedUnion('type', [
  z
    .object({
      ...base,
      type: z.literal('AddMember'),
      key: armoredKey,
      username,
      role: z.enum(ROLES as [string, ...string[]]),
    })
    .strict(),
  z
    .object({
      ...base,
      type: z.literal('ChangeMemberRole'),
      member: fingerprint,
      role: z.enum(ROLES as [string, ...string[]]),
    })
    .strict(),
  z.object({ ...base, type: z.literal('RemoveMember'), member: fingerprint }).strict(),
  z.object({ ...base, type: z.literal('AddSigningKey'), key: armoredKey }).strict(),
  z.object({ ...base, type: z.literal('UpdateSigningKey'), key: armoredKey }).strict(),
  z.object({ ...base, type: z.literal('AuthorizeSigningKey'), fingerprint }).strict(),
  z
    .object({ ...base, type: z.literal('RevokeAuthorization'), fingerprint, certifier: fingerprint.optional() })
    .strict(),
  z
    .object({
      ...base,
      type: z.literal('RecordAnnouncement'),
      fingerprint,
      kind: z.enum(['ADDING', 'REMOVING']),
      url: z
        .string()
        .url()
        .max(2048)
        .regex(/^https?:\/\//, 'an http(s) URL'),
    })
    .strict(),
  z
    .object({ ...base, type: z.literal('RetireSigningKey'), fingerprint, reason: z.string().max(500).optional() })
    .strict(),
  // `revocation`: the key's own revocation certificate (gpg --gen-revoke), or its block carrying
  // one; then the owner may send it, and `reason` defaults to the certificate's.
  z
    .object({
      ...base,
      type: z.literal('RevokeSigningKey'),
      fingerprint,
      since: z.string().datetime({ offset: false }).optional(),
      reason: z.string().min(1).max(500).optional(),
      revocation: armoredKey.optional(),
    })
    .strict()
    .refine((c) => c.reason !== undefined || c.revocation !== undefined, {
      message: 'a revocation needs a reason (or a revocation certificate, which carries one)',
      path: ['reason'],
    }),
]);

export type Command = z.infer<typeof CommandSchema>;
export type CommandType = Command['type'];
/** The command of one type (Command is a union discriminated by `type`). */
export type CommandOf<T extends CommandType> = Extract<Command, { type: T }>;

/** Parses the exact signed bytes of a command (attacker-controlled). */
export function parseCommand(bytes: string): Command {
  checkCommandSize(bytes);
  let value: unknown;
  try {
    value = JSON.parse(bytes);
  } catch {
    throw new DomainError('BAD_COMMAND', 'the command is not valid JSON');
  }
  const parsed = CommandSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new DomainError(
      'BAD_COMMAND',
      `the command is not valid: ${issue.path.join('.') || '(top level)'}: ${issue.message}`,
    );
  }
  return parsed.data;
}

/**
 * What a command id means given the log's record of it: `new` (never seen), `replay` (the same
 * bytes again: answered with the first result, never decided twice) or `ID_REUSED` (another
 * command under a used id). The digest is over the exact signed bytes.
 */
export function commandIdUse(state: TrustState, id: string, commandBytes: string): 'new' | 'replay' | 'ID_REUSED' {
  const prior = state.commands.get(id);
  if (!prior) return 'new';
  return prior.commandSha256 === textDigest(commandBytes) ? 'replay' : 'ID_REUSED';
}

/** The refusal of a command id used before for other bytes. */
export function idReused(id: string): DomainError {
  return new DomainError('ID_REUSED', `the command id "${id}" was used before for another command; use a new id`);
}

/** Every command type, in the order CommandSchema lists them. */
export const COMMAND_TYPES: readonly CommandType[] = CommandSchema.options.map((o) => o.shape.type.value);

/** The fields every command carries besides `type`: the envelope a client fills in. */
export const COMMAND_ENVELOPE_FIELDS = Object.keys(base) as readonly (keyof typeof base)[];

/**
 * Each command type's JSON Schema (draft 2020-12), generated from the zod schema the server
 * parses with, so the published document and the parser cannot drift apart. A cross-field rule
 * (a revocation needs a reason or a certificate) is not expressible there and is said in prose.
 */
export function commandJsonSchemas(
  target: 'draft-2020-12' | 'openapi-3.0' = 'draft-2020-12',
): Record<CommandType, Record<string, unknown>> {
  return Object.fromEntries(
    CommandSchema.options.map((o) => [o.shape.type.value, z.toJSONSchema(o, { target }) as Record<string, unknown>]),
  ) as Record<CommandType, Record<string, unknown>>;
}
