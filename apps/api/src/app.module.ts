import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import type { SignetLog } from '@signet/store';
import { ErrorFilter } from './errors.js';
import { HealthController } from './health.controller.js';
import { LogController } from './log.controller.js';
import { Metrics } from './metrics.js';
import { QUERY_HANDLERS } from './queries.js';
import { SIGNET_LOG } from './tokens.js';

@Module({})
export class AppModule {
  /** The log is opened before Nest starts (it may need initializing) and handed in here. */
  static register(log: SignetLog, metrics: Metrics): DynamicModule {
    return {
      module: AppModule,
      imports: [CqrsModule.forRoot()],
      controllers: [LogController, HealthController],
      providers: [
        { provide: SIGNET_LOG, useValue: log },
        { provide: Metrics, useValue: metrics },
        { provide: APP_FILTER, useClass: ErrorFilter },
        ...QUERY_HANDLERS,
      ],
    };
  }
}
