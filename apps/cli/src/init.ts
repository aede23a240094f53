import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { GenesisRequest, LogCreated } from '@signet/domain';
import type { SignetConfig } from '@signet/store';
import { UsageError } from './kit.js';

// `signet init` (the server side): loaded only when used, so the client commands never load Nest
// or a database driver.

export interface InitOptions {
  origin?: string;
  dataDir?: string;
  rootKey?: string[];
  waitDays?: number;
  authorizations?: number;
  rsaMinBits?: number;
  allowEd25519?: boolean;
  signingKeyComment?: string;
  commandWindow?: number;
  policy?: string;
}

/** A policy file: JSON with any of the `init` options by their long names (rootKeys: an array of paths). */
function applyPolicyFile(path: string, env: NodeJS.ProcessEnv): void {
  let policy: Record<string, unknown>;
  try {
    policy = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`cannot read the policy file ${path}: ${(error as Error).message}`, 'BAD_POLICY');
  }
  const names: Record<string, string> = {
    rootKeys: 'SIGNET_ROOT_KEYS',
    waitingPeriodDays: 'SIGNET_WAIT_DAYS',
    authorizationsRequired: 'SIGNET_AUTHORIZATIONS',
    rsaMinBits: 'SIGNET_RSA_MIN_BITS',
    allowEd25519: 'SIGNET_ALLOW_ED25519',
    signingKeyComment: 'SIGNET_SIGNING_KEY_COMMENT',
    commandWindowSeconds: 'SIGNET_COMMAND_WINDOW',
  };
  for (const [key, value] of Object.entries(policy)) {
    const name = names[key];
    if (!name)
      throw new UsageError(`unknown policy field "${key}"; known: ${Object.keys(names).join(', ')}`, 'BAD_POLICY');
    env[name] = Array.isArray(value) ? value.map((v) => resolve(dirname(path), String(v))).join(',') : String(value);
  }
}

/** The genesis settings `init` takes, by the variable that carries each (options and policy files set these). */
const GENESIS_VARIABLES = {
  SIGNET_WAIT_DAYS: 'waitingPeriodDays',
  SIGNET_AUTHORIZATIONS: 'authorizationsRequired',
  SIGNET_RSA_MIN_BITS: 'rsaMinBits',
  SIGNET_ALLOW_ED25519: 'allowEd25519',
  SIGNET_SIGNING_KEY_COMMENT: 'signingKeyComment',
  SIGNET_COMMAND_WINDOW: 'commandWindowSeconds',
} as const;

/**
 * What this `init` asks of the log: each genesis setting given by an option, a policy file or the
 * environment (unset is not asked; an empty comment is: it means no rule).
 */
async function genesisRequest(env: NodeJS.ProcessEnv, config: SignetConfig): Promise<GenesisRequest> {
  const given = (name: string) =>
    env[name] !== undefined && (env[name] !== '' || name === 'SIGNET_SIGNING_KEY_COMMENT');
  const policy: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(GENESIS_VARIABLES)) {
    if (given(name)) policy[setting] = config.genesis[setting];
  }
  const { policyFromConfig } = await import('@signet/service');
  return {
    ...(given('SIGNET_ORIGIN') ? { origin: config.origin } : {}),
    ...(given('SIGNET_ROOT_KEYS')
      ? { rootKeys: (await policyFromConfig(config.genesis)).rootKeys.map((k) => k.fingerprint) }
      : {}),
    policy,
  };
}

export async function init(values: InitOptions): Promise<number> {
  const env = { ...process.env };
  const set = (name: string, value: string | number | undefined) => value !== undefined && (env[name] = String(value));
  if (values.policy) applyPolicyFile(values.policy, env);
  set('SIGNET_ORIGIN', values.origin);
  set('SIGNET_DATA_DIR', values.dataDir);
  set('SIGNET_ROOT_KEYS', values.rootKey?.join(','));
  set('SIGNET_WAIT_DAYS', values.waitDays);
  set('SIGNET_AUTHORIZATIONS', values.authorizations);
  set('SIGNET_RSA_MIN_BITS', values.rsaMinBits);
  set('SIGNET_ALLOW_ED25519', values.allowEd25519 ? 'true' : undefined);
  set('SIGNET_SIGNING_KEY_COMMENT', values.signingKeyComment);
  set('SIGNET_COMMAND_WINDOW', values.commandWindow);
  const { configFromEnv, fileClock, openLog } = await import('@signet/store');
  const { policyFromConfig } = await import('@signet/service');
  const config = configFromEnv(env);
  const clock = config.clockFile ? fileClock(config.clockFile) : undefined;
  const log = await openLog(config, { init: true, clock, policy: () => policyFromConfig(config.genesis) });
  try {
    const where = log.db.kind === 'postgres' ? 'Postgres (DATABASE_URL)' : `PGlite in ${config.dataDir}`;
    if (!log.created) {
      // A genesis never changes: options that differ from it ask for another log, not this one.
      const { genesisDifferences } = await import('@signet/domain');
      const genesis = (await log.reader.event(0))?.data as unknown as LogCreated['data'];
      const differences = genesisDifferences(genesis, await genesisRequest(env, config));
      if (differences.length > 0) {
        throw Object.assign(
          new Error(
            `the log ${genesis.origin} (${where}) already exists, and its genesis differs from what this init asks; ` +
              "a log's genesis never changes:\n" +
              differences.map((d) => `  ${d.setting}: the log has ${d.logHas}, asked ${d.asked}\n`).join('') +
              'To create a new log with these options, give it another data directory (--data-dir or SIGNET_DATA_DIR)' +
              `${log.db.kind === 'postgres' ? ' and another database (DATABASE_URL)' : ''}. ` +
              'Run `signet init` without them to see this log as it is.',
          ),
          { code: 'INIT_MISMATCH' },
        );
      }
    }
    const head = await log.reader.head();
    process.stdout.write(
      `${log.created ? 'created' : 'already initialized:'} ${log.identity.origin}\n` +
        `origin:       ${log.identity.origin}\n` +
        `verifier key: ${log.identity.verifierKey}\n` +
        `database:     ${where}\n` +
        `tree size:    ${head?.size ?? 0}\n`,
    );
    const genesis = await log.reader.event(0);
    const policy = genesis?.type === 'LogCreated' ? genesis.data.policy : undefined;
    process.stdout.write(
      `root keys:    ${policy?.rootKeys.map((k) => k.fingerprint).join(', ') || '(none: no command can be accepted)'}\n`,
    );
  } finally {
    await log.close();
  }
  return 0;
}
