import { Controller, Get, Inject, Param, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { DomainError } from '@signet/domain';
import { outboxStatus } from '@signet/jobs';
import { renderAnnouncementPage, renderAtomFeed } from '@signet/render';
import { ArchiveStore, TrustProjection } from '@signet/service';
import type { SignetConfig, SignetLog } from '@signet/store';
import { ApiRoute } from './openapi.js';
import { SIGNET_ARCHIVE, SIGNET_CONFIG, SIGNET_LOG } from './tokens.js';

const SEQ = /^(0|[1-9][0-9]{0,15})$/;

/** What the workers publish: the announcement feed, the archive, and how far they are. */
@ApiTags('announcements')
@Controller()
export class AnnouncementsController {
  constructor(
    private readonly projection: TrustProjection,
    @Inject(SIGNET_CONFIG) private readonly config: SignetConfig,
    @Inject(SIGNET_ARCHIVE) private readonly archive: ArchiveStore,
    @Inject(SIGNET_LOG) private readonly log: SignetLog,
  ) {}

  @Get('announcements.atom')
  @ApiRoute(
    'Every announcement posted on the built-in channel (Atom, RFC 4287), newest first',
    { status: 200, description: 'the feed', type: 'application/atom+xml' },
    [],
  )
  async feed(@Res() reply: FastifyReply): Promise<void> {
    const xml = renderAtomFeed(await this.projection.catchUp(), this.config.publicUrl);
    void reply.header('cache-control', 'public, max-age=60').type('application/atom+xml; charset=utf-8').send(xml);
  }

  @Get('announcements/:seq')
  @ApiRoute(
    'One announcement of the built-in channel (HTML), by the seq of the event it announces',
    { status: 200, description: 'the page', type: 'text/html' },
    ['BAD_PARAMETER', 'NOT_FOUND'],
  )
  async announcement(@Param('seq') seq: string, @Res() reply: FastifyReply): Promise<void> {
    if (!SEQ.test(seq))
      throw new DomainError(
        'BAD_PARAMETER',
        'an announcement is named by the seq of the event it announces, a non-negative integer',
      );
    const state = await this.projection.catchUp();
    const found = state.announcements.find((a) => a.channel === 'atom' && a.cause === Number(seq));
    if (!found) throw new DomainError('NOT_FOUND', `no announcement was posted for event ${seq}`);
    void reply
      .header('cache-control', 'public, max-age=3600')
      .type('text/html; charset=utf-8')
      .send(renderAnnouncementPage(state, found));
  }

  @Get('archive/:sha256')
  @ApiRoute(
    'An archived listing, raw.txt or key page, by its SHA-256 (immutable)',
    { status: 200, description: 'the document', type: 'text/html' },
    ['BAD_PARAMETER', 'NOT_FOUND', 'BLOB_STORE_UNAVAILABLE'],
  )
  async archived(@Param('sha256') sha256: string, @Res() reply: FastifyReply): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(sha256))
      throw new DomainError('BAD_PARAMETER', 'an archived document is named by its SHA-256: 64 lower-case hex digits');
    const content = await this.archive.get(sha256);
    if (!content) throw new DomainError('NOT_FOUND', `the archive has no document ${sha256}`);
    const html = content.subarray(0, 15).toString('latin1').toLowerCase() === '<!doctype html>';
    void reply
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('etag', `"${sha256}"`)
      .header('x-content-type-options', 'nosniff')
      .header(
        'content-security-policy',
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
      )
      .type(html ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8')
      .send(content);
  }

  @Get('outbox')
  @ApiRoute(
    "The workers' progress: per consumer, the next event to look at and the jobs not done",
    { status: 200, description: '{treeSize, consumers}' },
    [],
  )
  async outbox() {
    const [treeSize, consumers] = await Promise.all([this.log.reader.size(), outboxStatus(this.log.db)]);
    return { treeSize, consumers };
  }
}
