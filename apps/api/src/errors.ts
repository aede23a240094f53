import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DomainError, InfrastructureError } from '@signet/domain';
import { TlogError } from '@signet/tlog';

/** The one place error codes become HTTP statuses. Unlisted domain codes are 400. */
const STATUS: Record<string, number> = {
  // the request cannot be read
  BAD_PARAMETER: 400,
  BAD_RANGE: 400,
  BAD_TILE_PATH: 400,
  BAD_COMMAND: 400,
  BAD_KEY: 400,
  BAD_SIGNATURE: 400,
  BAD_PACKAGE: 400,
  BAD_REQUEST: 400,
  BAD_MODULE_SIG: 400,
  BAD_CHECKPOINT: 400,
  BAD_CERTIFICATION: 400,
  BAD_REVOCATION: 400,
  // who is asking may not
  NOT_AUTHORIZED_ROLE: 403,
  SELF_AUTHORIZATION: 403,
  UNKNOWN_SIGNER: 403,
  UNKNOWN_WITNESS: 403,
  // nothing there
  NOT_IN_LOG: 404,
  NOT_FOUND: 404,
  NOT_COSIGNED: 404,
  // conflicts with what the log holds
  ID_REUSED: 409,
  ALREADY_AUTHORIZED: 409,
  ALREADY_ANNOUNCED: 409,
  ALREADY_PUBLISHED: 409,
  MEMBER_EXISTS: 409,
  KEY_EXISTS: 409,
  KEY_IN_USE: 409,
  USERNAME_TAKEN: 409,
  NO_CHANGE: 409,
  LOG_SIZE_CHANGED: 409,
  CHECKPOINT_MISMATCH: 409,
  // too large
  EVENT_TOO_LARGE: 413,
  TOO_LARGE: 413,
  FST_REQ_FILE_TOO_LARGE: 413,
  // well-formed, but the protocol refuses it
  WRONG_ORIGIN: 422,
  STALE_COMMAND: 422,
  WEAK_KEY: 422,
  WEAK_DIGEST: 422,
  SHA1_REFUSED: 422,
  MISSING_USER_ID: 422,
  UNKNOWN_MEMBER: 422,
  UNKNOWN_SIGNING_KEY: 422,
  NOT_AUTHORIZED_BY: 422,
  KEY_NOT_AUTHORIZED: 422,
  KEY_NOT_YET_ACTIVE: 422,
  KEY_NOT_REMOVED: 422,
  KEY_RETIRED: 422,
  KEY_REVOKED: 422,
  FUTURE_SIGNATURE: 422,
  UNSUPPORTED_MODULE_SIG: 422,
  NOT_THIS_LOG: 422,
  BAD_COSIGNATURE: 422,
  // try again
  LOG_BUSY: 503,
  LOG_CLOSED: 503,
  NOT_INITIALIZED: 503,
  // the log is unsafe to serve until an operator looks (README: Integrity of the log)
  LOG_ROLLED_BACK: 503,
  APPEND_ONLY_DISABLED: 503,
  BAD_CHECKPOINT_FILE: 503,
  CHECKPOINT_FILE_UNWRITABLE: 503,
  DATABASE_UNAVAILABLE: 503,
};

/** HTTP status of an error code (what the OpenAPI document and the filter both use). */
export function statusOf(code: string): number {
  return STATUS[code] ?? 400;
}

/** Codes for refusals the framework makes before our code runs. */
const HTTP_CODES: Record<number, string> = { 400: 'BAD_REQUEST', 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 413: 'TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
}

/** Turns anything thrown into `{code, message}` (and when to try again); only a bug becomes a 500. */
export function toErrorResponse(error: unknown): { status: number; body: ErrorBody; retryAfterSeconds?: number } {
  if (error instanceof DomainError || error instanceof TlogError) {
    const retry = error instanceof InfrastructureError ? { retryAfterSeconds: error.retryAfterSeconds } : {};
    return { status: statusOf(error.code), body: { code: error.code, message: error.message }, ...retry };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const code = HTTP_CODES[status] ?? `HTTP_${status}`;
    const message = status === 404 ? 'there is nothing at this path; see the README for the API' : error.message;
    return { status, body: { code, message } };
  }
  // Fastify's own refusals (malformed URL, body too large, bad content type) carry a 4xx.
  const e = error as { statusCode?: number; code?: string; message?: string };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { code: HTTP_CODES[e.statusCode] ?? e.code ?? `HTTP_${e.statusCode}`, message: e.message ?? 'bad request' } };
  }
  return { status: 500, body: { code: 'INTERNAL', message: 'internal error; it has been logged' } };
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, body, retryAfterSeconds } = toErrorResponse(error);
    // The database away is not a bug: one line with the driver's reason, no stack.
    if (error instanceof InfrastructureError) this.logger.warn(`${error.code}: ${(error.cause as Error | undefined)?.message ?? error.message}`);
    else if (status >= 500) this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    if (retryAfterSeconds !== undefined) void reply.header('retry-after', String(retryAfterSeconds));
    void reply.status(status).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(body);
  }
}
