import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyReply } from 'fastify';
import { type Clock, systemClock } from '@signet/domain';
import { createServices, policyFromConfig } from '@signet/service';
import { type Workers, startWorkers } from '@signet/jobs';
import { type SignetConfig, type SignetLog, fileClock, openLog } from '@signet/store';
import { type Logger as Pino, NestLogger, buildInfo, createLogger } from '@signet/observe';
import { AppModule } from './app.module.js';
import { addCommandSchemas } from './openapi.js';
import { Metrics } from './metrics.js';
import { fastPathServer } from './fast-path.js';
import { accessLog, requestId } from './access-log.js';
import { sendError, toErrorResponse } from './errors.js';
import { LOG_TIME_HEADER } from './log.controller.js';
import { securityHeadersFor } from './security-headers.js';

export interface Server {
  readonly app: NestFastifyApplication;
  readonly log: SignetLog;
  readonly url: string;
  /** The workers, when they run in this process (SIGNET_WORKERS=inline, the default without REDIS_URL). */
  readonly workers: Workers | null;
  /** Stops taking appends, commits what is in flight, closes HTTP and the database. */
  stop(): Promise<void>;
}

/** Opens (initializing on first run) the log and serves it over HTTP. */
export async function startServer(
  config: SignetConfig,
  options: { clock?: Clock; logger?: Pino } = {},
): Promise<Server> {
  const pino = options.logger ?? createLogger({ name: 'api', ...config.logs });
  const metrics = new Metrics();
  const clock = options.clock ?? (config.clockFile ? fileClock(config.clockFile) : systemClock);
  let workers: Workers | null = null;
  const log = await openLog(config, {
    init: true,
    clock,
    policy: () => policyFromConfig(config.genesis),
    onBatch: (s) => {
      metrics.recordBatch(s);
      workers?.poke();
    },
  });
  const services = await createServices(log, config, clock);
  const { projection, snapshots } = services;
  const logger = new Logger('signet');
  const access = accessLog(pino);
  if (log.created) logger.log(`created the log ${log.identity.origin}; verifier key ${log.identity.verifierKey}`);
  if (projection.state.policy.rootKeys.length === 0) {
    logger.warn(
      'this log has no root key, so it accepts no command: create it with `signet init --root-key FILE` (see the README)',
    );
  }

  // The hottest read, fetched by every PBX, is answered from the precomputed copy before the
  // framework (the controller serves ?size=N and documents the route).
  const instance = Fastify({
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 256 },
    serverFactory: fastPathServer(snapshots, metrics, access),
    // Fastify's own request logging would write two lines per request: the access log is ours.
    logger: false,
    genReqId: requestId,
    // A URL Fastify cannot route (bad percent-encoding, a parameter too long) is answered like every
    // other refusal: {code, message}, counted, and logged.
    frameworkErrors: (error, request, reply: FastifyReply) => {
      const response = toErrorResponse(error);
      const { status, body } = response;
      metrics.refused(body.code);
      void reply.headers(securityHeadersFor(request.url));
      sendError(request, reply, response);
      // Fastify runs no hooks for these requests: the metric and the access line are written here.
      metrics.observeRequest(request.method, 'unmatched', status, reply.elapsedTime / 1000);
      access(request.id, request.method, request.url, 'unmatched', status, reply.elapsedTime);
    },
  });
  // Before any handler: a route, an error answer, or Fastify's own 404 all carry them.
  instance.addHook('onRequest', (request, reply, done) => {
    void reply.headers(securityHeadersFor(request.url));
    done();
  });
  const adapter = new FastifyAdapter(instance as never);
  await adapter.register(multipart as never, {
    limits: { fileSize: config.maxArtifactBytes, files: 2, fields: 4, parts: 4, fieldSize: 256 * 1024 },
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.register({ services, metrics, config }),
    adapter,
    { logger: new NestLogger(pino) },
  );
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Signet')
      .setDescription(
        'A key transparency log for package signing. Errors are `{code, message}`; every code is listed on the routes that can answer it.',
      )
      .setVersion(buildInfo().version)
      .build(),
  );
  addCommandSchemas(document);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  const fastify = app.getHttpAdapter().getInstance();
  // The log's clock on every answer (the HTTP Date header is the host's, to the second): a client
  // can take the time a command's issuedAt is judged by from any response, a refusal included.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    try {
      void reply.header(LOG_TIME_HEADER, clock.now().toISOString());
    } catch {
      // a clock that cannot be read now fails the requests that need it, not every answer
    }
    done(null, payload);
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    access(request.id, request.method, request.url, route, reply.statusCode, reply.elapsedTime);
    done();
  });
  if (config.workers === 'inline') {
    const workerLogger = new Logger('workers');
    workers = await startWorkers({
      services,
      config,
      onError: (what, error) => workerLogger.warn(`${what}: ${(error as Error).message}`),
      observer: metrics,
    });
  }
  // The head's snapshot is kept precomputed: after appends settle, and at each refresh period.
  const logger2 = new Logger('snapshot');
  const precompute = setInterval(() => void snapshots.current().catch((e: Error) => logger2.warn(e.message)), 30_000);
  precompute.unref();
  await snapshots.current();
  await app.listen(config.port, config.host);
  const address = fastify.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  let stopping: Promise<void> | null = null;
  return {
    app,
    log,
    url: `http://127.0.0.1:${port}`,
    workers,
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(precompute);
        await workers?.stop();
        // Requests in flight are answered first; then the sequencer settles what is queued.
        await app.close();
        await services.close();
        await log.close();
      })()),
  };
}
