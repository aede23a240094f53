import { NotFoundException } from '@nestjs/common';
import { DomainError, InfrastructureError } from '@signet/domain';
import { TlogError } from '@signet/tlog';
import { describe, expect, it } from 'vitest';
import { statusOf, toErrorResponse, wantsHtml } from '../src/errors.js';

describe('error responses', () => {
  it('refusals answer their code with the status of its group', () => {
    expect(toErrorResponse(new DomainError('SELF_AUTHORIZATION', 'no'))).toEqual({
      status: 403,
      body: { code: 'SELF_AUTHORIZATION', message: 'no' },
    });
    expect(toErrorResponse(new DomainError('KEY_NOT_YET_ACTIVE', 'x')).status).toBe(422);
    expect(toErrorResponse(new DomainError('ID_REUSED', 'x')).status).toBe(409);
    expect(toErrorResponse(new DomainError('BAD_EVENT', 'x')).status).toBe(400);
    expect(toErrorResponse(new TlogError('BAD_TILE_PATH', 'x')).status).toBe(400);
    expect(toErrorResponse(new TlogError('BAD_COSIGNATURE', 'x')).status).toBe(422);
  });
  it('infrastructure failures are 5xx; only a retryable one says when to try again', () => {
    expect(toErrorResponse(new InfrastructureError('DATABASE_UNAVAILABLE', 'away', 2))).toEqual({
      status: 503,
      body: { code: 'DATABASE_UNAVAILABLE', message: 'away' },
      retryAfterSeconds: 2,
    });
    expect(toErrorResponse(new InfrastructureError('LOG_BUSY', 'busy'))).toEqual({
      status: 503,
      body: { code: 'LOG_BUSY', message: 'busy' },
    });
    expect(toErrorResponse(new InfrastructureError('CORRUPT_LOG', 'x')).status).toBe(500);
  });
  it("the framework's refusals get our code by their status; Fastify's other 4xx keep their own code", () => {
    const tooLarge = Object.assign(new Error('too large'), { code: 'FST_REQ_FILE_TOO_LARGE', statusCode: 413 });
    expect(toErrorResponse(tooLarge)).toEqual({ status: 413, body: { code: 'TOO_LARGE', message: 'too large' } });
    const timeout = Object.assign(new Error('timeout'), { code: 'FST_ERR_X', statusCode: 408 });
    expect(toErrorResponse(timeout).body.code).toBe('FST_ERR_X');
    expect(toErrorResponse(new NotFoundException()).body.code).toBe('NOT_FOUND');
    expect(toErrorResponse(new Error('bug'))).toMatchObject({ status: 500, body: { code: 'INTERNAL' } });
  });
  it('documents each code with the status it is answered with', () => {
    expect(statusOf('BAD_PROOF')).toBe(400); // the server raises it only from libs/tlog
    expect(statusOf('LOG_ROLLED_BACK')).toBe(503);
    expect(statusOf('METHOD_NOT_ALLOWED')).toBe(405);
  });
  it('answers a page only to a client that ranks HTML above JSON (a browser), JSON to every other', () => {
    expect(wantsHtml('text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8')).toBe(true);
    expect(wantsHtml('application/xhtml+xml')).toBe(true);
    expect(wantsHtml(['text/plain', 'text/html'])).toBe(true);
    for (const api of [
      undefined,
      '',
      '*/*',
      'application/json',
      'application/json, text/html',
      'text/html;q=0.5, */*',
      'text/html;q=0',
      'text/html;q=abc',
      'application/*, text/html;q=0.9',
    ])
      expect([api, wantsHtml(api)]).toEqual([api, false]);
  });
});
