import { Logger } from '@nestjs/common';
import { exitOnSignals } from '@signet/service';
import { configFromEnv } from '@signet/store';
import { startServer } from './server.js';

const logger = new Logger('signet');
try {
  const server = await startServer(configFromEnv());
  logger.log(`serving ${server.log.identity.origin} on ${server.url} (database: ${server.log.db.kind})`);
  exitOnSignals(() => server.stop(), logger, 'no more appends; committing what is in flight');
} catch (error) {
  const e = error as { code?: string; message?: string };
  logger.error(e.code ? `${e.code}: ${e.message}` : error);
  process.exit(1);
}
