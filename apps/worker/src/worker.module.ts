import {
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type DynamicModule,
} from '@nestjs/common';
import type { Clock } from '@signet/domain';
import { type Workers, startWorkers } from '@signet/jobs';
import { type SignetServices, createServices } from '@signet/service';
import type { SignetConfig, SignetLog } from '@signet/store';

const PARTS = Symbol('WORKER_PARTS');

interface Parts {
  readonly log: SignetLog;
  readonly config: SignetConfig;
  readonly clock: Clock;
}

/** Runs the workers for the application's lifetime; on shutdown lets running jobs finish. */
@Injectable()
export class WorkerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('worker');
  private workers: Workers | null = null;
  private services: SignetServices | null = null;

  constructor(@Inject(PARTS) private readonly parts: Parts) {}

  async onApplicationBootstrap(): Promise<void> {
    const { log, config, clock } = this.parts;
    this.services = await createServices(log, config, clock);
    this.workers = await startWorkers({
      services: this.services,
      config,
      onError: (what, error) => this.logger.warn(`${what}: ${(error as Error).message}`),
    });
    const consumers = (await this.workers.status()).map((c) => c.consumer).join(', ');
    this.logger.log(
      `following ${log.identity.origin} (${log.db.kind}); consumers: ${consumers}; queue ${config.redisUrl ? `BullMQ "${config.jobs.queue}"` : 'in-process'}`,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.workers?.stop();
    await this.services?.close();
    await this.parts.log.close();
  }
}

@Module({})
export class WorkerModule {
  static register(parts: Parts): DynamicModule {
    return { module: WorkerModule, providers: [{ provide: PARTS, useValue: parts }, WorkerService] };
  }
}
