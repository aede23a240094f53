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
import { type WorkerObserver, type Workers, startWorkers } from '@signet/jobs';
import { type SignetServices, createServices } from '@signet/service';
import { type SignetConfig, type SignetLog, ping } from '@signet/store';

const PARTS = Symbol('WORKER_PARTS');

interface Parts {
  readonly log: SignetLog;
  readonly config: SignetConfig;
  readonly clock: Clock;
  readonly observer?: WorkerObserver;
}

/** Runs the workers for the application's lifetime; on shutdown lets running jobs finish. */
@Injectable()
export class WorkerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('worker');
  private workers: Workers | null = null;
  private services: SignetServices | null = null;

  constructor(@Inject(PARTS) private readonly parts: Parts) {}

  get log(): SignetLog {
    return this.parts.log;
  }

  async onApplicationBootstrap(): Promise<void> {
    const { log, config, clock, observer } = this.parts;
    this.services = await createServices(log, config, clock);
    this.workers = await startWorkers({
      services: this.services,
      config,
      onError: (what, error) => this.logger.warn(`${what}: ${(error as Error).message}`),
      observer,
    });
  }

  /** What it follows, and how: the line that says the worker has started. */
  async describe(): Promise<string> {
    const { log, config } = this.parts;
    const consumers = (await this.workers!.status()).map((c) => c.consumer).join(', ');
    return `following ${log.identity.origin} (${log.db.kind}); consumers: ${consumers}; queue ${config.redisUrl ? `BullMQ "${config.jobs.queue}"` : 'in-process'}`;
  }

  /** Why the database cannot be used now, or null. */
  async databaseProblem(): Promise<string | null> {
    try {
      await ping(this.parts.log.db.db);
      return null;
    } catch (error) {
      return `unreachable: ${(error as Error).message}`;
    }
  }

  /** Why the queue cannot take jobs now, or null. */
  queueProblem(): Promise<string | null> {
    return this.workers ? this.workers.notReady() : Promise.resolve('the workers have not started');
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
