import { join } from 'node:path';
import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import type { Clock } from '@signet/domain';
import { ArchiveStore, CommandService, Decider, Keyring, PackageService, SnapshotService, TrustProjection } from '@signet/service';
import type { SignetConfig, SignetLog } from '@signet/store';
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
  /** The log is opened before Nest starts (it may need initializing) and handed in here. */
  static register(parts: { log: SignetLog; metrics: Metrics; config: SignetConfig; clock: Clock; projection: TrustProjection; decider: Decider; archive: ArchiveStore; snapshots: SnapshotService }): DynamicModule {
    const { log, metrics, config, clock, projection, decider, archive, snapshots } = parts;
    const keyring = new Keyring();
    return {
      module: AppModule,
      imports: [CqrsModule.forRoot()],
      controllers: [LogController, HealthController, TrustController, SnapshotController, PagesController, AnnouncementsController],
      providers: [
        { provide: SIGNET_LOG, useValue: log },
        { provide: SIGNET_CONFIG, useValue: config },
        { provide: SIGNET_CLOCK, useValue: clock },
        { provide: SIGNET_ARCHIVE, useValue: archive },
        { provide: SnapshotService, useValue: snapshots },
        { provide: TrustProjection, useValue: projection },
        { provide: CommandService, useValue: new CommandService(log, projection, keyring, decider) },
        { provide: PackageService, useValue: new PackageService(keyring, decider, clock, join(config.dataDir, 'artifacts')) },
        ...TRUST_HANDLERS,
        { provide: Metrics, useValue: metrics },
        { provide: APP_FILTER, useClass: ErrorFilter },
        ...QUERY_HANDLERS,
      ],
    };
  }
}
