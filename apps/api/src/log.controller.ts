import { Body, Controller, Get, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBody, ApiConsumes, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Clock, DomainError } from '@signet/domain';
import { CosignatureService } from '@signet/service';
import { ImmutableTileCache, type SignetConfig, type SignetLog } from '@signet/store';
import { TILE_WIDTH, parseTilePath } from '@signet/tlog';
import { ApiRoute } from './openapi.js';
import { parseCount } from './params.js';
import { ConsistencyProofQuery, GetEventQuery, InclusionProofQuery } from './queries.js';
import { SIGNET_CLOCK, SIGNET_CONFIG, SIGNET_LOG } from './tokens.js';

/** The response header carrying the log's clock (ISO 8601 UTC, milliseconds), on every answer. */
export const LOG_TIME_HEADER = 'signet-log-time';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const COSIGNATURE_CODES = [
  'BAD_CHECKPOINT',
  'TOO_LARGE',
  'NOT_THIS_LOG',
  'BAD_COSIGNATURE',
  'UNKNOWN_WITNESS',
  'CHECKPOINT_MISMATCH',
  'NOT_INITIALIZED',
] as const;

/** C2SP tlog-tiles under /log, witness cosignatures (C2SP tlog-cosignature), plus JSON conveniences for events and proofs. */
@ApiTags('log')
@Controller('log')
export class LogController {
  private readonly tiles: ImmutableTileCache;
  private readonly cosignatures: CosignatureService;

  constructor(
    @Inject(SIGNET_LOG) private readonly log: SignetLog,
    @Inject(SIGNET_CONFIG) config: SignetConfig,
    @Inject(SIGNET_CLOCK) private readonly clock: Clock,
    private readonly queries: QueryBus,
  ) {
    this.tiles = new ImmutableTileCache(log.reader);
    this.cosignatures = new CosignatureService(log, config.witnesses, clock);
  }

  @Get('checkpoint')
  @ApiRoute(
    'The latest checkpoint (C2SP tlog-checkpoint, signed note) with the witness cosignatures stored for it, by witness name',
    { status: 200, description: 'the note', type: 'text/plain' },
    ['NOT_INITIALIZED', 'LOG_ROLLED_BACK'],
  )
  async checkpoint(@Res() reply: FastifyReply): Promise<void> {
    // The checkpoint moves (and gains cosignatures): caches must revalidate every time.
    void reply
      .header('cache-control', 'no-cache')
      .type('text/plain; charset=utf-8')
      .send(await this.cosignatures.checkpoint());
  }

  @Get('checkpoint/cosigned')
  @ApiRoute(
    'The largest checkpoint witnesses cosigned, with all its cosignatures (for a quorum of witnesses)',
    { status: 200, description: 'the note', type: 'text/plain' },
    ['NOT_COSIGNED'],
  )
  async cosignedCheckpoint(@Res() reply: FastifyReply): Promise<void> {
    void reply
      .header('cache-control', 'no-cache')
      .type('text/plain; charset=utf-8')
      .send(await this.cosignatures.latestCosigned());
  }

  /** A witness's cosignature: the checkpoint note (text/plain) carrying its C2SP tlog-cosignature line(s). */
  @Post('cosignature')
  @ApiRoute(
    'Submit witness cosignatures: the checkpoint note carrying cosignature/v1 lines of configured witnesses',
    { status: 201, description: '{treeSize, created, cosignatures}; 200 when nothing new was stored' },
    COSIGNATURE_CODES,
  )
  @ApiConsumes('text/plain')
  @ApiBody({ schema: { type: 'string' }, description: 'the signed checkpoint note with the witness signature lines' })
  async cosign(@Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    if (typeof body !== 'string')
      throw new DomainError('BAD_CHECKPOINT', 'send the cosigned checkpoint note as text/plain');
    const recorded = await this.cosignatures.submit(body);
    void reply.status(recorded.created ? 201 : 200).send(recorded);
  }

  /** The log's clock: what `issuedAt` is judged against (STALE_COMMAND), so clients take it from here. */
  @Get('time')
  @ApiRoute(
    "The log's clock, which judges a command's `issuedAt`: {time (ISO 8601 UTC), ms (since the epoch)}",
    { status: 200, description: '{time, ms}' },
    [],
  )
  time(@Res() reply: FastifyReply): void {
    const now = this.clock.now();
    void reply.header('cache-control', 'no-store').send({ time: now.toISOString(), ms: now.getTime() });
  }

  @Get('verifier-key')
  @ApiRoute(
    "The log's note verifier key (name+hash+base64)",
    { status: 200, description: 'the key', type: 'text/plain' },
    [],
  )
  verifierKey(@Res() reply: FastifyReply): void {
    void reply
      .header('cache-control', 'public, max-age=86400')
      .type('text/plain; charset=utf-8')
      .send(`${this.log.identity.verifierKey}\n`);
  }

  @Get('tile/*')
  @ApiRoute(
    'C2SP tlog-tiles: tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>]',
    { status: 200, description: 'the tile bytes', type: 'application/octet-stream' },
    ['BAD_TILE_PATH', 'NOT_IN_LOG'],
  )
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
  @ApiRoute(
    'An event with its leaf bytes and inclusion proof in the current tree',
    { status: 200, description: 'the event' },
    ['BAD_PARAMETER', 'NOT_IN_LOG'],
  )
  event(@Param('seq') seq: string) {
    return this.queries.execute(new GetEventQuery(parseCount('seq', seq)));
  }

  @Get('proof/inclusion')
  @ApiRoute(
    'An inclusion proof (RFC 9162 order)',
    { status: 200, description: '{seq, treeSize, leafHash, rootHash, proof}' },
    ['BAD_PARAMETER', 'BAD_RANGE', 'NOT_IN_LOG'],
  )
  @ApiQuery({ name: 'seq', required: true })
  @ApiQuery({ name: 'size', required: false })
  inclusion(@Query('seq') seq: string, @Query('size') size?: string) {
    return this.queries.execute(
      new InclusionProofQuery(parseCount('seq', seq), size === undefined ? undefined : parseCount('size', size)),
    );
  }

  @Get('proof/consistency')
  @ApiRoute(
    'A consistency proof between two tree sizes',
    { status: 200, description: '{from, to, fromRoot, toRoot, proof}' },
    ['BAD_PARAMETER', 'BAD_RANGE', 'NOT_IN_LOG'],
  )
  @ApiQuery({ name: 'from', required: true })
  @ApiQuery({ name: 'to', required: false })
  consistency(@Query('from') from: string, @Query('to') to?: string) {
    return this.queries.execute(
      new ConsistencyProofQuery(parseCount('from', from), to === undefined ? undefined : parseCount('to', to)),
    );
  }
}
