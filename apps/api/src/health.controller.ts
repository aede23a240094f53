import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiTags } from '@nestjs/swagger';
import { ApiRoute } from './openapi.js';
import { outboxStatus } from '@signet/jobs';
import { type SignetLog, pendingMigrations, ping } from '@signet/store';
import { Metrics } from './metrics.js';
import { SIGNET_LOG } from './tokens.js';

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    @Inject(SIGNET_LOG) private readonly log: SignetLog,
    private readonly metrics: Metrics,
  ) {}

  /** The process is up. */
  @Get('healthz')
  @ApiRoute('The process is up', { status: 200, description: '{status: "ok"}' }, [])
  healthz() {
    return { status: 'ok' };
  }

  /** The database answers and every migration is applied. */
  @Get('readyz')
  @ApiRoute('Database reachable and migrations applied (503 otherwise)', { status: 200, description: '{status, database}' }, [])
  async readyz(@Res() reply: FastifyReply): Promise<void> {
    let body: { status: string; database: string; pendingMigrations?: string[] };
    try {
      await ping(this.log.db.db);
      const pending = await pendingMigrations(this.log.db.db);
      body = pending.length === 0 ? { status: 'ok', database: this.log.db.kind } : { status: 'migrations pending', database: this.log.db.kind, pendingMigrations: pending };
    } catch {
      body = { status: 'database unreachable', database: this.log.db.kind };
    }
    void reply.status(body.status === 'ok' ? 200 : 503).header('cache-control', 'no-store').send(body);
  }

  @Get('metrics')
  @ApiRoute('Prometheus metrics', { status: 200, description: 'Prometheus text format', type: 'text/plain' }, [])
  async prometheus(@Res() reply: FastifyReply): Promise<void> {
    const size = await this.log.reader.size();
    this.metrics.treeSize.set(size);
    for (const c of await outboxStatus(this.log.db)) {
      this.metrics.outboxPending.set({ consumer: c.consumer }, c.pending);
      this.metrics.outboxLag.set({ consumer: c.consumer }, Math.max(0, size - c.nextSeq));
    }
    void reply.header('cache-control', 'no-store').type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics());
  }
}
