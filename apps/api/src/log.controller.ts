import { Controller, Get, Inject, Param, Query, Req, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '@signet/domain';
import { ImmutableTileCache, type SignetLog } from '@signet/store';
import { TILE_WIDTH, parseTilePath } from '@signet/tlog';
import { parseCount } from './params.js';
import { ConsistencyProofQuery, GetEventQuery, InclusionProofQuery } from './queries.js';
import { SIGNET_LOG } from './tokens.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';

/** C2SP tlog-tiles under /log, plus JSON conveniences for events and proofs. */
@Controller('log')
export class LogController {
  private readonly tiles: ImmutableTileCache;

  constructor(
    @Inject(SIGNET_LOG) private readonly log: SignetLog,
    private readonly queries: QueryBus,
  ) {
    this.tiles = new ImmutableTileCache(log.reader);
  }

  @Get('checkpoint')
  async checkpoint(@Res() reply: FastifyReply): Promise<void> {
    const head = await this.log.reader.head();
    if (!head) throw new DomainError('NOT_INITIALIZED', 'the log has no checkpoint yet');
    // The checkpoint moves: caches must revalidate every time.
    void reply.header('cache-control', 'no-cache').type('text/plain; charset=utf-8').send(head.note);
  }

  @Get('verifier-key')
  verifierKey(@Res() reply: FastifyReply): void {
    void reply.header('cache-control', 'public, max-age=86400').type('text/plain; charset=utf-8').send(`${this.log.identity.verifierKey}\n`);
  }

  @Get('tile/*')
  async tile(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const path = (request.params as Record<string, string>)['*'] ?? '';
    const coord = parseTilePath(`tile/${path}`);
    const bytes = await this.tiles.get(coord);
    if (!bytes) throw new DomainError('NOT_IN_LOG', `tile/${path} is not in the log (yet)`);
    void reply
      .header('cache-control', coord.width === TILE_WIDTH ? IMMUTABLE : 'public, max-age=60')
      .type('application/octet-stream')
      .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  @Get('events/:seq')
  event(@Param('seq') seq: string) {
    return this.queries.execute(new GetEventQuery(parseCount('seq', seq)));
  }

  @Get('proof/inclusion')
  inclusion(@Query('seq') seq: string, @Query('size') size?: string) {
    return this.queries.execute(new InclusionProofQuery(parseCount('seq', seq), size === undefined ? undefined : parseCount('size', size)));
  }

  @Get('proof/consistency')
  consistency(@Query('from') from: string, @Query('to') to?: string) {
    return this.queries.execute(new ConsistencyProofQuery(parseCount('from', from), to === undefined ? undefined : parseCount('to', to)));
  }
}
