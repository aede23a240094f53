import { Argument, Command } from 'commander';
import { loadCommandBuilder, registerCommandBuilder } from './command.js';
import { completionScript } from './completion.js';
import {
  UsageError,
  act,
  addNetworkOptions,
  commandPath,
  exitCodeOf,
  integer,
  outcome,
  packageVersion,
  repeatable,
} from './kit.js';

// The `signet` command tree (commander 14). Every command's module is imported only when that
// command runs, so `--version`, `--help`, `completion` and the client commands start fast and
// never load Nest or a database driver. Exit codes: see kit.ts (0 good, 1 verdict failed, 2 usage,
// bad local input or unreachable source).

export interface ProgramOptions {
  /** With the server's commands (`init`); false for the client-only package. */
  readonly server: boolean;
}

const EXIT_CODES = `
Exit codes: 0 good; 1 the verdict failed (a bad signature, a tampered module, a discrepancy,
an alert); 2 usage error, bad local input (a missing file, a malformed key) or a source that
cannot be reached.`;

/** The whole `signet` command tree. */
export function buildProgram(options: ProgramOptions): Command {
  const program = new Command('signet')
    .description('Signet: a key transparency log for package signing, and its clients')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .addHelpText('after', EXIT_CODES);
  if (options.server) registerServerCommands(program);
  registerClientCommands(program);
  registerAuditCommands(program);
  registerWitnessCommands(program);
  // The command builder needs only HTTP and the user's gpg: in both builds.
  registerCommandBuilder(program);
  registerCompletion(program);
  registerHelp(program);
  return finish(program);
}

/**
 * Runs `signet` with the arguments after the program name; resolves to the exit code. Usage
 * errors, help asked for in error, and refusals go to stderr; asked-for help and results to stdout.
 */
export async function run(program: Command, argv: readonly string[]): Promise<number> {
  outcome.code = 0;
  outcome.command = null;
  try {
    // Its help lists the command types from the domain's schemas, loaded only when asked for.
    if (argv.includes('command')) await loadCommandBuilder();
    await program.parseAsync([...argv], { from: 'user' });
    return outcome.code;
  } catch (error) {
    const code = exitCodeOf(error);
    if ((error as { name?: string }).name === 'CommanderError') return code;
    const e = error as { code?: unknown; message?: string };
    const shown = typeof e.code === 'string' && e.code !== 'USAGE' ? `${e.code}: ` : '';
    process.stderr.write(`signet: ${shown}${e.message ?? String(error)}\n`);
    if (error instanceof UsageError && e.code === 'USAGE' && outcome.command)
      process.stderr.write(`(see ${commandPath(outcome.command)} --help)\n`);
    if (!(typeof e.code === 'string') && error instanceof Error && process.env.SIGNET_DEBUG) console.error(error.stack);
    return code;
  }
}

/** Settings every command needs, applied once the tree is built: errors thrown, hints naming the command. */
function finish(program: Command): Command {
  const walk = (command: Command) => {
    command
      .exitOverride()
      .showSuggestionAfterError(true)
      .showHelpAfterError(`(see ${commandPath(command)} --help)`)
      .configureHelp({ showGlobalOptions: false, sortOptions: false })
      .configureOutput({
        writeOut: (text) => process.stdout.write(text),
        writeErr: (text) => process.stderr.write(text),
        outputError: (text, write) => write(text.replace(/^error: /, 'signet: ')),
      });
    for (const sub of command.commands) walk(sub);
  };
  walk(program);
  return program;
}

/** `signet help [command…]`: the help of any command, on stdout. */
function registerHelp(program: Command): void {
  program.helpCommand(false);
  program
    .command('help')
    .description('show help for a command, e.g. signet help verify module')
    .argument('[command...]', 'the command')
    .action(
      act<Record<string, never>>(([path]) => {
        let command = program;
        for (const name of (path as unknown as string[] | undefined) ?? []) {
          const sub = command.commands.find((c) => c.name() === name || c.aliases().includes(name));
          if (!sub)
            throw new UsageError(`no command "${commandPath(command)} ${name}"; see ${commandPath(command)} --help`);
          command = sub;
        }
        command.outputHelp();
        return 0;
      }),
    );
}

/** `signet completion bash|zsh`: a completion script generated from this very tree. */
function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: eval "$(signet completion bash)", or zsh')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh']))
    .action(
      act<Record<string, never>>(([shell]) => {
        process.stdout.write(completionScript(program, shell as 'bash' | 'zsh'));
        return 0;
      }),
    );
}

const STATE = '--state <dir>';
const STATE_HELP = 'the client state directory (default $SIGNET_CLIENT_DIR or ~/.signet)';

/** `signet init` (the server side). */
function registerServerCommands(program: Command): void {
  program
    .command('init')
    .description("create the log: data directory, log key and genesis event with the log's policy")
    .option('--origin <name>', "the log's origin, e.g. signet.example.org/log (default $SIGNET_ORIGIN)")
    .option('--data-dir <dir>', 'the data directory (default $SIGNET_DATA_DIR)')
    .option('--root-key <file>', 'a file of root (master) keys, armored or binary; repeatable', repeatable)
    .option('--wait-days <days>', 'waiting period of a new signing key (default 14)', integer(0, 3650))
    .option('--authorizations <n>', 'authorizations required (default 1)', integer(1, 100))
    .option('--rsa-min-bits <bits>', 'smallest RSA key accepted (default 4096)', integer(2048, 16384))
    .option('--allow-ed25519', 'accept Ed25519 signing keys (default off)')
    .option('--signing-key-comment <text>', 'the comment a signing key user ID must carry (default "CODE SIGNING KEY")')
    .option('--command-window <seconds>', 'how old a signed command may be (default 300)', integer(1, 86_400))
    .option('--policy <file>', 'the same settings as JSON, e.g. {"rootKeys":["root.asc"],"waitingPeriodDays":14}')
    .addHelpText(
      'after',
      `
Each option is also an environment variable (see the README). In a policy file, paths are
relative to the file, and options given on the command line win. Prints the origin and the
verifier key. Safe to run again: an initialized log is left as it is (its genesis never
changes); options that differ from it are refused (exit 2, INIT_MISMATCH).
${EXIT_CODES}`,
    )
    .action(
      act<import('./init.js').InitOptions>(async (_, o) => {
        try {
          return await (await import('./init.js')).init(o);
        } catch (error) {
          // A root key file without a usable key is bad local input, as a bad option is.
          if ((error as { code?: unknown }).code === 'BAD_KEY')
            throw new UsageError((error as Error).message, 'BAD_KEY');
          throw error;
        }
      }),
    );
}

/** `signet snapshot fetch`, `verify package|module|modules`, `module-sig`: the PBX side. */
function registerClientCommands(program: Command): void {
  const client = () => import('./client.js');
  const snapshot = program.command('snapshot').description('the trust snapshot a client verifies against');
  addNetworkOptions(
    snapshot
      .command('fetch')
      .description('fetch, verify and keep the signed trust snapshot')
      .option(
        '--server <url>',
        'the log server; repeat for mirrors, tried in turn (remembered after the first fetch)',
        repeatable,
      )
      .option('--vkey <key>', "the log's verifier key, pinned on the first fetch (from its operator)")
      .option(STATE, STATE_HELP)
      .option('--json', 'print JSON'),
    30,
  )
    .addHelpText(
      'after',
      `
Keeps the snapshot if it verifies with the pinned verifier key, is not expired, is not older
than the last one accepted, and its checkpoint is consistent with the last one's.
${EXIT_CODES}`,
    )
    .action(act(async (_, o) => (await client()).snapshotFetch(o)));

  const verify = program.command('verify').description('verify packages and FreePBX modules offline');
  verify
    .command('package')
    .description('check a detached SHA-512 package signature against the stored snapshot')
    .argument('<artifact>', 'the package file')
    .argument('<signature>', 'its detached signature (.asc)')
    .option(STATE, STATE_HELP)
    .option('--json', 'print JSON')
    .addHelpText('after', EXIT_CODES)
    .action(act(async (args, o) => (await client()).verifyPackageCommand(args, o)));
  const moduleOptions = (command: Command) =>
    command
      .option(STATE, STATE_HELP)
      .option('--allow-unlisted', "report files module.sig does not list without flagging them (the log's mode)")
      .option('--trust-root <file>', 'FreePBX mode: a master key file; repeatable', repeatable)
      .option('--keyring <file>', 'FreePBX mode: the keys the master keys certify')
      .option('--json', 'print JSON');
  moduleOptions(
    verify
      .command('module')
      .description('check a FreePBX module: module.sig and every file it lists')
      .argument('<dir>', 'the module directory'),
  )
    .addHelpText(
      'after',
      `
Prints FreePBX's status bits (GOOD 1, TAMPERED 2, INVALID 4, UNSIGNED 8, UNSUPPORTED 16,
EXPIRED 32, REVOKED 64, TRUSTED 128) and Signet's UNLISTED 256 (a file module.sig does not list;
GOOD cleared). Exit 0 only for GOOD|TRUSTED (129). With --trust-root and --keyring, trusts what
FreePBX trusts instead of the log: keys in the keyring certified by a master key.
${EXIT_CODES}`,
    )
    .action(act(async (args, o) => (await client()).verifyModuleCommand(args, o)));
  moduleOptions(
    verify
      .command('modules')
      .description('check every module of a FreePBX modules directory: a table, or JSON lines')
      .argument('<dir>', 'the modules directory, e.g. /var/www/html/admin/modules'),
  )
    .addHelpText(
      'after',
      `
One line per module (a subdirectory with a module.xml or a module.sig): module, version, status
and signer; with --json one JSON object per line. Exit 1 if any module is not GOOD.
${EXIT_CODES}`,
    )
    .action(act(async (args, o) => (await client()).verifyModulesCommand(args, o)));

  program
    .command('module-sig')
    .description('print the unsigned module.sig for a module directory, to clear-sign with gpg')
    .argument('<dir>', 'the module directory')
    .addHelpText(
      'after',
      '\nExample: signet module-sig DIR > module.unsigned && gpg --clearsign --digest-algo SHA512 -o DIR/module.sig module.unsigned\n',
    )
    .action(act(async (args) => (await client()).moduleSigCommand(args)));
}

/** Options naming the witnesses whose cosignatures a reader requires. */
function witnessOptions(command: Command): Command {
  return command
    .option('--witness <key>', 'require a cosignature by this witness (verifier key); repeatable', repeatable)
    .option('--quorum <n>', 'how many of the --witness keys must have cosigned (default: all)', integer(1, 1000));
}

/** `signet audit`, `mirror`, `monitor`: the auditors. */
function registerAuditCommands(program: Command): void {
  const audit = () => import('./audit.js');
  addNetworkOptions(
    witnessOptions(
      program
        .command('audit')
        .description('replay the whole log, trusting nothing the server computed')
        .option('--server <url>', 'the log server')
        .option('--mirror <dir>', 'or a mirror directory (signet mirror)')
        .option('--vkey <key>', "the log's verifier key (from its operator)")
        .option('--from-checkpoint <file>', 'resume after an earlier audit saved with --save')
        .option('--save <file>', 'keep the result, to resume from')
        .option('--threads <n>', 'worker threads verifying signatures', integer(1, 256))
        .option('--require-artifacts', 'fail when a package artifact is not available to re-verify')
        .option('--allow-no-snapshot', 'accept a source without trust snapshots')
        .option('--json', 'print JSON'),
    ),
    60,
  )
    .addHelpText(
      'after',
      `
Checks the checkpoint (pinned key), every tile and leaf, every event's canonical form, every
command, module and package signature, every decision re-run, and the trust snapshot rebuilt
and compared byte for byte. With --witness, audits the newest checkpoint cosigned by a quorum.
A discrepancy prints its seq and reason.
${EXIT_CODES}`,
    )
    .action(act(async (_, o) => (await audit()).auditCommand(o)));
  addNetworkOptions(
    witnessOptions(
      program
        .command('mirror')
        .description('copy the log (checkpoint, tiles, entry bundles, snapshots) into a directory')
        .argument('<dir>', 'the mirror directory')
        .option('--server <url>', 'the log server')
        .option('--vkey <key>', "the log's verifier key (from its operator)")
        .option('--artifacts', 'copy the published artifacts too')
        .option('--json', 'print JSON'),
    ),
    60,
  )
    .addHelpText('after', `\nIncremental; serve the directory statically or audit it offline.\n${EXIT_CODES}`)
    .action(act(async (args, o) => (await audit()).mirrorCommand(args, o)));
  addNetworkOptions(
    witnessOptions(
      program
        .command('monitor')
        .description('watch the log for events about keys, users and packages, and for equivocation')
        .option('--server <url>', 'the log server')
        .option('--vkey <key>', "the log's verifier key (from its operator)")
        .option('--watch <what>', 'a fingerprint, username or package to report; repeatable', repeatable)
        .option('--peer <url>', 'another server of the same log, compared for equivocation; repeatable', repeatable)
        .option('--peer-mirror <dir>', 'a mirror directory compared for equivocation; repeatable', repeatable)
        .option('--webhook <url>', 'POST each finding there as JSON')
        .option('--state <dir>', 'where the accepted tree is kept (default $SIGNET_CLIENT_DIR/monitor)')
        .option('--interval <seconds>', 'seconds between polls', integer(1, 86_400), 60)
        .option('--once', 'poll once; exit 1 when an alert was raised')
        .option('--json', 'print JSON lines'),
    ),
    60,
  )
    .addHelpText(
      'after',
      `
Checks that the new entries lead from the last accepted tree to the new root, and reports new
events about the watched keys, users and packages.
${EXIT_CODES}`,
    )
    .action(act(async (_, o) => (await audit()).monitorCommand(o)));
}

/** `signet witness keygen|cosign`. */
function registerWitnessCommands(program: Command): void {
  const witness = () => import('./witness.js');
  const group = program.command('witness').description('a C2SP tlog-cosignature witness of one Signet log');
  group
    .command('keygen')
    .description("print a new witness signer key and its verifier key (for the log's SIGNET_WITNESSES)")
    .requiredOption('--name <name>', "the witness's name, e.g. w1.example.org/witness")
    .action(act<{ name: string }>(async (_, o) => (await witness()).keygen(o)));
  addNetworkOptions(
    group
      .command('cosign')
      .description("cosign the log's checkpoint if it extends the last one cosigned, and post it")
      .requiredOption('--server <url>', 'the log server')
      .requiredOption('--vkey <key>', "the log's verifier key")
      .requiredOption('--key <file>', 'the witness signer key file (mode 0600)')
      .option('--state <dir>', 'the witness state directory (default $SIGNET_WITNESS_DIR or ~/.signet-witness)')
      .option('--json', 'print JSON'),
    30,
  )
    .addHelpText('after', EXIT_CODES)
    .action(act<import('./witness.js').CosignFlags>(async (_, o) => (await witness()).cosign(o)));
}
