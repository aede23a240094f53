import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOperation, ApiResponse } from '@nestjs/swagger';
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
