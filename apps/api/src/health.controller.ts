import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiTags } from '@nestjs/swagger';
import { ApiRoute } from './openapi.js';
import { type Clock, DomainError, InfrastructureError } from '@signet/domain';
import { type SignetLog, assertAppendOnly, pendingMigrations, ping } from '@signet/store';
import { Metrics } from './metrics.js';
import { SIGNET_CLOCK, SIGNET_LOG } from './tokens.js';

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    @Inject(SIGNET_LOG) private readonly log: SignetLog,
    @Inject(SIGNET_CLOCK) private readonly clock: Clock,
    private readonly metrics: Metrics,
  ) {}

  /** The process is up. */
  @Get('healthz')
  @ApiRoute('The process is up', { status: 200, description: '{status: "ok"}' }, [])
  healthz() {
    return { status: 'ok' };
  }

  /** The database answers, every migration is applied, and the log is intact (see `integrity`). */
  @Get('readyz')
  @ApiRoute(
    'Database reachable, migrations applied, the log tables append-only and not rolled back (503 otherwise)',
    {
      status: 200,
      description: '{status, database}; when the log is unsafe to serve, {status: "unsafe", code, message}',
    },
    [],
  )
  async readyz(@Res() reply: FastifyReply): Promise<void> {
    let body: { status: string; database: string; pendingMigrations?: string[] };
    try {
      await ping(this.log.db.db);
      const pending = await pendingMigrations(this.log.db.db);
      body =
        pending.length === 0
          ? { status: 'ok', database: this.log.db.kind }
          : { status: 'migrations pending', database: this.log.db.kind, pendingMigrations: pending };
    } catch {
      body = { status: 'database unreachable', database: this.log.db.kind };
    }
    const unsafe = body.status === 'ok' ? await this.integrity() : null;
    if (unsafe) body = { status: 'unsafe', database: this.log.db.kind, ...unsafe };
    void reply
      .status(body.status === 'ok' ? 200 : 503)
      .header('cache-control', 'no-store')
      .send(body);
  }

  /**
   * Why the log is unsafe to serve, or null: the log tables writable in the database
   * (APPEND_ONLY_DISABLED), or a database holding less than the log already signed
   * (LOG_ROLLED_BACK, checked by reading the head).
   */
  private async integrity(): Promise<{ code: string; message: string } | null> {
    try {
      await assertAppendOnly(this.log.db.db);
      await this.log.reader.head();
      return null;
    } catch (error) {
      if (error instanceof DomainError || error instanceof InfrastructureError)
        return { code: error.code, message: error.message };
      return {
        code: 'INTEGRITY_UNCHECKED',
        message: `the log's integrity could not be checked: ${(error as Error).message}`,
      };
    }
  }

  @Get('metrics')
  @ApiRoute('Prometheus metrics', { status: 200, description: 'Prometheus text format', type: 'text/plain' }, [])
  async prometheus(@Res() reply: FastifyReply): Promise<void> {
    // Answered while the database is away too (the log's gauges keep their last values).
    await this.metrics.collectLog(this.log, this.clock);
    const { contentType, body } = await this.metrics.scrape();
    void reply.header('cache-control', 'no-store').type(contentType).send(body);
  }
}
