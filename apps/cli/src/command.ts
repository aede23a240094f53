import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command as Program } from 'commander';
import type { CommandType } from '@signet/domain';
import { hostNow, writeAtomically } from './files.js';
import { outcome } from './kit.js';

/**
 * The domain's command schemas (zod), loaded only when `signet command` runs or its help is
 * shown: every other command starts without them (they cost about 100 ms to load).
 */
let domain: typeof import('@signet/domain');

/** Loads what `signet command` needs; `run` calls it first when the arguments name `command`. */
export async function loadCommandBuilder(): Promise<void> {
  domain ??= await import('@signet/domain');
}

// `signet command <type> field=value…`: the command JSON a person would otherwise write with
// printf, checked by the server's own schema, in canonical form (RFC 8785), signed by the
// person's own gpg, and posted — or written as the two files the gpg + curl path uses.

/** A failure with the exit code it calls for: 1 the server refused, 2 usage, bad input, no server, no gpg. */
export class CommandBuilderError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: 1 | 2 = 2,
  ) {
    super(message);
  }
}

const usage = (message: string) => new CommandBuilderError('USAGE', message);

/** `add-member`, `addmember` or `AddMember` → `AddMember`. */
export function commandTypeOf(name: string): CommandType {
  const squashed = name.replaceAll('-', '').replaceAll('_', '').toLowerCase();
  const type = domain.COMMAND_TYPES.find((t) => t.toLowerCase() === squashed);
  if (!type) throw usage(`unknown command type "${name}"; the types are ${domain.COMMAND_TYPES.map(kebab).join(', ')}`);
  return type;
}

const kebab = (type: string) => type.replace(/[A-Z]/g, (c, i: number) => (i ? '-' : '') + c.toLowerCase());

let schemas: ReturnType<(typeof domain)['commandJsonSchemas']> | undefined;

interface FieldInfo {
  readonly name: string;
  readonly required: boolean;
  readonly values?: readonly string[];
}

/** A type's own fields (not the envelope), from the JSON Schema generated from the server's zod schema. */
export function fieldsOf(type: CommandType): FieldInfo[] {
  schemas ??= domain.commandJsonSchemas();
  const schema = schemas[type] as {
    properties: Record<string, { enum?: string[] }>;
    required?: string[];
  };
  return Object.entries(schema.properties)
    .filter(([name]) => name !== 'type' && !(domain.COMMAND_ENVELOPE_FIELDS as readonly string[]).includes(name))
    .map(([name, p]) => ({ name, required: schema.required?.includes(name) ?? false, values: p.enum }));
}

/** `name=value` arguments; `name=@FILE` takes the file's content (an armored key, a revocation certificate). */
export function parseFields(args: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw usage(`"${arg}" is not a field: write name=value (or name=@FILE to read a file)`);
    const name = arg.slice(0, eq);
    let value = arg.slice(eq + 1);
    if (name in fields) throw usage(`the field "${name}" is given twice`);
    if ((domain.COMMAND_ENVELOPE_FIELDS as readonly string[]).includes(name) || name === 'type')
      throw usage(
        `"${name}" is filled in by signet command: use ${name === 'type' ? 'the <type> argument' : `--${name === 'issuedAt' ? 'server' : name}`}`,
      );
    if (value.startsWith('@')) {
      const path = value.slice(1);
      try {
        value = readFileSync(path, 'utf8');
      } catch (error) {
        throw new CommandBuilderError(
          'BAD_FIELD',
          `field "${name}": cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
      }
    }
    fields[name] = value;
  }
  return fields;
}

const requiredOf = (type: CommandType) =>
  fieldsOf(type)
    .filter((f) => f.required)
    .map((f) => f.name)
    .join(', ');

/** What a zod issue means for one field, in words a person can act on. */
function describeIssue(
  type: CommandType,
  issue: { code: string; path: PropertyKey[]; message: string; keys?: string[] },
) {
  const known = fieldsOf(type);
  const list = known.map((f) => (f.required ? f.name : `${f.name} (optional)`)).join(', ');
  if (issue.code === 'unrecognized_keys')
    return (issue.keys ?? []).map((k) => `field "${k}": ${type} has no such field; its fields are ${list}`).join('\n');
  const name = issue.path.map(String).join('.');
  if (issue.code === 'invalid_value') {
    const values = known.find((f) => f.name === name)?.values;
    if (values) return `field "${name}": expected one of ${values.join(', ')}`;
  }
  return `field "${name || '(command)'}": ${issue.message}`;
}

/** Checks a command with the server's schema; every problem is named by its field. */
export function checkCommand(type: CommandType, command: Record<string, string>): void {
  const parsed = domain.CommandSchema.safeParse(command);
  if (parsed.success) {
    checkArmored(command);
    return;
  }
  // A field not given at all is named as missing (zod words it as a wrong type or value), and
  // several of them make one line, not one each repeating what the type needs.
  const absent = (i: { code: string; path: PropertyKey[] }) =>
    i.code !== 'custom' && i.path.length === 1 && !(String(i.path[0]) in command);
  const missing = parsed.error.issues.filter(absent).map((i) => `"${String(i.path[0])}"`);
  const lines = parsed.error.issues.filter((i) => !absent(i)).map((i) => describeIssue(type, i));
  if (missing.length > 0)
    lines.unshift(
      `${missing.length > 1 ? `fields ${missing.join(', ')} are` : `field ${missing[0]} is`} missing: ` +
        `${type} needs ${requiredOf(type)}`,
    );
  throw new CommandBuilderError('BAD_FIELD', lines.join('\n'));
}

/** A key or certificate must be gpg's armored text: a binary export would only be refused later. */
function checkArmored(command: Record<string, string>): void {
  for (const name of ['key', 'revocation']) {
    const value = command[name];
    if (value !== undefined && !value.includes('-----BEGIN PGP '))
      throw new CommandBuilderError(
        'BAD_FIELD',
        `field "${name}": expected an armored OpenPGP block (gpg --armor --export KEY > key.asc, then ${name}=@key.asc)`,
      );
  }
}

/** Why a request did not reach the server: the cause (ECONNREFUSED 127.0.0.1:3000), not "fetch failed". */
function unreachable(url: string, error: unknown): CommandBuilderError {
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  const why = cause?.message ?? cause?.code ?? (error as Error).message;
  return new CommandBuilderError('UNREACHABLE', `cannot reach ${url}: ${why}`);
}

async function get(url: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw unreachable(url, error);
  }
  if (!res.ok) {
    const text = await res.text();
    let why = 'is it a Signet log?';
    try {
      const body = JSON.parse(text) as { code?: string; message?: string };
      if (body.code) why = `${body.code}: ${body.message ?? ''}`;
    } catch {
      // not one of the log's answers: the question stands
    }
    throw new CommandBuilderError('UNREACHABLE', `${url} answered HTTP ${res.status}: ${why}`);
  }
  return res;
}

/** The log's clock (GET /log/time) and origin (the checkpoint's first line). */
async function logFacts(server: string): Promise<{ now: Date; origin: string }> {
  const time = (await (await get(`${server}/log/time`)).json()) as { time?: unknown };
  const now = new Date(String(time.time));
  if (Number.isNaN(now.getTime()))
    throw new CommandBuilderError('UNREACHABLE', `${server}/log/time did not answer a time: is it a Signet log?`);
  const origin = (await (await get(`${server}/log/checkpoint`)).text()).split('\n')[0]!;
  return { now, origin };
}

/** Signs `file` with the user's own gpg (GNUPGHOME and gpg.conf apply), writing `file`.asc. */
function gpgSign(file: string, signWith: string | undefined): string {
  const out = `${file}.asc`;
  rmSync(out, { force: true });
  const args = [
    ...(signWith ? ['--local-user', signWith] : []),
    '--armor',
    '--detach-sign',
    // SHA-1 command signatures are refused; ask for SHA-512 whatever gpg.conf prefers.
    '--digest-algo',
    'SHA512',
    '--yes',
    '--output',
    out,
    file,
  ];
  // stdin and the terminal stay the user's: gpg may ask for a passphrase through pinentry.
  const r = spawnSync(process.env.SIGNET_GPG || 'gpg', args, {
    stdio: ['inherit', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CommandBuilderError(
      'GPG_FAILED',
      missing
        ? 'gpg was not found on PATH: install GnuPG (apt-get install gnupg)'
        : `gpg could not run: ${r.error.message}`,
    );
  }
  if (r.status !== 0)
    throw new CommandBuilderError(
      'GPG_FAILED',
      `gpg --detach-sign failed (exit ${r.status})${signWith ? ` with --local-user ${signWith}` : ''}:\n${r.stderr.trim()}`,
    );
  return readFileSync(out, 'utf8');
}

export interface BuildOptions {
  readonly signWith?: string;
  readonly send?: string;
  readonly server?: string;
  readonly origin?: string;
  readonly id?: string;
  readonly out?: string;
  readonly json?: boolean;
}

/** Builds, signs and sends (or writes) one command; returns the exit code. */
export async function buildCommand(
  typeName: string,
  fieldArgs: readonly string[],
  options: BuildOptions,
): Promise<number> {
  const type = commandTypeOf(typeName);
  const fields = parseFields(fieldArgs);
  if (options.send && options.server && options.send !== options.server)
    throw usage('give --send URL or --server URL, not both: --send also reads the log clock from URL');
  const server = (options.send ?? options.server)?.replace(/\/+$/, '');
  let issuedAt: Date;
  let origin = options.origin;
  if (server) {
    const facts = await logFacts(server);
    if (origin !== undefined && origin !== facts.origin)
      throw usage(`--origin ${origin}, but the log at ${server} is ${facts.origin}`);
    origin = facts.origin;
    issuedAt = facts.now;
  } else {
    if (origin === undefined)
      throw usage(
        "give the log's origin (--origin, as `signet init` prints it) or --server URL to read it from the log",
      );
    issuedAt = hostNow();
    process.stderr.write(
      `signet: issuedAt ${issuedAt.toISOString()} is this host's clock (no --server): the log refuses the command ` +
        "(STALE_COMMAND) if its own clock differs by more than its command window; --server URL uses the log's clock\n",
    );
  }
  const id =
    options.id ??
    `${kebab(type)}-${issuedAt.toISOString().replace(/[-:]|\.\d+/g, '')}-${randomBytes(4).toString('hex')}`;
  const command = { origin, id, issuedAt: issuedAt.toISOString(), type, ...fields };
  checkCommand(type, command);
  const bytes = domain.canonicalize(command);
  try {
    domain.checkCommandSize(bytes);
  } catch (error) {
    throw new CommandBuilderError('BAD_FIELD', (error as Error).message);
  }

  const scratch = options.out || !options.send ? null : mkdtempSync(join(tmpdir(), 'signet-command-'));
  const file = resolve(scratch ? join(scratch, 'command.json') : (options.out ?? 'command.json'));
  try {
    writeAtomically(file, bytes);
    const signature = gpgSign(file, options.signWith);
    if (!options.send) {
      process.stdout.write(
        `wrote ${file} (${type} ${id}) and its signature ${file}.asc\n` +
          `send it: curl -F command=@${file} -F signature=@${file}.asc ${server ?? 'http://<log>'}/commands\n`,
      );
      return 0;
    }
    return await post(server!, bytes, signature, options.json ?? false);
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

/** POST /commands with the two parts curl -F sends; prints what was appended, or the refusal. */
async function post(server: string, bytes: string, signature: string, json: boolean): Promise<number> {
  const form = new FormData();
  form.append('command', new Blob([bytes]), 'command.json');
  form.append('signature', new Blob([signature]), 'command.json.asc');
  let res: Response;
  try {
    res = await fetch(`${server}/commands`, { method: 'POST', body: form, signal: AbortSignal.timeout(60_000) });
  } catch (error) {
    throw unreachable(server, error);
  }
  const text = await res.text();
  let body: {
    code?: string;
    message?: string;
    replayed?: boolean;
    events?: { seq: number; type: string; data?: Record<string, unknown> }[];
  };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new CommandBuilderError(
      'UNREACHABLE',
      `${server}/commands answered HTTP ${res.status} without JSON: ${text.slice(0, 200)}`,
    );
  }
  if (res.ok) {
    if (json) process.stdout.write(`${text}\n`);
    else
      process.stdout.write(
        `${body.replayed ? 'already applied (the same command was sent before):' : 'appended:'}\n` +
          (body.events ?? []).map((e) => `  seq ${e.seq} ${e.type}${summary(e.data)}\n`).join(''),
      );
    return 0;
  }
  if (json) process.stdout.write(`${text}\n`);
  // 4xx: the log refused this command (nothing was appended); 5xx: it could not decide now.
  throw new CommandBuilderError(
    body.code ?? `HTTP_${res.status}`,
    `${res.status >= 500 ? 'the log could not take the command now, try again' : 'refused'}: ${body.message ?? text}`,
    res.status >= 500 ? 2 : 1,
  );
}

/** An event's short facts (fingerprint, username, role…) on one line; keys and texts are left out. */
function summary(data: Record<string, unknown> | undefined): string {
  const facts = Object.entries(data ?? {}).filter(
    ([, v]) => (typeof v === 'string' && v.length <= 80 && !v.includes('\n')) || typeof v === 'number',
  );
  return facts.map(([k, v]) => ` ${k}=${v}`).join('');
}

function typesHelp(): string {
  const lines = domain.COMMAND_TYPES.map((type) => {
    const fields = fieldsOf(type)
      .map((f) => `${f.required ? '' : '['}${f.name}=${f.values ? f.values.join('|') : '…'}${f.required ? '' : ']'}`)
      .join(' ');
    return `  ${kebab(type).padEnd(22)} ${fields}`;
  });
  return (
    `\nTypes and their fields (name=value; name=@FILE reads a file, e.g. key=@eve.asc):\n${lines.join('\n')}\n` +
    '\nExit codes: 0 sent (or written), 1 refused by the log (its code and message are printed),\n' +
    '2 usage, a bad field, an unreachable log, or gpg missing or failing.\n'
  );
}

/** `signet command`: registered on the CLI's commander program. */
export function registerCommandBuilder(program: Program): void {
  program
    .command('command')
    .description(
      'build a signed command (canonical JSON checked by the log’s schema), sign it with your gpg, and send it or write command.json + command.json.asc',
    )
    .argument('<type>', 'the command type: add-member, authorize-signing-key, … (or AddMember, …)')
    .argument('[fields...]', 'the type’s fields as name=value; name=@FILE reads the value from a file')
    .option('--sign-with <key>', 'the gpg key to sign with (gpg --local-user); default: gpg’s default key')
    .option('--send <url>', 'post it to the log at URL (POST /commands); issuedAt and origin come from the log')
    .option('--server <url>', 'take issuedAt and origin from the log at URL, but write the files instead of sending')
    .option('--origin <name>', 'the log’s origin (default: the log’s, with --send or --server)')
    .option('--id <id>', 'the command id (default: <type>-<time>-<random>)')
    .option('-o, --out <file>', 'write the command here and its signature to <file>.asc (default: command.json)')
    .option('--json', 'print the log’s answer as JSON')
    .addHelpText('after', () => typesHelp())
    .action(async (type: string, fields: string[], options: BuildOptions, command: Program) => {
      outcome.command = command;
      try {
        await loadCommandBuilder();
        outcome.code = await buildCommand(type, fields, options);
      } catch (error) {
        const e = error as { code?: string; message?: string; exitCode?: number };
        const code = e.code && e.code !== 'USAGE' ? `${e.code}: ` : '';
        process.stderr.write(`signet command: ${code}${e.message ?? String(error)}\n`);
        outcome.code = error instanceof CommandBuilderError ? error.exitCode : 2;
      }
    });
}
