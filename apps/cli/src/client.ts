import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DomainError, groupFingerprint } from '@signet/domain/core';
import {
  type TrustedSnapshot,
  fetchSnapshot,
  moduleSigBody,
  verifyModule,
  verifyModuleFreepbx,
  verifyPackage,
  verifySnapshot,
} from '@signet/client';
import { type PublicKey, readPublicKeys } from '@signet/pgp';
import { hostNow, readText, writeAtomically } from './files.js';

// The client side of `signet`: keep a verified trust snapshot in a state directory, and verify
// packages and FreePBX modules against it offline. Exit codes: 0 good, 1 the verification failed
// (a bad signature, a tampered module…), 2 usage or no usable snapshot (missing, expired).

const STATE_OPTION = { state: { type: 'string' as const }, json: { type: 'boolean' as const } };

const now = hostNow;

function stateDir(given: string | undefined): string {
  return given ?? process.env.SIGNET_CLIENT_DIR ?? join(homedir(), '.signet');
}

class UsageError extends DomainError {}

/**
 * Text from the module directory or a key (file names, user IDs: anyone's to choose) made safe for
 * a terminal: control characters would let a dropped file rewrite the verdict line on screen.
 */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function print(json: boolean | undefined, value: unknown, line: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${line}\n`);
}

/** `signet snapshot fetch --server URL [--vkey KEY] [--state DIR] [--json]` */
export async function snapshotCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'fetch')
    throw new UsageError('USAGE', 'usage: signet snapshot fetch [--server URL] [--vkey KEY] [--state DIR] [--json]');
  const { values } = parseArgs({
    args: rest,
    options: { server: { type: 'string' }, vkey: { type: 'string' }, ...STATE_OPTION },
    strict: true,
  });
  const dir = stateDir(values.state);
  mkdirSync(dir, { recursive: true });
  const server = values.server ?? readText(join(dir, 'server'))?.trim();
  if (!server)
    throw new UsageError('USAGE', 'signet snapshot fetch needs --server URL (it is remembered after the first fetch)');
  const pinned = readText(join(dir, 'vkey'))?.trim() ?? null;
  if (pinned && values.vkey && values.vkey.trim() !== pinned) {
    throw new DomainError(
      'SNAPSHOT_WRONG_KEY',
      `${dir} is pinned to the log key ${pinned}; use another --state for another log`,
    );
  }
  const vkey = values.vkey?.trim() ?? pinned;
  if (!vkey)
    throw new UsageError(
      'USAGE',
      "the first fetch needs --vkey: the log's verifier key, from its operator (never taken from the server)",
    );
  const accepted = await fetchSnapshot(server, readText(join(dir, 'snapshot.json')), vkey, { now: now() });
  const s = accepted.trusted.snapshot;
  if (!pinned) writeAtomically(join(dir, 'vkey'), `${vkey}\n`);
  writeAtomically(join(dir, 'snapshot.json'), accepted.document);
  writeAtomically(join(dir, 'checkpoint'), s.checkpoint);
  writeAtomically(join(dir, 'server'), `${server}\n`);
  print(
    values.json,
    {
      ok: true,
      origin: s.origin,
      version: s.version,
      issuedAt: s.issuedAt,
      expiresAt: s.expiresAt,
      signingKeys: s.signingKeys.length,
    },
    `snapshot ${s.version} of ${s.origin} accepted: issued ${s.issuedAt}, expires ${s.expiresAt}, ${s.signingKeys.length} signing keys`,
  );
  return 0;
}

/** The stored snapshot, verified again (it may have expired since it was fetched). */
function storedSnapshot(dir: string): TrustedSnapshot {
  const document = readText(join(dir, 'snapshot.json'));
  const vkey = readText(join(dir, 'vkey'))?.trim();
  if (!document || !vkey)
    throw new UsageError(
      'NO_SNAPSHOT',
      `no trust snapshot in ${dir}: run signet snapshot fetch --server URL --vkey KEY first`,
    );
  return verifySnapshot(document, vkey, { now: now() }).trusted;
}

/** `signet verify package <artifact> <signature>` and `signet verify module <dir>` */
export async function verifyCommand(args: string[]): Promise<number> {
  const [what, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      ...STATE_OPTION,
      'trust-root': { type: 'string', multiple: true },
      keyring: { type: 'string' },
      'allow-unlisted': { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (what === 'package') {
    if (positionals.length !== 2)
      throw new UsageError('USAGE', 'usage: signet verify package <artifact> <signature.asc> [--state DIR] [--json]');
    const trusted = storedSnapshot(stateDir(values.state));
    const signature = readText(positionals[1]!);
    if (signature === null) throw new UsageError('USAGE', `cannot read the signature ${positionals[1]}`);
    const verdict = await verifyPackage(trusted, positionals[0]!, signature);
    const who = verdict.signer ? ` by ~${verdict.username} (${groupFingerprint(verdict.signer)})` : '';
    print(
      values.json,
      verdict,
      verdict.valid
        ? `GOOD: ${positionals[0]} signed${who} at ${verdict.created}`
        : `BAD: ${positionals[0]}${who}: ${verdict.code}: ${verdict.reason}`,
    );
    return verdict.valid ? 0 : 1;
  }
  if (what === 'module') {
    if (positionals.length !== 1)
      throw new UsageError(
        'USAGE',
        'usage: signet verify module <dir> [--state DIR [--allow-unlisted] | --trust-root FILE... --keyring FILE] [--json]',
      );
    const roots = values['trust-root'] ?? [];
    if (roots.length > 0 !== (values.keyring !== undefined))
      throw new UsageError(
        'USAGE',
        'the FreePBX-compatible mode needs both --trust-root FILE (repeatable) and --keyring FILE',
      );
    if (roots.length > 0 && values['allow-unlisted'])
      throw new UsageError(
        'USAGE',
        "--allow-unlisted is for the log's own mode: the FreePBX-compatible mode never flags unlisted files, it lists them",
      );
    const verdict =
      roots.length > 0
        ? await verifyModuleFreepbx(
            { roots: await keysFrom(roots), keyring: await keysFrom([values.keyring!]) },
            positionals[0]!,
            { now: now() },
          )
        : await verifyModule(storedSnapshot(stateDir(values.state)), positionals[0]!, {
            now: now(),
            allowUnlisted: values['allow-unlisted'],
          });
    // The log's username in its own mode; without a log, the signing key's own user ID.
    const name = verdict.username !== null ? `~${verdict.username}` : verdict.userId;
    const who = verdict.signer
      ? ` signed by ${name === null ? groupFingerprint(verdict.signer) : `${printable(name)} (${groupFingerprint(verdict.signer)})`}`
      : '';
    const notes = [...verdict.details, ...verdict.unlisted.map((p) => `${p} not listed`)].map(printable);
    print(
      values.json,
      verdict,
      `${verdict.good ? 'GOOD' : 'BAD'} ${verdict.status} (${verdict.flags.join('|')})${who}${notes.length ? `: ${notes.join('; ')}` : ''}`,
    );
    return verdict.good ? 0 : 1;
  }
  throw new UsageError('USAGE', 'usage: signet verify package <artifact> <signature.asc> | signet verify module <dir>');
}

/** Every key of key files (each may hold several blocks, armored or binary); a file with no usable key is bad local input. */
async function keysFrom(paths: readonly string[]): Promise<PublicKey[]> {
  const keys: PublicKey[] = [];
  for (const path of paths) {
    let content: Buffer;
    try {
      content = readFileSync(path);
    } catch {
      throw new UsageError('USAGE', `cannot read the key file ${path}`);
    }
    try {
      keys.push(...(await readPublicKeys(content, path)));
    } catch (error) {
      if (error instanceof DomainError) throw new UsageError(error.code, error.message);
      throw error;
    }
  }
  return keys;
}

/** `signet module-sig <dir>`: the unsigned module.sig body, for `gpg --clearsign`. */
export async function moduleSigCommand(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, options: {}, strict: true, allowPositionals: true });
  if (positionals.length !== 1)
    throw new UsageError(
      'USAGE',
      'usage: signet module-sig <dir> > module.unsigned && gpg --clearsign --digest-algo SHA512 -o <dir>/module.sig module.unsigned',
    );
  process.stdout.write(await moduleSigBody(positionals[0]!));
  return 0;
}

/** Usage errors and a missing or expired snapshot exit 2; other refusals 1. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return 2;
  if (error instanceof DomainError && (error.code === 'SNAPSHOT_EXPIRED' || error.code === 'NO_SNAPSHOT')) return 2;
  return 1;
}
