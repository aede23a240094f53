import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  DomainError,
  type DomainErrorCode,
  type SignatureRefusalCode,
  type SnapshotKey,
  findPackageSignature,
  formatModuleSig,
  moduleSignatureRefusal,
  parseModuleSig,
  signatureRefusal,
} from '@signet/domain/core';
import { type PublicKey, type KeySource, certificationsBy, verifyCleartext, verifyDetached } from '@signet/pgp';
import type { TrustedSnapshot } from './snapshot.js';

// Offline verification against a trusted snapshot: detached package signatures, and FreePBX
// module directories with FreePBX's status bits.

/** Why a signature is not good: the log's rule (signatureRefusal), or why it could not be checked. */
export type VerdictCode = SignatureRefusalCode | DomainErrorCode;

export interface PackageVerdict {
  readonly valid: boolean;
  /** Why not (a stable code), or null when valid. */
  readonly code: VerdictCode | null;
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

const codeOf = (error: unknown): DomainErrorCode => (error instanceof DomainError ? error.code : 'BAD_SIGNATURE');

/** The snapshot's keys that may have made a signature by an issuer, noted in `seen` by fingerprint. */
function candidatesFrom(trusted: TrustedSnapshot, seen: Map<string, { key: PublicKey; info: SnapshotKey }>): KeySource {
  return async (issuer) => {
    const found = await trusted.keysFor(issuer);
    for (const k of found) seen.set(k.info.fingerprint, k);
    return found.map((k) => k.key);
  };
}

/**
 * A detached, armored package signature over a file: good when it is SHA-512, by a key of the
 * snapshot, and the log published this very signature (same signer, creation time and artifact)
 * before any compromise of its key (`signatureRefusal`, the rule POST /verify applies).
 */
export async function verifyPackage(
  trusted: TrustedSnapshot,
  artifactPath: string,
  armoredSignature: string,
): Promise<PackageVerdict> {
  const artifactSha512 = await sha512File(artifactPath);
  const keys = new Map<string, { key: PublicKey; info: SnapshotKey }>();
  const verdict = (code: VerdictCode | null, reason: string, info?: SnapshotKey, created?: string): PackageVerdict => ({
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
    facts = await verifyDetached(stream, armoredSignature, candidatesFrom(trusted, keys), 'SHA512');
  } catch (error) {
    return verdict(codeOf(error), (error as Error).message);
  }
  const info = keys.get(facts.signer)!.info;
  const record = findPackageSignature(
    trusted.snapshot.packageSignatures,
    info.fingerprint,
    facts.created,
    artifactSha512,
  );
  const refusal = signatureRefusal(info, new Date(facts.created), record);
  if (refusal) return verdict(refusal.code, refusal.reason, info, facts.created);
  return verdict(
    null,
    `signed by ~${info.username} at ${facts.created}, published in the log at seq ${record!.seq} (${record!.loggedAt})`,
    info,
    facts.created,
  );
}

// FreePBX's status bits (framework BMO/GPG.class.php), and one of Signet's own above them:
// UNLISTED, a file in the module directory that module.sig does not list. FreePBX ignores such
// files; in Signet's own mode they make the module not GOOD. It is a bit of its own, outside
// FreePBX's 1..128, so that no FreePBX meaning changes and a reader that knows only FreePBX's
// bits still sees GOOD cleared.
export const MODULE_STATUS = {
  GOOD: 1,
  TAMPERED: 2,
  INVALID: 4,
  UNSIGNED: 8,
  UNSUPPORTED: 16,
  EXPIRED: 32,
  REVOKED: 64,
  TRUSTED: 128,
  UNLISTED: 256,
} as const;
export type ModuleFlag = keyof typeof MODULE_STATUS;

export interface ModuleVerdict {
  /** FreePBX's status: the sum of the flags. */
  readonly status: number;
  readonly flags: ModuleFlag[];
  /** True when FreePBX would load it: GOOD and TRUSTED, nothing else. */
  readonly good: boolean;
  readonly signer: string | null;
  /** The signer's username in the log (Signet's own mode); null without a log. */
  readonly username: string | null;
  /** The primary user ID of the signing key (its self-signature verified), e.g. `FreePBX Mirror 1 <…>`. */
  readonly userId: string | null;
  readonly created: string | null;
  readonly version: string | null;
  /** `<path> missing`, `<path> altered`, and what else was found. */
  readonly details: string[];
  /**
   * Files present but not listed in module.sig: UNLISTED in Signet's own mode (unless allowed);
   * FreePBX-compatible mode only lists them, as FreePBX does not examine them.
   */
  readonly unlisted: string[];
}

function verdictOf(bits: number, rest: Omit<ModuleVerdict, 'status' | 'flags' | 'good'>): ModuleVerdict {
  const flags = (Object.keys(MODULE_STATUS) as ModuleFlag[]).filter((f) => bits & MODULE_STATUS[f]);
  return { status: bits, flags, good: bits === (MODULE_STATUS.GOOD | MODULE_STATUS.TRUSTED), ...rest };
}

/**
 * Every regular file below `dir` (relative, "/"-separated), except module.sig and dot-files; with
 * `everyEntry`, every other non-directory entry too (symbolic links, FIFOs…), not followed:
 * what could be dropped into a module without being a file module.sig lists.
 */
export async function moduleFiles(dir: string, options: { everyEntry?: boolean } = {}): Promise<string[]> {
  const out: string[] = [];
  const walk = (at: string, prefix: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      if (entry.isDirectory()) walk(join(at, entry.name), `${prefix}${entry.name}/`);
      else if (entry.isFile() || options.everyEntry) out.push(`${prefix}${entry.name}`);
    }
  };
  walk(dir, '');
  return out.filter((p) => p !== 'module.sig').sort();
}

/** SHA-256 of a file: read whole (synchronously: fastest for many small files) when small, streamed when large. */
async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const { size } = fstatSync(fd);
    if (size <= 4 * 1024 * 1024) return hash.update(readFileSync(fd)).digest('hex');
  } finally {
    closeSync(fd);
  }
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Runs `work` over `items`, `width` at a time. */
async function pool<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await work(items[i]!);
      }
    }),
  );
  return out;
}

/**
 * Hashes the listed files: `<path> missing`, `<path> altered`. Small files (nearly all of a
 * module) are read synchronously, one after another: for thousands of small files that is
 * several times faster than going through the thread pool; large ones are streamed.
 */
async function checkFiles(dir: string, hashes: Readonly<Record<string, string>>): Promise<string[]> {
  const problems: string[] = [];
  for (const [path, expected] of Object.entries(hashes)) {
    const full = join(dir, ...path.split('/'));
    let actual: string;
    try {
      actual = await sha256File(full);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      problems.push(
        code === 'ENOENT' || code === 'ENOTDIR' ? `${path} missing` : `${path} altered (${code ?? 'unreadable'})`,
      );
      continue;
    }
    if (actual !== expected) problems.push(`${path} altered`);
  }
  return problems;
}

/** What a module.sig's clear signature says, judged by a trust model (the snapshot, or FreePBX's). */
interface SignatureJudgement {
  /** Bits from the signature alone: GOOD|TRUSTED when it is a trusted key's, usable then. */
  readonly bits: number;
  readonly details: string[];
  readonly signer: string | null;
  readonly username: string | null;
  readonly userId: string | null;
  readonly created: string | null;
  /** The signed text, when the signature verified. */
  readonly text: string | null;
}

/**
 * FreePBX's procedure: module.sig's clear signature (judged by `judge`), its `[config]`, then
 * every listed file's SHA-256. No module.sig 8; good 129; a listed file missing or altered sets
 * TAMPERED and clears GOOD (130); an unknown version or hash UNSUPPORTED; a v2 `expiresafter` in
 * the past REVOKED ("Module signature expired"). Files present but not listed are always
 * reported; with `unlisted: 'flag'` (Signet's own mode) they also set UNLISTED and clear GOOD,
 * with `'report'` (FreePBX's behaviour) the bits ignore them.
 */
async function checkModule(
  dir: string,
  now: Date,
  unlistedFiles: 'flag' | 'report',
  judge: (armored: string) => Promise<SignatureJudgement>,
): Promise<ModuleVerdict> {
  let armored: string;
  try {
    armored = await readFile(join(dir, 'module.sig'), 'utf8');
  } catch {
    return verdictOf(MODULE_STATUS.UNSIGNED, {
      signer: null,
      username: null,
      userId: null,
      created: null,
      version: null,
      details: ['module.sig missing'],
      unlisted: [],
    });
  }
  const signature = await judge(armored);
  const who = {
    signer: signature.signer,
    username: signature.username,
    userId: signature.userId,
    created: signature.created,
  };
  if (signature.text === null)
    return verdictOf(signature.bits, { ...who, version: null, details: signature.details, unlisted: [] });
  let sig;
  try {
    sig = parseModuleSig(signature.text);
  } catch (error) {
    const unsupported = error instanceof DomainError && error.code === 'UNSUPPORTED_MODULE_SIG';
    return verdictOf(unsupported ? MODULE_STATUS.UNSUPPORTED : MODULE_STATUS.INVALID, {
      ...who,
      version: null,
      details: [...signature.details, (error as Error).message],
      unlisted: [],
    });
  }
  const version = sig.config.version ?? null;
  const details = [...signature.details];
  let bits = signature.bits;
  const expires = Number(sig.config.expiresafter);
  if (version === '2' && sig.config.expiresafter && Number.isFinite(expires) && expires * 1000 < now.getTime()) {
    details.push(`module signature expired at ${new Date(expires * 1000).toISOString()}`);
    bits = (bits & ~(MODULE_STATUS.GOOD | MODULE_STATUS.TRUSTED)) | MODULE_STATUS.REVOKED;
  }
  const problems = await checkFiles(dir, sig.hashes);
  if (problems.length > 0) {
    details.push(...problems);
    bits = (bits & ~MODULE_STATUS.GOOD) | MODULE_STATUS.TAMPERED;
  }
  const listed = new Set(Object.keys(sig.hashes));
  const unlisted = (await moduleFiles(dir, { everyEntry: true })).filter((p) => !listed.has(p));
  if (unlisted.length > 0 && unlistedFiles === 'flag') bits = (bits & ~MODULE_STATUS.GOOD) | MODULE_STATUS.UNLISTED;
  return verdictOf(bits, { ...who, version, details, unlisted });
}

/** The signing key's primary user ID as of `at`, only when its self-signature verifies (else the name is anyone's to write). */
async function primaryUserId(key: PublicKey, at: Date): Promise<string | null> {
  try {
    return (await key.getPrimaryUser(at)).user.userID?.userID ?? null;
  } catch {
    return null;
  }
}

/**
 * Wraps a key source to remember the issuer key ID asked for, so that an unknown signer can be
 * named in the words of the trust model (the log's snapshot, or the trust roots and keyring).
 */
function askedFor(keys: KeySource): { source: KeySource; issuer: () => string | null } {
  let issuer: string | null = null;
  const source: KeySource = async (id) => {
    issuer = id;
    return typeof keys === 'function' ? keys(id) : keys;
  };
  return { source, issuer: () => issuer };
}

/**
 * A clear signature that did not verify: INVALID, and TAMPERED when the text was changed. An
 * unknown signer is described by `unknownSigner` (the issuer key ID in, the trust model's words out).
 */
function unverified(
  error: unknown,
  unknownSigner: (issuer: string) => string,
  issuer: string | null,
): SignatureJudgement {
  const code = codeOf(error);
  const bits =
    code === 'BAD_SIGNATURE' && /does not verify/.test((error as Error).message)
      ? MODULE_STATUS.INVALID | MODULE_STATUS.TAMPERED
      : MODULE_STATUS.INVALID;
  const message = code === 'UNKNOWN_SIGNER' && issuer ? unknownSigner(issuer) : (error as Error).message;
  return {
    bits,
    details: [`${code}: ${message}`],
    signer: null,
    username: null,
    userId: null,
    created: null,
    text: null,
  };
}

/**
 * A FreePBX module directory checked against the snapshot: module.sig clear-signed by a key of
 * the snapshot usable when it signed. A key revoked as compromised by then is REVOKED ("all
 * modules signed by that key will be disabled"); a retired key's later signature EXPIRED; a key
 * not yet active, or suspended, INVALID; an unknown or bad signature INVALID (and TAMPERED when
 * module.sig was changed). SHA-1 clear signatures are refused, as the log refuses them.
 */
export async function verifyModule(
  trusted: TrustedSnapshot,
  dir: string,
  options: { now?: Date; allowUnlisted?: boolean } = {},
): Promise<ModuleVerdict> {
  return checkModule(dir, options.now ?? new Date(), options.allowUnlisted ? 'report' : 'flag', async (armored) => {
    const keys = new Map<string, { key: PublicKey; info: SnapshotKey }>();
    const asked = askedFor(candidatesFrom(trusted, keys));
    let facts;
    try {
      facts = await verifyCleartext(armored, asked.source);
    } catch (error) {
      return unverified(
        error,
        (issuer) => `module.sig is signed by key ${issuer}, which is not a signing key of the log's trust snapshot`,
        asked.issuer(),
      );
    }
    const { key, info } = keys.get(facts.signer)!;
    const judged = {
      signer: info.fingerprint,
      username: info.username,
      userId: await primaryUserId(key, new Date(facts.created)),
      created: facts.created,
      text: facts.text,
    };
    // Judged by the log's record of this very module.sig, where it has one.
    const moduleSigSha256 = createHash('sha256').update(armored).digest('hex');
    const record =
      trusted.snapshot.moduleSignatures.find(
        (m) => m.signer === info.fingerprint && m.moduleSigSha256 === moduleSigSha256,
      ) ?? null;
    const refusal = moduleSignatureRefusal(info, new Date(facts.created), record);
    if (!refusal) return { ...judged, bits: MODULE_STATUS.GOOD | MODULE_STATUS.TRUSTED, details: [] };
    const bits =
      refusal.code === 'KEY_REVOKED'
        ? MODULE_STATUS.REVOKED
        : refusal.code === 'KEY_RETIRED'
          ? MODULE_STATUS.EXPIRED
          : MODULE_STATUS.INVALID;
    return { ...judged, bits, details: [refusal.reason] };
  });
}

/** FreePBX's own trust: master keys (trust roots) and the signing keys they certified. */
export interface FreepbxTrust {
  readonly roots: readonly PublicKey[];
  /** The signing ("mirror") keys, as FreePBX fetches them from a keyserver. */
  readonly keyring: readonly PublicKey[];
}

/**
 * FreePBX-compatible mode, no log: trusted exactly when FreePBX trusts — module.sig clear-signed
 * by a keyring key certified by one of the roots and not revoked by it (REVOKED when it was),
 * by a root itself, or else the signature's own bits with INVALID (FreePBX: "module.sig check
 * failed"). SHA-1 clear signatures, which genuine modules still carry, are accepted as gpg 2.2
 * accepts them, and reported as a finding. Files present but not listed are listed, and change
 * no bit (FreePBX does not examine them). No log is involved: the signer is named by its key's
 * primary user ID.
 */
export async function verifyModuleFreepbx(
  trust: FreepbxTrust,
  dir: string,
  options: { now?: Date } = {},
): Promise<ModuleVerdict> {
  return checkModule(dir, options.now ?? new Date(), 'report', async (armored) => {
    const all = [...trust.roots, ...trust.keyring];
    const asked = askedFor(all);
    let facts;
    try {
      facts = await verifyCleartext(armored, asked.source, { allowSha1: true });
    } catch (error) {
      return unverified(
        error,
        (issuer) =>
          `module.sig is signed by key ${issuer}, which is neither a trust root (--trust-root) nor in the keyring (--keyring)`,
        asked.issuer(),
      );
    }
    const details =
      facts.digest === 'SHA1'
        ? [
            'old digest: module.sig is clear-signed with SHA-1 (accepted as FreePBX and gpg 2.2 accept it; re-sign with SHA-512)',
          ]
        : [];
    const signingKey = all.find((k) => k.getFingerprint().toUpperCase() === facts.signer)!;
    const judged = {
      signer: facts.signer,
      username: null,
      userId: await primaryUserId(signingKey, new Date(facts.created)),
      created: facts.created,
      text: facts.text,
    };
    if (trust.roots.some((r) => r.getFingerprint().toUpperCase() === facts.signer))
      return { ...judged, bits: MODULE_STATUS.GOOD | MODULE_STATUS.TRUSTED, details };
    const key = trust.keyring.find((k) => k.getFingerprint().toUpperCase() === facts.signer)!;
    const certifications = await certificationsBy(key, trust.roots);
    if (certifications.some((c) => !c.revoked)) {
      for (const c of certifications.filter((c) => c.digest === 'SHA1'))
        details.push(`old digest: the certification by ${c.certifier} uses SHA-1`);
      return { ...judged, bits: MODULE_STATUS.GOOD | MODULE_STATUS.TRUSTED, details };
    }
    if (certifications.length > 0)
      return {
        ...judged,
        bits: MODULE_STATUS.REVOKED,
        details: [
          ...details,
          'the trust root revoked its certification of the signing key: modules it signed are disabled',
        ],
      };
    return {
      ...judged,
      bits: MODULE_STATUS.GOOD | MODULE_STATUS.TAMPERED | MODULE_STATUS.INVALID,
      details: [...details, 'module.sig check failed! the signing key is not certified by a trusted master key'],
    };
  });
}

/** The unsigned module.sig body for a directory, for `gpg --clearsign`. */
export async function moduleSigBody(dir: string): Promise<string> {
  const files = await moduleFiles(dir);
  const hashes = await pool(files, 16, (p) => sha256File(join(dir, ...p.split('/'))));
  return formatModuleSig(Object.fromEntries(files.map((p, i) => [p, hashes[i]!])));
}
