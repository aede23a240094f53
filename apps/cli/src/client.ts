import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DomainError, groupFingerprint } from '@signet/domain/core';
import {
  type ModuleVerdict,
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
import { type NetworkFlags, UsageError, existingDirectory, networkOf, verifierKeyOf } from './kit.js';

// The client side of `signet`: keep a verified trust snapshot in a state directory, and verify
// packages and FreePBX modules against it offline. Exit codes: 0 good, 1 the verification failed
// (a bad signature, a tampered module…), 2 usage, bad local input or no usable snapshot (missing,
// expired), or no server reached.

interface StateFlags {
  state?: string;
  json?: boolean;
}

const now = hostNow;

function stateDir(given: string | undefined): string {
  return given ?? process.env.SIGNET_CLIENT_DIR ?? join(homedir(), '.signet');
}

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

/** `signet snapshot fetch [--server URL]... [--vkey KEY] [--state DIR] [--json]` */
export async function snapshotFetch(
  values: StateFlags & NetworkFlags & { server?: string[]; vkey?: string },
): Promise<number> {
  const dir = stateDir(values.state);
  mkdirSync(dir, { recursive: true });
  // Servers given are remembered, one a line, for the fetches that name none.
  const servers = values.server?.length
    ? values.server
    : (readText(join(dir, 'server')) ?? '').split('\n').filter((line) => line.trim() !== '');
  if (servers.length === 0)
    throw new UsageError('signet snapshot fetch needs --server URL (it is remembered after the first fetch)');
  const pinned = readText(join(dir, 'vkey'))?.trim() ?? null;
  if (pinned && values.vkey && values.vkey.trim() !== pinned) {
    throw new DomainError(
      'SNAPSHOT_WRONG_KEY',
      `${dir} is pinned to the log key ${pinned}; use another --state for another log`,
    );
  }
  if (!values.vkey && !pinned)
    throw new UsageError(
      "the first fetch needs --vkey: the log's verifier key, from its operator (never taken from the server)",
    );
  const vkey = values.vkey ? await verifierKeyOf(values.vkey) : pinned!;
  const accepted = await fetchSnapshot(servers, readText(join(dir, 'snapshot.json')), vkey, {
    now: now(),
    network: networkOf(values),
  });
  const s = accepted.trusted.snapshot;
  if (!pinned) writeAtomically(join(dir, 'vkey'), `${vkey}\n`);
  writeAtomically(join(dir, 'snapshot.json'), accepted.document);
  writeAtomically(join(dir, 'checkpoint'), s.checkpoint);
  writeAtomically(join(dir, 'server'), servers.map((server) => `${server}\n`).join(''));
  print(
    values.json,
    {
      ok: true,
      origin: s.origin,
      version: s.version,
      issuedAt: s.issuedAt,
      expiresAt: s.expiresAt,
      signingKeys: s.signingKeys.length,
      server: accepted.server,
    },
    `snapshot ${s.version} of ${s.origin} accepted from ${accepted.server}: issued ${s.issuedAt}, expires ${s.expiresAt}, ${s.signingKeys.length} signing keys`,
  );
  return 0;
}

/** The stored snapshot, verified again (it may have expired since it was fetched). */
function storedSnapshot(dir: string): TrustedSnapshot {
  const document = readText(join(dir, 'snapshot.json'));
  const vkey = readText(join(dir, 'vkey'))?.trim();
  if (!document || !vkey)
    throw new UsageError(
      `no trust snapshot in ${dir}: run signet snapshot fetch --server URL --vkey KEY first`,
      'NO_SNAPSHOT',
    );
  return verifySnapshot(document, vkey, { now: now() }).trusted;
}

/** `signet verify package <artifact> <signature>` */
export async function verifyPackageCommand([artifact, signatureFile]: string[], values: StateFlags): Promise<number> {
  const trusted = storedSnapshot(stateDir(values.state));
  const signature = readText(signatureFile!);
  if (signature === null) throw new UsageError(`cannot read the signature ${signatureFile}`, 'NO_SUCH_FILE');
  if (!existsSync(artifact!)) throw new UsageError(`the artifact ${artifact} does not exist`, 'NO_SUCH_FILE');
  const verdict = await verifyPackage(trusted, artifact!, signature);
  const who = verdict.signer ? ` by ~${verdict.username} (${groupFingerprint(verdict.signer)})` : '';
  print(
    values.json,
    verdict,
    verdict.valid
      ? `GOOD: ${artifact} signed${who} at ${verdict.created}`
      : `BAD: ${artifact}${who}: ${verdict.code}: ${verdict.reason}`,
  );
  return verdict.valid ? 0 : 1;
}

interface ModuleFlags extends StateFlags {
  allowUnlisted?: boolean;
  trustRoot?: string[];
  keyring?: string;
}

/** How modules are judged: against the stored snapshot, or (FreePBX mode) master keys and a keyring. */
async function moduleVerifier(values: ModuleFlags): Promise<(dir: string) => Promise<ModuleVerdict>> {
  const roots = values.trustRoot ?? [];
  if (roots.length > 0 !== (values.keyring !== undefined))
    throw new UsageError('the FreePBX-compatible mode needs both --trust-root FILE (repeatable) and --keyring FILE');
  if (roots.length > 0 && values.allowUnlisted)
    throw new UsageError(
      "--allow-unlisted is for the log's own mode: the FreePBX-compatible mode never flags unlisted files, it lists them",
    );
  if (roots.length > 0) {
    const trust = { roots: await keysFrom(roots), keyring: await keysFrom([values.keyring!]) };
    return (dir) => verifyModuleFreepbx(trust, dir, { now: now() });
  }
  const trusted = storedSnapshot(stateDir(values.state));
  return (dir) => verifyModule(trusted, dir, { now: now(), allowUnlisted: values.allowUnlisted });
}

/** Who signed, as a terminal may show it: the log's username in its own mode; without a log, the key's user ID. */
function signerOf(verdict: ModuleVerdict): string {
  if (!verdict.signer) return '';
  const name = verdict.username !== null ? `~${verdict.username}` : verdict.userId;
  return name === null ? groupFingerprint(verdict.signer) : `${printable(name)} (${groupFingerprint(verdict.signer)})`;
}

/** `signet verify module <dir>` */
export async function verifyModuleCommand([dir]: string[], values: ModuleFlags): Promise<number> {
  existingDirectory(dir!, 'module directory');
  const verdict = await (await moduleVerifier(values))(dir!);
  const who = verdict.signer ? ` signed by ${signerOf(verdict)}` : '';
  const notes = [...verdict.details, ...verdict.unlisted.map((p) => `${p} not listed`)].map(printable);
  print(
    values.json,
    verdict,
    `${verdict.good ? 'GOOD' : 'BAD'} ${verdict.status} (${verdict.flags.join('|')})${who}${notes.length ? `: ${notes.join('; ')}` : ''}`,
  );
  return verdict.good ? 0 : 1;
}

/** A module's name and version from its module.xml (`<rawname>`, `<version>`), else the directory name. */
function moduleInfo(dir: string, fallback: string): { module: string; version: string } {
  const xml = readText(join(dir, 'module.xml')) ?? '';
  const tag = (name: string) => new RegExp(`<${name}>\\s*([^<]*?)\\s*</${name}>`).exec(xml)?.[1];
  return { module: printable(tag('rawname') || fallback), version: printable(tag('version') || '-') };
}

/**
 * `signet verify modules <dir>`: every module of a FreePBX modules directory (each subdirectory
 * with a module.xml or a module.sig), as `fwconsole ma list` would show its signature column.
 */
export async function verifyModulesCommand([dir]: string[], values: ModuleFlags): Promise<number> {
  existingDirectory(dir!, 'modules directory');
  const verify = await moduleVerifier(values);
  const names = readdirSync(dir!, { withFileTypes: true })
    .filter((e) => e.isDirectory() && ['module.xml', 'module.sig'].some((f) => existsSync(join(dir!, e.name, f))))
    .map((e) => e.name)
    .sort();
  if (names.length === 0)
    throw new UsageError(`${dir} holds no module (no subdirectory with a module.xml or module.sig)`, 'NO_SUCH_FILE');
  const rows: { module: string; version: string; status: string; signer: string }[] = [];
  let bad = 0;
  for (const name of names) {
    const path = join(dir!, name);
    const verdict = await verify(path);
    if (!verdict.good) bad++;
    const { module, version } = moduleInfo(path, name);
    const status = `${verdict.good ? 'GOOD' : 'BAD'} ${verdict.status} (${verdict.flags.join('|')})`;
    if (values.json) {
      // `version` is the module's; the module.sig format's is `signatureVersion`.
      const { version: signatureVersion, ...rest } = verdict;
      process.stdout.write(`${JSON.stringify({ module, version, directory: path, ...rest, signatureVersion })}\n`);
    }
    rows.push({ module, version, status, signer: signerOf(verdict) || '-' });
  }
  if (!values.json) {
    const header = { module: 'MODULE', version: 'VERSION', status: 'STATUS', signer: 'SIGNER' };
    const all = [header, ...rows];
    const width = (k: 'module' | 'version' | 'status') => Math.max(...all.map((r) => r[k].length));
    const [m, v, s] = [width('module'), width('version'), width('status')];
    for (const r of all)
      process.stdout.write(`${r.module.padEnd(m)}  ${r.version.padEnd(v)}  ${r.status.padEnd(s)}  ${r.signer}\n`);
    process.stdout.write(`${names.length} modules, ${names.length - bad} GOOD, ${bad} not GOOD\n`);
  }
  return bad === 0 ? 0 : 1;
}

/** Every key of key files (each may hold several blocks, armored or binary); a file with no usable key is bad local input. */
async function keysFrom(paths: readonly string[]): Promise<PublicKey[]> {
  const keys: PublicKey[] = [];
  for (const path of paths) {
    let content: Buffer;
    try {
      content = readFileSync(path);
    } catch {
      throw new UsageError(`cannot read the key file ${path}`, 'NO_SUCH_FILE');
    }
    try {
      keys.push(...(await readPublicKeys(content, path)));
    } catch (error) {
      if (error instanceof DomainError) throw new UsageError(error.message, error.code);
      throw error;
    }
  }
  return keys;
}

/** `signet module-sig <dir>`: the unsigned module.sig body, for `gpg --clearsign`. */
export async function moduleSigCommand([dir]: string[]): Promise<number> {
  existingDirectory(dir!, 'module directory');
  process.stdout.write(await moduleSigBody(dir!));
  return 0;
}
