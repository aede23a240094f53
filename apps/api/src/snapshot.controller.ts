import { Controller, Get, Headers, Query, Res } from '@nestjs/common';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { DomainError } from '@signet/domain';
import { type ServedSnapshot, SnapshotService } from '@signet/service';
import { etagMatches, snapshotHeaders } from './fast-path.js';
import { ApiRoute } from './openapi.js';

/** Answers with a served snapshot: 304 when If-None-Match names it, else the body. */
function sendSnapshot(
  reply: FastifyReply,
  served: ServedSnapshot,
  ifNoneMatch: string | undefined,
  immutable: boolean,
): FastifyReply {
  void reply.headers(snapshotHeaders(served, immutable));
  if (etagMatches(ifNoneMatch, served.etag)) return reply.status(304).send();
  return reply.type('application/json; charset=utf-8').send(served.body);
}

/** The signed trust snapshot for offline verifiers (PBX clients, package consumers). */
@ApiTags('trust')
@Controller('trust')
export class SnapshotController {
  constructor(private readonly snapshots: SnapshotService) {}

  @Get('snapshot')
  @ApiRoute(
    'The signed trust snapshot at the head, or at an earlier size (`?size=N`, byte-identical every time); 304 on a matching If-None-Match',
    { status: 200, description: '{signature, snapshot} in RFC 8785 form' },
    ['BAD_PARAMETER', 'NOT_IN_LOG'],
  )
  @ApiQuery({ name: 'size', required: false })
  async snapshot(
    @Query('size') size: string | undefined,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    if (size === undefined) return void sendSnapshot(reply, await this.snapshots.current(), ifNoneMatch, false);
    if (!/^[1-9][0-9]{0,15}$/.test(size))
      throw new DomainError('BAD_PARAMETER', 'size must be a tree size: a positive integer');
    void sendSnapshot(reply, await this.snapshots.at(Number(size)), ifNoneMatch, true);
  }
}
