import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { CommandService, PackageService, type SignetServices, SnapshotService, TrustProjection } from '@signet/service';
import type { SignetConfig } from '@signet/store';
import { ErrorFilter } from './errors.js';
import { HealthController } from './health.controller.js';
import { LogController } from './log.controller.js';
import { Metrics } from './metrics.js';
import { QUERY_HANDLERS } from './queries.js';
import { SIGNET_ARCHIVE, SIGNET_CLOCK, SIGNET_CONFIG, SIGNET_LOG } from './tokens.js';
import { AnnouncementsController } from './announcements.controller.js';
import { SnapshotController } from './snapshot.controller.js';
import { PagesController } from './pages.controller.js';
import { TrustController } from './trust.controller.js';
import { TRUST_HANDLERS } from './trust.handlers.js';

@Module({})
export class AppModule {
  /** The log is opened and the services wired (createServices) before Nest starts; Nest only routes to them. */
  static register(parts: { services: SignetServices; metrics: Metrics; config: SignetConfig }): DynamicModule {
    const { services, metrics, config } = parts;
    return {
      module: AppModule,
      imports: [CqrsModule.forRoot()],
      controllers: [
        LogController,
        HealthController,
        TrustController,
        SnapshotController,
        PagesController,
        AnnouncementsController,
      ],
      providers: [
        { provide: SIGNET_LOG, useValue: services.log },
        { provide: SIGNET_CONFIG, useValue: config },
        { provide: SIGNET_CLOCK, useValue: services.clock },
        { provide: SIGNET_ARCHIVE, useValue: services.archive },
        { provide: SnapshotService, useValue: services.snapshots },
        { provide: TrustProjection, useValue: services.projection },
        { provide: CommandService, useValue: services.commands },
        { provide: PackageService, useValue: services.packages },
        ...TRUST_HANDLERS,
        { provide: Metrics, useValue: metrics },
        { provide: APP_FILTER, useClass: ErrorFilter },
        ...QUERY_HANDLERS,
      ],
    };
  }
}
