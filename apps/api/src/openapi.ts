import { applyDecorators } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiOperation,
  ApiResponse,
  type OpenAPIObject,
  type RequestBodyObject,
  type SchemaObject,
} from '@nestjs/swagger';
import { commandJsonSchemas } from '@signet/domain';
import { type ApiErrorCode, statusOf } from './errors.js';

const ERROR_SCHEMA = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', description: 'stable error code' },
    message: { type: 'string', description: 'a sentence a person can act on' },
  },
};

/** Documents a route: its summary, success status, and every error code it can answer with. */
export function ApiRoute(
  summary: string,
  ok: { status: number; description: string; type?: string },
  codes: readonly ApiErrorCode[],
) {
  const byStatus = new Map<number, string[]>();
  for (const code of codes) byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code]);
  return applyDecorators(
    ApiOperation({ summary }),
    ApiResponse({
      status: ok.status,
      description: ok.description,
      ...(ok.type ? { content: { [ok.type]: { schema: { type: 'string' } } } } : {}),
    }),
    ...[...byStatus].map(([status, list]) =>
      ApiResponse({
        status,
        description: `\`{code, message}\` with code ${list.map((c) => `\`${c}\``).join(', ')}`,
        schema: ERROR_SCHEMA,
      }),
    ),
  );
}

/** A multipart/form-data body of named parts. */
export function ApiParts(parts: Record<string, string>) {
  return applyDecorators(
    ApiConsumes('multipart/form-data'),
    ApiBody({
      schema: {
        type: 'object',
        required: Object.keys(parts),
        properties: Object.fromEntries(
          Object.entries(parts).map(([name, description]) => [name, { type: 'string', format: 'binary', description }]),
        ),
      },
    }),
  );
}

/** Codes any command can be refused with, whatever its type. */
export const COMMAND_CODES = [
  'BAD_REQUEST',
  'BAD_COMMAND',
  'BAD_SIGNATURE',
  'BAD_KEY',
  'TOO_LARGE',
  'WRONG_ORIGIN',
  'STALE_COMMAND',
  'SHA1_REFUSED',
  'UNKNOWN_SIGNER',
  'NOT_AUTHORIZED_ROLE',
  'SELF_AUTHORIZATION',
  'ID_REUSED',
  'WEAK_KEY',
  'MISSING_USER_ID',
  'MEMBER_EXISTS',
  'USERNAME_TAKEN',
  'KEY_EXISTS',
  'KEY_IN_USE',
  'UNKNOWN_MEMBER',
  'UNKNOWN_SIGNING_KEY',
  'ALREADY_AUTHORIZED',
  'NOT_AUTHORIZED_BY',
  'KEY_NOT_AUTHORIZED',
  'ALREADY_ANNOUNCED',
  'KEY_NOT_REMOVED',
  'KEY_RETIRED',
  'KEY_REVOKED',
  'NO_CHANGE',
  'BAD_CERTIFICATION',
  'BAD_REVOCATION',
  'FUTURE_SIGNATURE',
  'LOG_BUSY',
  'LOG_CLOSED',
  'LOG_ROLLED_BACK',
  'DATABASE_UNAVAILABLE',
] as const;

export const SIGNATURE_CODES = [
  'BAD_REQUEST',
  'BAD_PACKAGE',
  'BAD_SIGNATURE',
  'TOO_LARGE',
  'SHA1_REFUSED',
  'WEAK_DIGEST',
  'UNKNOWN_SIGNER',
  'UNKNOWN_SIGNING_KEY',
  'KEY_NOT_AUTHORIZED',
  'KEY_NOT_YET_ACTIVE',
  'KEY_RETIRED',
  'KEY_REVOKED',
  'FUTURE_SIGNATURE',
  'ALREADY_PUBLISHED',
  'LOG_BUSY',
  'LOG_CLOSED',
  'LOG_ROLLED_BACK',
  'DATABASE_UNAVAILABLE',
] as const;

/**
 * Every command's JSON Schema under components.schemas (`<Type>Command`, and `Command`, one of
 * them by `type`), generated from the zod schemas the server parses with; the `command` part of
 * `POST /commands` refers to it.
 */
export function addCommandSchemas(document: OpenAPIObject): void {
  const schemas = commandJsonSchemas('openapi-3.0');
  const refs = Object.fromEntries(
    Object.keys(schemas).map((type) => [type, `#/components/schemas/${type}Command`]),
  ) as Record<string, string>;
  document.components ??= {};
  document.components.schemas ??= {};
  for (const [type, schema] of Object.entries(schemas)) {
    const { $schema: _, ...rest } = schema;
    document.components.schemas[`${type}Command`] = rest as SchemaObject;
  }
  document.components.schemas.Command = {
    description:
      'A signed command: these exact JSON bytes, with a detached OpenPGP signature over them. ' +
      'RevokeSigningKey needs `reason` or `revocation`.',
    oneOf: Object.values(refs).map(($ref) => ({ $ref })),
    discriminator: { propertyName: 'type', mapping: refs },
  };
  const form = document.paths['/commands']?.post?.requestBody as RequestBodyObject | undefined;
  const multipart = form?.content['multipart/form-data']?.schema as SchemaObject | undefined;
  if (multipart?.properties?.command) {
    multipart.properties.command = {
      allOf: [{ $ref: '#/components/schemas/Command' }],
      description: 'the exact JSON bytes of the command (the signature is over these bytes)',
    };
    form!.content['multipart/form-data']!.encoding = { command: { contentType: 'application/json' } };
  }
}
