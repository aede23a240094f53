import { parseArgs } from 'node:util';
import { configFromEnv, openLog } from '@signet/store';

// The `signet` command. Exit codes: 0 ok, 1 failure, 2 usage.

const USAGE = `usage: signet <command> [options]

commands:
  init [--origin NAME] [--data-dir DIR]
      create the data directory, the Ed25519 log key (DIR/log.key, mode 0600, unless
      SIGNET_LOG_KEY is set) and the genesis event; print the origin and the verifier key.
      Safe to run again: an initialized log is left as it is.
  help
      this text

Configuration comes from the environment (see the README): SIGNET_DATA_DIR, DATABASE_URL,
SIGNET_LOG_KEY, SIGNET_ORIGIN.`;

async function init(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { origin: { type: 'string' }, 'data-dir': { type: 'string' } }, strict: true });
  const env = { ...process.env };
  if (values.origin) env.SIGNET_ORIGIN = values.origin;
  if (values['data-dir']) env.SIGNET_DATA_DIR = values['data-dir'];
  const config = configFromEnv(env);
  const log = await openLog(config, { init: true });
  try {
    const head = await log.reader.head();
    process.stdout.write(
      `${log.created ? 'created' : 'already initialized:'} ${log.identity.origin}\n` +
        `origin:       ${log.identity.origin}\n` +
        `verifier key: ${log.identity.verifierKey}\n` +
        `database:     ${log.db.kind === 'postgres' ? 'Postgres (DATABASE_URL)' : `PGlite in ${config.dataDir}`}\n` +
        `tree size:    ${head?.size ?? 0}\n`,
    );
  } finally {
    await log.close();
  }
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'init':
      return init(rest);
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`signet: unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const e = error as { code?: string; message?: string };
    process.stderr.write(`signet: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}\n`);
    process.exit(e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? 2 : 1);
  },
);
