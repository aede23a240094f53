import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readFile, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { DomainError, type SnapshotKey, formatModuleSig, keyRefusal, parseModuleSig } from '@signet/domain';
import { verifyCleartext, verifyDetached } from '@signet/pgp';
import type { TrustedSnapshot } from './snapshot.js';

// Offline verification against a trusted snapshot: detached package signatures, and FreePBX
// module directories with FreePBX's status bits.

export interface PackageVerdict {
  readonly valid: boolean;
  /** Why not (a stable code), or null when valid. */
  readonly code: string | null;
  readonly reason: string;
  readonly signer: string | null;
  readonly username: string | null;
  readonly created: string | null;
  readonly artifactSha512: string;
}

async function sha512File(path: string): Promise<string> {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const codeOf = (error: unknown) => (error instanceof DomainError ? error.code : 'BAD_SIGNATURE');

/**
 * A detached, armored package signature over a file: good when it is SHA-512, by a key of the
 * snapshot usable at the signature's creation time (active, not retired, compromised or
 * suspended then), and not among the snapshot's revoked signatures.
 */
export async function verifyPackage(trusted: TrustedSnapshot, artifactPath: string, armoredSignature: string): Promise<PackageVerdict> {
  const artifactSha512 = await sha512File(artifactPath);
  const keys = await trusted.publicKeys();
  const verdict = (code: string | null, reason: string, info?: SnapshotKey, created?: string): PackageVerdict => ({
    valid: code === null,
    code,
    reason,
    signer: info?.fingerprint ?? null,
    username: info?.username ?? null,
    created: created ?? null,
    artifactSha512,
  });
  let facts;
  try {
    const stream = Readable.toWeb(createReadStream(artifactPath)) as unknown as ReadableStream<Uint8Array>;
    facts = await verifyDetached(stream, armoredSignature, [...keys.values()].map((k) => k.key), 'SHA512');
  } catch (error) {
    return verdict(codeOf(error), (error as Error).message);
  }
  const info = keys.get(facts.signer)!.info;
  const refusal = keyRefusal(info, new Date(facts.created));
  if (refusal) return verdict(refusal.code, refusal.reason, info, facts.created);
  if (trusted.snapshot.revokedPackageSignatures.some((r) => r.artifactSha512 === artifactSha512 && r.signer === info.fingerprint)) {
    return verdict('SIGNATURE_REVOKED', 'the log lists this signature as revoked', info, facts.created);
  }
  return verdict(null, `signed by ~${info.username} at ${facts.created}, a key usable then`, info, facts.created);
}

// FreePBX's status bits (framework BMO/GPG.class.php).
export const MODULE_STATUS = { GOOD: 1, TAMPERED: 2, INVALID: 4, UNSIGNED: 8, UNSUPPORTED: 16, EXPIRED: 32, REVOKED: 64, TRUSTED: 128 } as const;
export type ModuleFlag = keyof typeof MODULE_STATUS;

export interface ModuleVerdict {
  /** FreePBX's status: the sum of the flags. */
  readonly status: number;
  readonly flags: ModuleFlag[];
  /** True when FreePBX would load it: GOOD and TRUSTED, nothing else. */
  readonly good: boolean;
  readonly signer: string | null;
  readonly username: string | null;
  readonly created: string | null;
  readonly version: string | null;
  /** `<path> missing`, `<path> altered`, and what else was found. */
  readonly details: string[];
  /** Files present but not listed (FreePBX does not examine them). */
  readonly unlisted: string[];
}

function verdictOf(bits: number, rest: Omit<ModuleVerdict, 'status' | 'flags' | 'good'>): ModuleVerdict {
  const flags = (Object.keys(MODULE_STATUS) as ModuleFlag[]).filter((f) => bits & MODULE_STATUS[f]);
  return { status: bits, flags, good: bits === (MODULE_STATUS.GOOD | MODULE_STATUS.TRUSTED), ...rest };
}

/** Every regular file below `dir` (relative, "/"-separated), except module.sig and dot-files. */
export async function moduleFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(at: string): Promise<void> {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) out.push(relative(dir, path).split(sep).join('/'));
    }
  }
  await walk(dir);
  return out.filter((p) => p !== 'module.sig').sort();
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Runs `work` over `items`, `width` at a time. */
async function pool<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  }));
  return out;
}

/** Hashes the listed files: `<path> missing`, `<path> altered`. */
async function checkFiles(dir: string, hashes: Readonly<Record<string, string>>): Promise<string[]> {
  const results = await pool(Object.entries(hashes), 16, async ([path, expected]) => {
    const full = join(dir, ...path.split('/'));
    let stat;
    try {
      stat = await lstat(full);
    } catch {
      return `${path} missing`;
    }
    // A link could point anywhere: FreePBX would hash its target; Signet does not follow it.
    if (!stat.isFile()) return `${path} altered (not a regular file)`;
    return (await sha256File(full)) === expected ? null : `${path} altered`;
  });
  return results.filter((r): r is string => r !== null);
}

/**
 * A FreePBX module directory checked against the snapshot: module.sig's clear signature by a
 * key of the snapshot (usable when it signed), then every listed file's SHA-256. The verdict
 * carries FreePBX's status bits: no module.sig 8; good 129; a listed file missing or altered
 * sets TAMPERED and clears GOOD (130); an unknown or bad signature is INVALID; a key revoked as
 * compromised by then is REVOKED ("will be disabled"); a v2 `expiresafter` in the past is REVOKED
 * as in FreePBX; a retired key's later signature EXPIRED; an unknown version or hash UNSUPPORTED.
 */
export async function verifyModule(trusted: TrustedSnapshot, dir: string, options: { now?: Date } = {}): Promise<ModuleVerdict> {
  const none = { signer: null, username: null, created: null, version: null };
  let text: string;
  try {
    text = await readFile(join(dir, 'module.sig'), 'utf8');
  } catch {
    return verdictOf(MODULE_STATUS.UNSIGNED, { ...none, details: ['module.sig missing'], unlisted: [] });
  }
  const keys = await trusted.publicKeys();
  let facts;
  try {
    facts = await verifyCleartext(text, [...keys.values()].map((k) => k.key));
  } catch (error) {
    const code = codeOf(error);
    const bits = code === 'BAD_SIGNATURE' && /does not verify/.test((error as Error).message) ? MODULE_STATUS.INVALID | MODULE_STATUS.TAMPERED : MODULE_STATUS.INVALID;
    return verdictOf(bits, { ...none, details: [`${code}: ${(error as Error).message}`], unlisted: [] });
  }
  const info = keys.get(facts.signer)!.info;
  const who = { signer: info.fingerprint, username: info.username, created: facts.created };
  let sig;
  try {
    sig = parseModuleSig(facts.text);
  } catch (error) {
    const unsupported = error instanceof DomainError && error.code === 'UNSUPPORTED_MODULE_SIG';
    return verdictOf(unsupported ? MODULE_STATUS.UNSUPPORTED : MODULE_STATUS.INVALID, { ...who, version: null, details: [(error as Error).message], unlisted: [] });
  }
  const version = sig.config.version ?? null;
  const details: string[] = [];
  let bits = MODULE_STATUS.GOOD | MODULE_STATUS.TRUSTED;
  const refusal = keyRefusal(info, new Date(facts.created));
  if (refusal) {
    details.push(refusal.reason);
    if (refusal.code === 'KEY_REVOKED') bits = MODULE_STATUS.REVOKED;
    else if (refusal.code === 'KEY_RETIRED') bits = MODULE_STATUS.EXPIRED;
    else bits = MODULE_STATUS.INVALID;
  }
  const expires = Number(sig.config.expiresafter);
  if (version === '2' && sig.config.expiresafter && Number.isFinite(expires) && expires * 1000 < (options.now ?? new Date()).getTime()) {
    details.push(`module signature expired at ${new Date(expires * 1000).toISOString()}`);
    bits = (bits & ~(MODULE_STATUS.GOOD | MODULE_STATUS.TRUSTED)) | MODULE_STATUS.REVOKED;
  }
  const problems = await checkFiles(dir, sig.hashes);
  if (problems.length > 0) {
    details.push(...problems);
    bits = (bits & ~MODULE_STATUS.GOOD) | MODULE_STATUS.TAMPERED;
  }
  const listed = new Set(Object.keys(sig.hashes));
  const unlisted = (await moduleFiles(dir)).filter((p) => !listed.has(p));
  return verdictOf(bits, { ...who, version, details, unlisted });
}

/** The unsigned module.sig body for a directory, for `gpg --clearsign`. */
export async function moduleSigBody(dir: string): Promise<string> {
  const files = await moduleFiles(dir);
  const hashes = await pool(files, 16, (p) => sha256File(join(dir, ...p.split('/'))));
  return formatModuleSig(Object.fromEntries(files.map((p, i) => [p, hashes[i]!])));
}
