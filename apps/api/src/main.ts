import { Logger } from '@nestjs/common';
import { exitOnSignals } from '@signet/service';
import { ConfigError, configFromEnv } from '@signet/store';
import { startServer } from './server.js';

const logger = new Logger('signet');
try {
  const server = await startServer(configFromEnv());
  logger.log(`serving ${server.log.identity.origin} on ${server.url} (database: ${server.log.db.kind})`);
  exitOnSignals(() => server.stop(), logger, 'no more appends; committing what is in flight');
} catch (error) {
  // A configuration that cannot be used is the operator's to fix: what is wrong, no stack trace.
  if (error instanceof ConfigError) {
    process.stderr.write(`signet: ${error.code}: ${error.message}\n`);
    process.exit(2);
  }
  const e = error as { code?: string; message?: string };
  logger.error(e.code ? `${e.code}: ${e.message}` : error);
  process.exit(1);
}
