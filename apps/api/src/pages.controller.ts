import { Controller, Get, Inject, Param, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { type Clock, DomainError, fingerprintOf } from '@signet/domain';
import { renderKeyPage, renderListingPage } from '@signet/render';
import { TrustProjection } from '@signet/service';
import { ApiRoute } from './openapi.js';
import { SIGNET_CLOCK } from './tokens.js';

/** The key listing for people: HTML, readable on a phone. */
@ApiTags('pages')
@Controller()
export class PagesController {
  constructor(
    private readonly projection: TrustProjection,
    @Inject(SIGNET_CLOCK) private readonly clock: Clock,
  ) {}

  @Get()
  @ApiRoute('The package signing key listing (HTML)', { status: 200, description: 'the page', type: 'text/html' }, [])
  async listing(@Res() reply: FastifyReply): Promise<void> {
    const html = renderListingPage(await this.projection.catchUp(), this.clock.now());
    void reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(html);
  }

  @Get('keys/:fingerprint')
  @ApiRoute("One signing key's page (HTML)", { status: 200, description: 'the page', type: 'text/html' }, [
    'BAD_PARAMETER',
    'NOT_FOUND',
  ])
  async key(@Param('fingerprint') fingerprint: string, @Res() reply: FastifyReply): Promise<void> {
    if (fingerprintOf(fingerprint) === null) throw new DomainError('BAD_PARAMETER', 'a fingerprint is 40 hex digits');
    const html = renderKeyPage(await this.projection.catchUp(), fingerprint.toUpperCase(), this.clock.now());
    if (!html) throw new DomainError('NOT_FOUND', `no package signing key ${fingerprint} is in the log`);
    void reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(html);
  }
}
