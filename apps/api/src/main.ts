import { Logger } from '@nestjs/common';
import { NestLogger, createLogger } from '@signet/observe';
import { exitOnSignals } from '@signet/service';
import { ConfigError, type SignetConfig, configFromEnv } from '@signet/store';
import { startServer } from './server.js';

let config: SignetConfig;
try {
  config = configFromEnv();
} catch (error) {
  // A configuration that cannot be used is the operator's to fix: what is wrong, no stack trace.
  if (error instanceof ConfigError) {
    process.stderr.write(`signet: ${error.code}: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
const pino = createLogger({ name: 'api', ...config.logs });
// Every Nest Logger in the process, from here on, writes through pino.
Logger.overrideLogger(new NestLogger(pino));
const logger = new Logger('signet');
try {
  const server = await startServer(config, { logger: pino });
  logger.log(`serving ${server.log.identity.origin} on ${server.url} (database: ${server.log.db.kind})`);
  exitOnSignals(() => server.stop(), logger, 'no more appends; committing what is in flight');
} catch (error) {
  // Why the server cannot start, for a person (stderr) and for the log pipeline (a fatal line).
  // A coded error says what to do; anything else is a bug, shown with its stack.
  const e = error as { code?: string; message?: string; stack?: string };
  const why = e.code ? `${e.code}: ${e.message}` : String(e.message ?? error);
  process.stderr.write(`signet: ${e.code ? why : (e.stack ?? why)}\n`);
  pino.fatal({ err: error, code: e.code }, `cannot start: ${why}`);
  process.exit(1);
}
