import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { systemClock } from '@signet/domain';
import { exitOnSignals } from '@signet/service';
import { ConfigError, configFromEnv, fileClock, openLog } from '@signet/store';
import { WorkerModule } from './worker.module.js';

// The workers as their own process (BullMQ on REDIS_URL): announcer, archiver, activation
// scheduler and continuity monitor. Run as many as you like; the outbox and the outcome keys
// keep their work from doubling.
const logger = new Logger('worker');
try {
  const config = configFromEnv();
  if (!config.redisUrl)
    logger.warn('REDIS_URL is unset: this worker uses the in-process queue (then `npm start` alone does the same)');
  const clock = config.clockFile ? fileClock(config.clockFile) : systemClock;
  const log = await openLog(config, { clock });
  const app = await NestFactory.createApplicationContext(WorkerModule.register({ log, config, clock }), {
    logger: ['error', 'warn', 'log'],
  });
  exitOnSignals(() => app.close(), logger, 'letting running jobs finish');
} catch (error) {
  // A configuration that cannot be used is the operator's to fix: what is wrong, no stack trace.
  if (error instanceof ConfigError) {
    process.stderr.write(`worker: ${error.code}: ${error.message}\n`);
    process.exit(2);
  }
  const e = error as { code?: string; message?: string };
  logger.error(e.code ? `${e.code}: ${e.message}` : error);
  process.exit(1);
}
