import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { systemClock } from '@signet/domain';
import { NestLogger, ProcessMetrics, createLogger } from '@signet/observe';
import { exitOnSignals } from '@signet/service';
import { ConfigError, type SignetConfig, configFromEnv, fileClock, openLog } from '@signet/store';
import { type WorkerHttp, startWorkerHttp } from './http.js';
import { WorkerModule, WorkerService } from './worker.module.js';

// The workers as their own process (BullMQ on REDIS_URL): announcer, archiver, activation
// scheduler and continuity monitor. Run as many as you like; the outbox and the outcome keys
// keep their work from doubling.
let config: SignetConfig;
try {
  config = configFromEnv();
} catch (error) {
  // A configuration that cannot be used is the operator's to fix: what is wrong, no stack trace.
  if (error instanceof ConfigError) {
    process.stderr.write(`worker: ${error.code}: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
const pino = createLogger({ name: 'worker', ...config.logs });
Logger.overrideLogger(new NestLogger(pino));
const logger = new Logger('worker');
const metrics = new ProcessMetrics();
let http: WorkerHttp | null = null;
try {
  if (!config.redisUrl)
    logger.warn('REDIS_URL is unset: this worker uses the in-process queue (then `npm start` alone does the same)');
  const clock = config.clockFile ? fileClock(config.clockFile) : systemClock;
  let started: WorkerService | null = null;
  // Up before the log is opened, so that a slow start is seen as alive and not ready.
  if (config.workerPort !== null) {
    const access = pino.child({ context: 'http' });
    http = await startWorkerHttp({
      port: config.workerPort,
      host: config.host,
      checks: () => started && { database: () => started!.databaseProblem(), queue: () => started!.queueProblem() },
      metrics: async () => {
        if (started) await metrics.collectLog(started.log, clock);
        return metrics.scrape();
      },
      onError: (error) => logger.error(error),
      onAnswer: (method, url, status, ms) =>
        access.debug({ method, url, status, responseTime: Math.round(ms * 1000) / 1000 }, 'request completed'),
    });
    logger.log(`serving /healthz, /readyz and /metrics on ${http.url}`);
  }
  const log = await openLog(config, { clock, onBatch: (s) => metrics.recordBatch(s) });
  const app = await NestFactory.createApplicationContext(
    WorkerModule.register({ log, config, clock, observer: metrics }),
    { logger: new NestLogger(pino) },
  );
  const service = app.get(WorkerService);
  logger.log(await service.describe());
  started = service;
  exitOnSignals(
    async () => {
      await app.close();
      await http?.close();
    },
    logger,
    'letting running jobs finish',
  );
} catch (error) {
  // Why the worker cannot start, for a person (stderr) and for the log pipeline (a fatal line).
  // A coded error says what to do; anything else is a bug, shown with its stack.
  const e = error as { code?: string; message?: string; stack?: string };
  const why = e.code ? `${e.code}: ${e.message}` : String(e.message ?? error);
  process.stderr.write(`worker: ${e.code ? why : (e.stack ?? why)}\n`);
  pino.fatal({ err: error, code: e.code }, `cannot start: ${why}`);
  process.exit(1);
}
