import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { GenesisRequest, LogCreated } from '@signet/domain';
import type { SignetConfig } from '@signet/store';

// The `signet` command. Exit codes: 0 ok, 1 failure, 2 usage (and, for the client commands, no
// usable snapshot). The server side (init) and the client side are loaded only when used, so the
// client commands start quickly on a PBX.

const USAGE = `usage: signet <command> [options]

commands:
  init [--origin NAME] [--data-dir DIR] [--root-key FILE]... [--wait-days N]
       [--authorizations N] [--rsa-min-bits N] [--allow-ed25519] [--signing-key-comment TEXT]
       [--command-window SECONDS] [--policy FILE]
      create the data directory, the Ed25519 log key (DIR/log.key, mode 0600, unless
      SIGNET_LOG_KEY is set) and the genesis event with the policy: root (master) keys from
      key files (every key of each, armored or binary), waiting period (14 days), authorizations required (1), RSA minimum (4096),
      Ed25519 (off), the signing key user ID comment ("CODE SIGNING KEY"), command window (300 s).
      --policy FILE: the same as JSON, e.g. {"rootKeys":["root.asc"],"waitingPeriodDays":14}
      (paths relative to the file); options given on the command line win.
      Print the origin and the verifier key. Safe to run again: an initialized log is left as
      it is (the policy of a log is fixed at its creation); options that differ from it are
      refused (exit 2, INIT_MISMATCH): a new log needs another data directory or database.
  snapshot fetch --server URL [--vkey KEY] [--state DIR] [--json]
      fetch the signed trust snapshot and keep it in DIR (default $SIGNET_CLIENT_DIR or ~/.signet)
      if it verifies with the pinned verifier key (--vkey on the first fetch), is not expired, is
      not older than the last one accepted, and its checkpoint is consistent with the last one's
  verify package <artifact> <signature.asc> [--state DIR] [--json]
      check a detached SHA-512 package signature offline against the stored snapshot
  verify module <dir> [--state DIR] [--allow-unlisted] [--json]
      check a FreePBX module (module.sig and every listed file) offline; prints FreePBX's status
      bits (GOOD 1, TAMPERED 2, INVALID 4, UNSIGNED 8, UNSUPPORTED 16, EXPIRED 32, REVOKED 64,
      TRUSTED 128) and Signet's UNLISTED 256 (a file in the directory that module.sig does not
      list; GOOD cleared); exit 0 only for GOOD|TRUSTED (129). --allow-unlisted: report such
      files without the flag
  verify module <dir> --trust-root MASTER.asc [--trust-root …] --keyring KEYS.asc [--json]
      the same without a log, trusting what FreePBX trusts: keys in KEYS.asc certified (and not
      revoked) by a master key; SHA-1 clear signatures are accepted and reported; unlisted
      files are listed but do not change the bits (as in FreePBX). Every key of each file is
      read (cat a.asc b.asc, gpg --export --armor A B, or binary gpg --export)
  module-sig <dir>
      print the unsigned module.sig for a directory, to clear-sign with gpg
  witness keygen --name NAME
      print a new witness signer key (keep it in a file, mode 0600) and its verifier key (for
      the log's SIGNET_WITNESSES)
  witness cosign --server URL --vkey LOGKEY --key WITNESS_KEY_FILE [--state DIR] [--json]
      cosign the log's checkpoint (C2SP tlog-cosignature) if it verifies with LOGKEY and extends
      the last one this witness cosigned (kept in DIR, default $SIGNET_WITNESS_DIR or
      ~/.signet-witness, one per log), and post it to the log; exit 1 on any refusal
  audit (--server URL | --mirror DIR) --vkey KEY [--from-checkpoint FILE] [--save FILE]
        [--threads N] [--witness KEY... [--quorum N]] [--require-artifacts] [--allow-no-snapshot] [--json]
      replay the whole log trusting nothing the server computed: the checkpoint (pinned key),
      every tile and leaf, every event's canonical form, every command, module and package
      signature (on worker threads), every decision re-run, and the trust snapshot rebuilt and
      compared byte for byte; --save FILE keeps the result, --from-checkpoint FILE resumes from
      it (checking the log still contains it). Exit 0 ok, 1 at the first discrepancy (its seq
      and reason), 2 usage or unreachable source. With --witness, the newest checkpoint cosigned
      by a quorum of those witnesses (default: all) is the one audited
  mirror --server URL --vkey KEY [--artifacts] [--witness KEY... [--quorum N]] [--json] DIR
      copy the checkpoint, tiles, entry bundles and trust snapshot (and with --artifacts the
      published artifacts) into DIR, incrementally; serve it statically or audit it offline
  monitor --server URL --vkey KEY --watch <fingerprint|username|package>... [--peer URL]...
          [--peer-mirror DIR]... [--webhook URL] [--state DIR] [--interval SECONDS] [--once] [--json]
          [--witness KEY... [--quorum N]]
      poll the checkpoint (every 60 s), check the new entries lead from the last accepted tree
      to the new root, and report new events about watched keys, users and packages (lines, or
      JSON lines); against each peer, report equivocation (two signed checkpoints of one size
      with different roots, or inconsistent ones) with both notes as proof; POST each finding
      to the webhook. With --once, exit 1 when an alert was raised
  command <type> [name=value]... [--sign-with KEY] [--send URL | --server URL] [--origin NAME]
          [--id ID] [-o FILE] [--json]
      build a command as canonical JSON checked by the log's schema, sign it with your gpg
      (gpg --local-user KEY --detach-sign --armor) and POST it to URL/commands; without --send,
      write FILE (command.json) and FILE.asc for curl. signet command --help lists the types
  help
      this text

Configuration comes from the environment (see the README): SIGNET_DATA_DIR, DATABASE_URL,
SIGNET_LOG_KEY, SIGNET_ORIGIN; for the client commands SIGNET_CLIENT_DIR.`;

/** A policy file: JSON with any of the `init` options by their long names (rootKeys: an array of paths). */
function applyPolicyFile(path: string, env: NodeJS.ProcessEnv): void {
  let policy: Record<string, unknown>;
  try {
    policy = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw Object.assign(new Error(`cannot read the policy file ${path}: ${(error as Error).message}`), {
      code: 'BAD_POLICY',
    });
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
      throw Object.assign(new Error(`unknown policy field "${key}"; known: ${Object.keys(names).join(', ')}`), {
        code: 'BAD_POLICY',
      });
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

async function init(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      origin: { type: 'string' },
      'data-dir': { type: 'string' },
      'root-key': { type: 'string', multiple: true },
      'wait-days': { type: 'string' },
      authorizations: { type: 'string' },
      'rsa-min-bits': { type: 'string' },
      'allow-ed25519': { type: 'boolean' },
      'signing-key-comment': { type: 'string' },
      'command-window': { type: 'string' },
      policy: { type: 'string' },
    },
    strict: true,
  });
  const env = { ...process.env };
  const set = (name: string, value: string | undefined) => value !== undefined && (env[name] = value);
  if (values.policy) applyPolicyFile(values.policy, env);
  set('SIGNET_ORIGIN', values.origin);
  set('SIGNET_DATA_DIR', values['data-dir']);
  set('SIGNET_ROOT_KEYS', values['root-key']?.join(','));
  set('SIGNET_WAIT_DAYS', values['wait-days']);
  set('SIGNET_AUTHORIZATIONS', values.authorizations);
  set('SIGNET_RSA_MIN_BITS', values['rsa-min-bits']);
  set('SIGNET_ALLOW_ED25519', values['allow-ed25519'] ? 'true' : undefined);
  set('SIGNET_SIGNING_KEY_COMMENT', values['signing-key-comment']);
  set('SIGNET_COMMAND_WINDOW', values['command-window']);
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

/** Temporary: `signet command` on its own commander program until the CLI's parser moves to commander. */
async function commandBuilder(args: string[]): Promise<number> {
  const { Command, CommanderError } = await import('commander');
  const { registerCommandBuilder } = await import('./command.js');
  const program = new Command('signet').exitOverride();
  registerCommandBuilder(program);
  try {
    await program.parseAsync(['command', ...args], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  return Number(process.exitCode ?? 0);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'init':
      return init(rest);
    case 'snapshot':
      return (await import('./client.js')).snapshotCommand(rest);
    case 'verify':
      return (await import('./client.js')).verifyCommand(rest);
    case 'module-sig':
      return (await import('./client.js')).moduleSigCommand(rest);
    case 'witness':
      return (await import('./witness.js')).witnessCommand(rest);
    case 'audit':
      return (await import('./audit.js')).auditCommand(rest);
    case 'mirror':
      return (await import('./audit.js')).mirrorCommand(rest);
    case 'monitor':
      return (await import('./audit.js')).monitorCommand(rest);
    case 'command':
      return commandBuilder(rest);
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

/** Errors that are the caller's to fix (options, environment): exit 2. */
const USAGE_CODES = new Set([
  'USAGE',
  'BAD_CONFIG',
  'INIT_MISMATCH',
  'ERR_PARSE_ARGS_UNKNOWN_OPTION',
  'ERR_PARSE_ARGS_INVALID_OPTION_VALUE',
  'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL',
]);

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  async (error: unknown) => {
    const e = error as { code?: string; message?: string };
    // A root key file without a usable key is bad local input, as a bad option is.
    const badKeyFile = process.argv[2] === 'init' && e.code === 'BAD_KEY';
    const usage = badKeyFile || USAGE_CODES.has(e.code ?? '');
    process.stderr.write(`signet: ${e.code && e.code !== 'USAGE' ? `${e.code}: ` : ''}${e.message ?? String(error)}\n`);
    const unreachable = ['audit', 'mirror', 'monitor'].includes(process.argv[2] ?? '') && /^SOURCE_/.test(e.code ?? '');
    process.exit(
      usage || unreachable
        ? 2
        : ['snapshot', 'verify', 'module-sig'].includes(process.argv[2] ?? '')
          ? (await import('./client.js')).exitCodeOf(error)
          : 1,
    );
  },
);
