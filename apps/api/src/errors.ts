import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DomainError } from '@signet/domain';
import { TlogError } from '@signet/tlog';

/** The one place error codes become HTTP statuses. Unlisted domain codes are 400. */
const STATUS: Record<string, number> = {
  NOT_IN_LOG: 404,
  NOT_FOUND: 404,
  BAD_PARAMETER: 400,
  BAD_RANGE: 400,
  BAD_TILE_PATH: 400,
  EVENT_TOO_LARGE: 413,
  LOG_SIZE_CHANGED: 409,
  LOG_CLOSED: 503,
  NOT_INITIALIZED: 503,
};

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
}

/** Turns anything thrown into `{code, message}`; only a bug becomes a 500. */
export function toErrorResponse(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof DomainError || error instanceof TlogError) {
    return { status: STATUS[error.code] ?? 400, body: { code: error.code, message: error.message } };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const code = status === 404 ? 'NOT_FOUND' : status === 405 ? 'METHOD_NOT_ALLOWED' : `HTTP_${status}`;
    const message = status === 404 ? 'there is nothing at this path; see the README for the API' : error.message;
    return { status, body: { code, message } };
  }
  // Fastify's own refusals (malformed URL, body too large, bad content type) carry a 4xx.
  const e = error as { statusCode?: number; code?: string; message?: string };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { code: e.code ?? `HTTP_${e.statusCode}`, message: e.message ?? 'bad request' } };
  }
  return { status: 500, body: { code: 'INTERNAL', message: 'internal error; it has been logged' } };
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, body } = toErrorResponse(error);
    if (status >= 500) this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    void reply.status(status).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(body);
  }
}
