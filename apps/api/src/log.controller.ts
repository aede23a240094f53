import { Controller, Get, Inject, Param, Query, Req, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '@signet/domain';
import { ImmutableTileCache, type SignetLog } from '@signet/store';
import { TILE_WIDTH, parseTilePath } from '@signet/tlog';
import { ApiRoute } from './openapi.js';
import { parseCount } from './params.js';
import { ConsistencyProofQuery, GetEventQuery, InclusionProofQuery } from './queries.js';
import { SIGNET_LOG } from './tokens.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';

/** C2SP tlog-tiles under /log, plus JSON conveniences for events and proofs. */
@ApiTags('log')
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
  @ApiRoute('The latest checkpoint (C2SP tlog-checkpoint, signed note)', { status: 200, description: 'the note', type: 'text/plain' }, ['NOT_INITIALIZED'])
  async checkpoint(@Res() reply: FastifyReply): Promise<void> {
    const head = await this.log.reader.head();
    if (!head) throw new DomainError('NOT_INITIALIZED', 'the log has no checkpoint yet');
    // The checkpoint moves: caches must revalidate every time.
    void reply.header('cache-control', 'no-cache').type('text/plain; charset=utf-8').send(head.note);
  }

  @Get('verifier-key')
  @ApiRoute("The log's note verifier key (name+hash+base64)", { status: 200, description: 'the key', type: 'text/plain' }, [])
  verifierKey(@Res() reply: FastifyReply): void {
    void reply.header('cache-control', 'public, max-age=86400').type('text/plain; charset=utf-8').send(`${this.log.identity.verifierKey}\n`);
  }

  @Get('tile/*')
  @ApiRoute('C2SP tlog-tiles: tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>]', { status: 200, description: 'the tile bytes', type: 'application/octet-stream' }, ['BAD_TILE_PATH', 'NOT_IN_LOG'])
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
  @ApiRoute('An event with its leaf bytes and inclusion proof in the current tree', { status: 200, description: 'the event' }, ['BAD_PARAMETER', 'NOT_IN_LOG'])
  event(@Param('seq') seq: string) {
    return this.queries.execute(new GetEventQuery(parseCount('seq', seq)));
  }

  @Get('proof/inclusion')
  @ApiRoute('An inclusion proof (RFC 9162 order)', { status: 200, description: '{seq, treeSize, leafHash, rootHash, proof}' }, ['BAD_PARAMETER', 'BAD_RANGE', 'NOT_IN_LOG'])
  @ApiQuery({ name: 'seq', required: true })
  @ApiQuery({ name: 'size', required: false })
  inclusion(@Query('seq') seq: string, @Query('size') size?: string) {
    return this.queries.execute(new InclusionProofQuery(parseCount('seq', seq), size === undefined ? undefined : parseCount('size', size)));
  }

  @Get('proof/consistency')
  @ApiRoute('A consistency proof between two tree sizes', { status: 200, description: '{from, to, fromRoot, toRoot, proof}' }, ['BAD_PARAMETER', 'BAD_RANGE', 'NOT_IN_LOG'])
  @ApiQuery({ name: 'from', required: true })
  @ApiQuery({ name: 'to', required: false })
  consistency(@Query('from') from: string, @Query('to') to?: string) {
    return this.queries.execute(new ConsistencyProofQuery(parseCount('from', from), to === undefined ? undefined : parseCount('to', to)));
  }
}
