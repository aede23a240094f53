import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, CommanderError, InvalidArgumentError, type OptionValues } from 'commander';

// What every `signet` command shares: how an action reports its exit code, option parsers that
// refuse bad values by the option's name, and the one exit-code contract:
//   0  good (verified, done)
//   1  the verdict failed: a bad signature, a tampered module, a discrepancy in the log, an alert
//   2  usage error, bad local input (a missing file, a malformed key), or a source that cannot be
//      reached (after the retries)
// Only light imports here: `--version`, `--help` and `completion` must start fast.

/** An error the user fixes by changing the command line or local files: exit 2, no stack trace. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly code = 'USAGE',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export function usage(message: string, code?: string): never {
  throw new UsageError(message, code);
}

/**
 * Codes that mean exit 2 whichever command throws them: the caller's input (options, files,
 * environment, state directory) or a source that cannot be reached.
 */
const EXIT_2_CODES = new Set([
  'USAGE',
  'BAD_CONFIG',
  'BAD_POLICY',
  'INIT_MISMATCH',
  'NO_SNAPSHOT',
  'SNAPSHOT_EXPIRED',
  'SOURCE_UNREACHABLE',
  'FETCH_FAILED',
  'NO_SUCH_FILE',
]);

/** The exit code for an error that ended a command (see the contract above). */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
    if (error.code === 'commander.help') return error.exitCode === 0 ? 0 : 2;
    return 2;
  }
  if (error instanceof UsageError) return 2;
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && EXIT_2_CODES.has(code) ? 2 : 1;
}

/** The full name of a command, e.g. "signet verify module". */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Where the exit code of the action that ran is kept (commander ignores what actions return). */
export const outcome: { code: number; command: Command | null } = { code: 0, command: null };

/**
 * An action: `run(positionals, options)` returns the exit code. The options are commander's
 * camelCase names (`--from-checkpoint` is `fromCheckpoint`).
 */
export function act<O = OptionValues>(
  run: (positionals: string[], options: O, command: Command) => Promise<number> | number,
): (...params: unknown[]) => Promise<void> {
  return async (...params: unknown[]) => {
    const command = params.at(-1) as Command;
    outcome.command = command;
    outcome.code = await run(params.slice(0, -2) as string[], command.opts() as O, command);
  };
}

/** A repeatable option: each `--flag value` adds one value. */
export function repeatable(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A parser for an integer option in [min, max]; anything else is refused naming the option (exit 2). */
export function integer(min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!(Number.isSafeInteger(n) && n >= min && n <= max))
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    return n;
  };
}

/** A parser for a number of seconds (fractions allowed) in [min, max]. */
export function seconds(min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!(n >= min && n <= max)) throw new InvalidArgumentError(`expected a number of seconds from ${min} to ${max}.`);
    return n;
  };
}

/** A directory that must exist (bad local input, exit 2, otherwise). */
export function existingDirectory(path: string, what = 'directory'): string {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    usage(`the ${what} ${path} does not exist`, 'NO_SUCH_FILE');
  }
  if (!isDirectory) usage(`${path} is not a directory`, 'NO_SUCH_FILE');
  return path;
}

/**
 * This program's version: the `version` of the nearest package.json above this file — the
 * checkout's, or the package's when `signet` is bundled and installed on its own.
 */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
        if (typeof version === 'string') return version;
      } catch {
        // not ours: keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** Network options shared by the commands that read a server: --retries, --timeout. */
export function addNetworkOptions(command: Command, timeoutSeconds: number): Command {
  return command
    .option(
      '--retries <n>',
      'retries after a transient failure (no answer, a timeout, HTTP 408, 425, 429, 500, 502-504), with backoff',
      integer(0, 20),
      3,
    )
    .option('--timeout <seconds>', 'time allowed for each request', seconds(0.1, 3600), timeoutSeconds);
}

export interface NetworkFlags {
  retries?: number;
  timeout?: number;
}

/** The network options as the libraries take them. */
export function networkOf(options: NetworkFlags): { retries: number; timeoutMs: number } {
  return { retries: options.retries ?? 3, timeoutMs: Math.round((options.timeout ?? 30) * 1000) };
}

/** A verifier key given with --vkey, checked before anything is fetched (a malformed one is exit 2). */
export async function verifierKeyOf(vkey: string | undefined, option = '--vkey'): Promise<string> {
  if (!vkey)
    usage(
      `${option} KEY is required: the log's verifier key (name+hash+base64), from its operator, never taken from the server`,
    );
  const { parseVerifierKey } = await import('@signet/tlog');
  try {
    parseVerifierKey(vkey.trim());
  } catch (error) {
    usage(`${option} is not a verifier key (name+hash+base64): ${(error as Error).message}`);
  }
  return vkey.trim();
}
