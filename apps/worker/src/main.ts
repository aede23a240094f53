import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { systemClock } from '@signet/domain';
import { configFromEnv, fileClock, openLog } from '@signet/store';
import { WorkerModule } from './worker.module.js';

// The workers as their own process (BullMQ on REDIS_URL): announcer, archiver, activation
// scheduler and continuity monitor. Run as many as you like; the outbox and the outcome keys
// keep their work from doubling.
const logger = new Logger('worker');
try {
  const config = configFromEnv();
  if (!config.redisUrl) logger.warn('REDIS_URL is unset: this worker uses the in-process queue (then `npm start` alone does the same)');
  const clock = config.clockFile ? fileClock(config.clockFile) : systemClock;
  const log = await openLog(config, { clock });
  const app = await NestFactory.createApplicationContext(WorkerModule.register({ log, config, clock }), { logger: ['error', 'warn', 'log'] });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.log(`${signal}: letting running jobs finish`);
      app.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error(error);
          process.exit(1);
        },
      );
    });
  }
} catch (error) {
  const e = error as { code?: string; message?: string };
  logger.error(e.code ? `${e.code}: ${e.message}` : error);
  process.exit(1);
}
