import { Logger } from '@nestjs/common';
import { configFromEnv } from '@signet/store';
import { startServer } from './server.js';

const logger = new Logger('signet');
try {
  const server = await startServer(configFromEnv());
  logger.log(`serving ${server.log.identity.origin} on ${server.url} (database: ${server.log.db.kind})`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.log(`${signal}: no more appends; committing what is in flight`);
      server.stop().then(
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
