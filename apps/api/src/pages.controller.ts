import { Controller, Get, Inject, Param, Query, Res } from '@nestjs/common';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { type Clock, DomainError, fingerprintOf, isPackageName } from '@signet/domain';
import { type KeyDates, keyDates } from '@signet/pgp';
import {
  PackageNames,
  type SignatureKind,
  renderKeyPage,
  renderListingPage,
  renderPersonPage,
  renderSearchPage,
  renderSignaturesPage,
  search,
  searchQuery,
} from '@signet/render';
import { TrustProjection } from '@signet/service';
import type { SignetConfig } from '@signet/store';
import { ApiRoute } from './openapi.js';
import { SIGNET_CLOCK, SIGNET_CONFIG } from './tokens.js';

/** Key blocks whose dates are remembered; a log has far fewer keys, so this only bounds memory. */
const MAX_DATES = 10_000;

function fingerprintParam(raw: string): string {
  const fpr = fingerprintOf(raw);
  if (fpr === null) throw new DomainError('BAD_PARAMETER', 'a fingerprint is 40 hex digits');
  return fpr;
}

function html(reply: FastifyReply, page: string): void {
  void reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(page);
}

/** The pages for people: HTML, readable on a phone, linked to each other. */
@ApiTags('pages')
@Controller()
export class PagesController {
  private readonly names = new PackageNames();
  private readonly dates = new Map<string, Promise<KeyDates>>();

  constructor(
    private readonly projection: TrustProjection,
    @Inject(SIGNET_CLOCK) private readonly clock: Clock,
    @Inject(SIGNET_CONFIG) private readonly config: SignetConfig,
  ) {}

  @Get()
  @ApiRoute('The package signing key listing (HTML)', { status: 200, description: 'the page', type: 'text/html' }, [])
  async listing(@Res() reply: FastifyReply): Promise<void> {
    html(reply, renderListingPage(await this.projection.catchUp(), this.clock.now()));
  }

  @Get('keys/:fingerprint.asc')
  @ApiRoute(
    "One signing key's armored public key block, to `gpg --import`",
    { status: 200, description: 'the key', type: 'application/pgp-keys' },
    ['BAD_PARAMETER', 'NOT_FOUND'],
  )
  async armoredKey(@Param('fingerprint') fingerprint: string, @Res() reply: FastifyReply): Promise<void> {
    const fpr = fingerprintParam(fingerprint);
    const key = (await this.projection.catchUp()).signingKeys.get(fpr);
    if (!key) throw new DomainError('NOT_FOUND', `no package signing key ${fingerprint} is in the log`);
    void reply
      .header('cache-control', 'no-cache')
      .header('content-disposition', `attachment; filename="${fpr}.asc"`)
      .type('application/pgp-keys; charset=utf-8')
      .send(key.key);
  }

  @Get('keys/:fingerprint')
  @ApiRoute("One signing key's page (HTML)", { status: 200, description: 'the page', type: 'text/html' }, [
    'BAD_PARAMETER',
    'NOT_FOUND',
  ])
  async key(@Param('fingerprint') fingerprint: string, @Res() reply: FastifyReply): Promise<void> {
    const fpr = fingerprintParam(fingerprint);
    const state = await this.projection.catchUp();
    const key = state.signingKeys.get(fpr);
    if (!key) throw new DomainError('NOT_FOUND', `no package signing key ${fingerprint} is in the log`);
    const details = await this.datesOf(key.key);
    html(reply, renderKeyPage(state, fpr, this.clock.now(), { details, publicUrl: this.config.publicUrl })!);
  }

  @Get('people/:fingerprint')
  @ApiRoute(
    "A member's (or root key's) page: their role, the signing keys they own and those they authorize (HTML)",
    { status: 200, description: 'the page', type: 'text/html' },
    ['BAD_PARAMETER', 'NOT_FOUND'],
  )
  async person(@Param('fingerprint') fingerprint: string, @Res() reply: FastifyReply): Promise<void> {
    const page = renderPersonPage(await this.projection.catchUp(), fingerprintParam(fingerprint), this.clock.now());
    if (!page) throw new DomainError('NOT_FOUND', `no member or root key ${fingerprint} is in the log`);
    html(reply, page);
  }

  @Get('packages/:name')
  @ApiRoute(
    "A package's page: every published signature with its verdict and inclusion proof (HTML)",
    { status: 200, description: 'the page', type: 'text/html' },
    ['BAD_PACKAGE', 'NOT_FOUND'],
  )
  packagePage(@Param('name') name: string, @Res() reply: FastifyReply): Promise<void> {
    return this.signatures('package', name, reply);
  }

  @Get('modules/:name')
  @ApiRoute(
    "A FreePBX module's page: every published module.sig with its verdict and inclusion proof (HTML)",
    { status: 200, description: 'the page', type: 'text/html' },
    ['BAD_PACKAGE', 'NOT_FOUND'],
  )
  modulePage(@Param('name') name: string, @Res() reply: FastifyReply): Promise<void> {
    return this.signatures('module', name, reply);
  }

  @Get('search')
  @ApiRoute(
    'Search keys, people and packages by fingerprint (or key ID), user name or package name (HTML)',
    { status: 200, description: 'the results page', type: 'text/html' },
    ['BAD_PARAMETER'],
  )
  @ApiQuery({ name: 'q', required: true, description: 'a fingerprint or key ID, a user name, or a package name' })
  async search(@Query('q') q: unknown, @Res() reply: FastifyReply): Promise<void> {
    const query = searchQuery(q);
    const state = await this.projection.catchUp();
    html(reply, renderSearchPage(state, query, search(state, query, this.names), this.clock.now()));
  }

  private async signatures(kind: SignatureKind, name: string, reply: FastifyReply): Promise<void> {
    if (!isPackageName(name))
      throw new DomainError('BAD_PACKAGE', `a ${kind} name is 1-128 letters, digits, ".", "_", "+" or "-"`);
    const page = renderSignaturesPage(await this.projection.catchUp(), kind, name);
    if (!page) throw new DomainError('NOT_FOUND', `no signature of the ${kind} ${name} is in the log`);
    html(reply, page);
  }

  /** The key block's dates, read once per block. */
  private datesOf(armored: string): Promise<KeyDates> {
    let dates = this.dates.get(armored);
    if (!dates) {
      if (this.dates.size >= MAX_DATES) this.dates.clear();
      dates = keyDates(armored);
      this.dates.set(armored, dates);
    }
    return dates;
  }
}
