import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  type ClientErrorCode,
  DomainError,
  type DomainErrorCode,
  InfrastructureError,
  type InfrastructureErrorCode,
} from '@signet/domain';
import { renderErrorPage } from '@signet/render';
import { TlogError, type TlogErrorCode } from '@signet/tlog';
import { Metrics } from './metrics.js';

// The one place error codes become HTTP statuses. Each map is total over its code union: a new
// code does not compile until it has a status here.

/** Raised only by the client, the CLI and the auditor: one reaching the server is a bug. */
const CLIENT_SIDE_STATUS: Record<ClientErrorCode, number> = {
  FETCH_FAILED: 500,
  BAD_PROOF: 500,
  SNAPSHOT_MALFORMED: 500,
  SNAPSHOT_WRONG_KEY: 500,
  SNAPSHOT_BAD_SIGNATURE: 500,
  SNAPSHOT_BAD_CHECKPOINT: 500,
  SNAPSHOT_EXPIRED: 500,
  SNAPSHOT_FROM_THE_FUTURE: 500,
  SNAPSHOT_ROLLBACK: 500,
  SNAPSHOT_FORK: 500,
  NO_SNAPSHOT: 500,
  USAGE: 500,
  WITNESS_WRONG_LOG: 500,
  WITNESS_STATE: 500,
  CHECKPOINT_ROLLBACK: 500,
  CHECKPOINT_FORK: 500,
  SOURCE_UNREACHABLE: 500,
  SOURCE_ERROR: 500,
};

const DOMAIN_STATUS: Record<DomainErrorCode, number> = {
  // the request cannot be read
  BAD_PARAMETER: 400,
  BAD_RANGE: 400,
  BAD_COMMAND: 400,
  BAD_KEY: 400,
  BAD_SIGNATURE: 400,
  BAD_PACKAGE: 400,
  BAD_REQUEST: 400,
  BAD_MODULE_SIG: 400,
  BAD_CHECKPOINT: 400,
  BAD_CERTIFICATION: 400,
  BAD_REVOCATION: 400,
  BAD_EVENT: 400,
  BAD_ENTRY: 400,
  BAD_POLICY: 400,
  NOT_CANONICAL_JSON: 400,
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
  DUPLICATE_ID: 409, // answered as a replay (or ID_REUSED) by the command service, never sent
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
  BATCH_TOO_LARGE: 413,
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
  ...CLIENT_SIDE_STATUS,
};

const INFRASTRUCTURE_STATUS: Record<InfrastructureErrorCode, number> = {
  // try again
  DATABASE_UNAVAILABLE: 503,
  LOG_BUSY: 503,
  LOG_CLOSED: 503,
  NOT_INITIALIZED: 503,
  // the log is unsafe to serve until an operator looks (README: Integrity of the log)
  LOG_ROLLED_BACK: 503,
  APPEND_ONLY_DISABLED: 503,
  BAD_CHECKPOINT_FILE: 503,
  CHECKPOINT_FILE_UNWRITABLE: 503,
  // the log's own data contradicts itself, or belongs to another log
  CORRUPT_LOG: 500,
  LOG_KEY_MISMATCH: 500,
  DATA_DIR_LOCKED: 503,
  // the blob store (README: Blob storage); nothing was appended
  BLOB_STORE_UNAVAILABLE: 503,
  BLOB_STORE_CORRUPT: 503,
};

/** Log material a request sent (a checkpoint, a tile path) that libs/tlog refused. */
const TLOG_STATUS: Record<TlogErrorCode, number> = {
  BAD_HASH: 400,
  BAD_PROOF: 400,
  BAD_RANGE: 400,
  BAD_TILE_PATH: 400,
  BAD_ENTRY_BUNDLE: 400,
  BAD_NOTE: 400,
  BAD_KEY: 400,
  UNVERIFIED_NOTE: 400,
  BAD_CHECKPOINT: 400,
  BAD_COSIGNATURE: 422,
  QUORUM_NOT_MET: 400,
};

/** Codes for refusals the framework makes before our code runs. */
export type FrameworkErrorCode =
  | 'BAD_REQUEST'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE';

/**
 * Nest's HttpExceptions and Fastify's own errors (FST_*: a malformed URL, a body or a multipart
 * file too large, a content type with no parser) carry a 4xx status; it picks our code.
 */
const FRAMEWORK_STATUS: Record<FrameworkErrorCode, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
};
const FRAMEWORK_CODE = new Map(Object.entries(FRAMEWORK_STATUS).map(([code, status]) => [status, code]));

/** Every code the API can answer with (what the OpenAPI document lists). */
export type ApiErrorCode = DomainErrorCode | InfrastructureErrorCode | TlogErrorCode | FrameworkErrorCode;

const API_STATUS: Record<ApiErrorCode, number> = {
  // first: a code in two unions (BAD_PROOF, client-side and from libs/tlog) takes the server's status
  ...DOMAIN_STATUS,
  ...FRAMEWORK_STATUS,
  ...TLOG_STATUS,
  ...INFRASTRUCTURE_STATUS,
};

/** HTTP status of an error code (what the OpenAPI document uses). */
export function statusOf(code: ApiErrorCode): number {
  return API_STATUS[code];
}

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
}

/** Turns anything thrown into `{code, message}` (and when to try again); only a bug becomes a 500. */
export function toErrorResponse(error: unknown): { status: number; body: ErrorBody; retryAfterSeconds?: number } {
  if (error instanceof DomainError) {
    return { status: DOMAIN_STATUS[error.code], body: { code: error.code, message: error.message } };
  }
  if (error instanceof TlogError) {
    return { status: TLOG_STATUS[error.code], body: { code: error.code, message: error.message } };
  }
  if (error instanceof InfrastructureError) {
    const retry = error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds };
    const status = INFRASTRUCTURE_STATUS[error.code];
    return { status, body: { code: error.code, message: error.message }, ...retry };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const code = FRAMEWORK_CODE.get(status) ?? `HTTP_${status}`;
    const message = status === 404 ? 'there is nothing at this path; see the README for the API' : error.message;
    return { status, body: { code, message } };
  }
  // Fastify's own refusals (malformed URL, body too large, bad content type) carry a 4xx.
  const e = error as { statusCode?: number; code?: string; message?: string };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code = FRAMEWORK_CODE.get(e.statusCode) ?? e.code ?? `HTTP_${e.statusCode}`;
    return { status: e.statusCode, body: { code, message: e.message ?? 'bad request' } };
  }
  return { status: 500, body: { code: 'INTERNAL', message: 'internal error; it has been logged' } };
}

/**
 * True when the client ranks HTML above JSON in its Accept header: a browser's navigation
 * (text/html first, any type at q=0.8). Any type alone (curl, fetch) and a tie are JSON: API
 * clients keep exactly the answers they had.
 */
export function wantsHtml(accept: string | string[] | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  for (const range of (Array.isArray(accept) ? accept.join(',') : accept).split(',')) {
    const [type = '', ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'text/html' || type === 'application/xhtml+xml') html = Math.max(html, q);
    else if (type === 'application/json' || type === 'application/*' || type === '*/*') json = Math.max(json, q);
  }
  return html > 0 && html > json;
}

/** Answers an error: `{code, message}` as JSON, or the same status and code as a page for a browser. */
export function sendError(
  request: Pick<FastifyRequest, 'headers'>,
  reply: FastifyReply,
  response: { status: number; body: ErrorBody; retryAfterSeconds?: number },
): void {
  const { status, body, retryAfterSeconds } = response;
  if (retryAfterSeconds !== undefined) void reply.header('retry-after', String(retryAfterSeconds));
  void reply.status(status).header('cache-control', 'no-store').header('vary', 'accept');
  if (wantsHtml(request.headers.accept))
    void reply.type('text/html; charset=utf-8').send(renderErrorPage(status, body.code, body.message));
  else void reply.type('application/json; charset=utf-8').send(body);
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  constructor(private readonly metrics: Metrics) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    const response = toErrorResponse(error);
    const { status, body } = response;
    if ((status >= 400 && status < 500) || error instanceof DomainError) this.metrics.refused(body.code);
    // The database or the blob store away is not a bug: one line with the reason, no stack.
    if (error instanceof InfrastructureError && error.code === 'BLOB_STORE_UNAVAILABLE') {
      this.logger.warn(`${error.code}: ${error.message}`);
    } else if (error instanceof InfrastructureError && error.retryAfterSeconds !== undefined) {
      this.logger.warn(`${error.code}: ${(error.cause as Error | undefined)?.message ?? error.message}`);
    } else if (status >= 500) {
      this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    }
    sendError(request, reply, response);
  }
}
