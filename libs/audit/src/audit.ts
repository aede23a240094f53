import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EventEnvelope, buildSnapshot, canonicalize, parseEntry, snapshotSigningBytes } from '@signet/domain';
import { verifySnapshot } from '@signet/client';
import {
  type Checkpoint,
  type ComputedTile,
  TILE_WIDTH,
  TreeCheck,
  decodeEntryBundle,
  hashesEqual,
  leafHash,
  foldRange,
  openCheckpoint,
  parseVerifierKey,
  tileDifference,
  tileWidthAt,
  toBase64,
  toHex,
} from '@signet/tlog';
import { spillToDisk } from './disk.js';
import { checkConsistencyFromTiles } from './proofs.js';
import type { AuditCheckpoint } from './resume.js';
import { AuditError, Replayer } from './replay.js';
import { type LogSource, type WitnessQuorum, checkpointFrom } from './source.js';
import { type KeyRef, VerifyPool, type VerifyResult } from '@signet/pgp';

export interface AuditProgress {
  /** Events checked so far in this run, of `total`. */
  readonly done: number;
  readonly total: number;
  readonly seconds: number;
}

export interface AuditOptions {
  readonly source: LogSource;
  /** The log's verifier key, obtained out of band (never taken from the source). */
  readonly verifierKey: string;
  /** An earlier audit to resume from. */
  readonly from?: AuditCheckpoint;
  /** Verification threads (default: one per core). */
  readonly threads?: number;
  readonly onProgress?: (progress: AuditProgress) => void;
  /** Witnesses that must have cosigned the checkpoint audited (then the newest cosigned one is audited). */
  readonly witnesses?: WitnessQuorum;
  /** Fail on a package signature whose artifact the source does not have (default: list it as not re-verified). */
  readonly requireArtifacts?: boolean;
  /** Accept a source that serves no trust snapshot (default: that is a discrepancy). */
  readonly allowNoSnapshot?: boolean;
  /** Called with what resuming from this audit needs (`--save`), before the audit's files are removed. */
  readonly onCheckpoint?: (checkpoint: AuditCheckpoint) => void;
  /** Where the replayed state's per-signature records are kept while auditing (default: a temporary directory). */
  readonly workDir?: string;
}

export interface AuditReport {
  readonly ok: true;
  readonly origin: string;
  readonly size: number;
  readonly root: string;
  /** Where this run started (0, or the size of the audit it resumed). */
  readonly from: number;
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly counts: Record<string, number>;
  readonly tiles: number;
  readonly signaturesVerified: number;
  readonly packageSignaturesNotReverified: number[];
  readonly archiveSnapshotsNotReRendered: number;
  /** The trust snapshot at this size: compared byte for byte with the one the source serves. */
  readonly snapshot: 'identical' | 'identical, and the head snapshot too' | 'not served by the source';
}

/** Events in flight ahead of the replay (their signatures being verified): bounded, so memory is constant. */
const WINDOW_PER_THREAD = 64;

/**
 * Audits a log from its checkpoint, tiles and entry bundles alone: the checkpoint's signature with
 * the pinned key; every leaf against its tile, every tile against the ones the leaves imply, the
 * root against the checkpoint; every event's canonical form, the signature of every signed
 * command, module.sig and (when the artifact is available) package signature, on worker threads;
 * every decision re-run on the state so far (`Replayer`); and finally the trust snapshot at that
 * size rebuilt and compared byte for byte with the one the log serves. Throws an AuditError at the
 * first discrepancy. Streams: memory does not grow with the number of events read.
 */
export async function auditLog(options: AuditOptions): Promise<AuditReport> {
  const started = performance.now();
  const { source, from } = options;
  const verifier = parseVerifierKey(options.verifierKey);
  const note = await checkpointFrom(source, options.witnesses);
  let cp: Checkpoint;
  try {
    cp = openCheckpoint(note, verifier);
  } catch (error) {
    throw new AuditError(
      null,
      'BAD_CHECKPOINT',
      `the checkpoint from ${source.name} does not verify with the pinned key: ${(error as Error).message}`,
    );
  }
  if (from) await checkResume(source, from, cp, options.verifierKey);
  const start = from?.size ?? 0;
  const tree = new TreeCheck(from?.tree);
  const replayer = new Replayer(options.verifierKey, from ? { state: from.state, memory: from.memory } : undefined);
  // The published signatures' records go to disk: memory stays flat however long the log is.
  const work = mkdtempSync(join(options.workDir ?? tmpdir(), 'signet-audit-'));
  const disk = spillToDisk(replayer.state, work);
  replayer.onKeyAdded = () => disk.adoptKeys(replayer.state);
  try {
    return await replay();
  } finally {
    disk.close();
    rmSync(work, { recursive: true, force: true });
  }

  async function replay(): Promise<AuditReport> {
    const pool = new VerifyPool(options.threads);
    const keys = new Map<string, string>();
    if (from)
      for (const k of [
        ...from.state.policy.rootKeys,
        ...from.state.members.values(),
        ...from.state.signingKeys.values(),
      ])
        keys.set(k.fingerprint, k.key);
    let tiles = 0;
    let verifiedCount = 0;
    let lastProgress = 0;

    const upperTile = async (computed: ComputedTile) => {
      const served = await source.tile({ level: computed.level, index: computed.index, width: computed.hashes.length });
      tiles++;
      const diff = tileDifference(served, computed);
      if (diff) throw new AuditError(null, 'TILE_MISMATCH', diff);
    };

    /** Starts verifying an event's signature, with the keys the log had introduced before it. */
    const check = (event: EventEnvelope): Promise<VerifyResult | null> | null => {
      const keyOf = (fpr: string): KeyRef[] => (keys.has(fpr) ? [{ fingerprint: fpr, armored: keys.get(fpr)! }] : []);
      if (event.evidence) {
        return pool.verify({
          kind: 'detached',
          data: new TextEncoder().encode(event.evidence.command),
          signature: event.evidence.signature,
          keys: keyOf(event.actor),
        });
      }
      if (event.type === 'ModuleSignaturePublished') {
        return pool.verify({ kind: 'cleartext', armored: event.data.moduleSig, keys: keyOf(event.data.signer) });
      }
      if (event.type === 'PackageSignaturePublished') {
        const { artifactSha512: sha512, artifactSize: size, signature, signer } = event.data;
        const bad = (code: string, message: string) => ({ ok: false, code, message }) as const;
        return source.artifact(sha512).then(async (artifact) => {
          if (!artifact) {
            if (!options.requireArtifacts) return null;
            return bad('ARTIFACT_MISSING', `${source.name} does not have the artifact ${sha512}`);
          }
          if (createHash('sha512').update(artifact).digest('hex') !== sha512) {
            return bad('BAD_ARTIFACT', `the archived artifact's SHA-512 is not ${sha512}`);
          }
          if (artifact.length !== size) {
            return bad('BAD_ARTIFACT', `the artifact has ${artifact.length} bytes, the event says ${size}`);
          }
          const keys = keyOf(signer);
          return pool.verify({ kind: 'detached', data: artifact, signature, keys, requireDigest: 'SHA512' });
        });
      }
      return null;
    };
    const learnKeys = (event: EventEnvelope) => {
      // A fingerprint's key is the first block the log gave for it: never replaced by a later event.
      const learn = (fpr: string, key: string) => void (keys.has(fpr) || keys.set(fpr, key));
      if (event.type === 'LogCreated') for (const r of event.data.policy.rootKeys) learn(r.fingerprint, r.key);
      if (event.type === 'MemberAdded' || event.type === 'SigningKeyAdded') {
        learn(event.data.fingerprint, event.data.key);
      }
    };

    const window: { event: EventEnvelope; verified: Promise<VerifyResult | null> | null }[] = [];
    const limit = WINDOW_PER_THREAD * pool.threads;
    const replayOne = async () => {
      const { event, verified } = window.shift()!;
      const result = verified ? await verified : null;
      if (result) verifiedCount++;
      await replayer.accept(event, result);
      const done = event.seq + 1 - start;
      const now = performance.now();
      if (options.onProgress && (now - lastProgress > 100 || event.seq + 1 === cp.size)) {
        lastProgress = now;
        options.onProgress({ done, total: cp.size - start, seconds: (now - started) / 1000 });
      }
    };

    try {
      // One entry bundle and its level-0 tile at a time, the next pair fetched while this one is checked.
      const fetchPair = (t: number) => {
        const width = tileWidthAt('entries', t, cp.size);
        return Promise.all([
          source.tile({ level: 'entries', index: t, width }),
          source.tile({ level: 0, index: t, width }),
        ]);
      };
      const last = Math.ceil(cp.size / TILE_WIDTH) - 1;
      let next = start < cp.size ? fetchPair(Math.floor(start / TILE_WIDTH)) : null;
      for (let t = Math.floor(start / TILE_WIDTH); next && t <= last; t++) {
        const [bundle, level0] = await next;
        next = t < last ? fetchPair(t + 1) : null;
        next?.catch(() => undefined);
        tiles += 2;
        let entries: Uint8Array[];
        try {
          entries = decodeEntryBundle(bundle);
        } catch (error) {
          throw new AuditError(
            t * TILE_WIDTH,
            'BAD_TILE',
            `entry bundle ${t} cannot be read: ${(error as Error).message}`,
          );
        }
        const width = tileWidthAt('entries', t, cp.size);
        if (entries.length !== width)
          throw new AuditError(
            t * TILE_WIDTH,
            'BAD_TILE',
            `entry bundle ${t} holds ${entries.length} entries, the checkpoint implies ${width}`,
          );
        if (level0.length !== width * 32)
          throw new AuditError(
            t * TILE_WIDTH,
            'TILE_MISMATCH',
            `tile 0/${t} holds ${level0.length / 32} hashes, the checkpoint implies ${width}`,
          );
        const leaves = [];
        for (let j = Math.max(0, start - t * TILE_WIDTH); j < entries.length; j++) {
          const seq = t * TILE_WIDTH + j;
          const leaf = leafHash(entries[j]!);
          if (!hashesEqual(leaf, level0.subarray(j * 32, (j + 1) * 32))) {
            throw new AuditError(
              seq,
              'TILE_MISMATCH',
              `tile 0/${t} gives leaf hash ${toHex(level0.subarray(j * 32, (j + 1) * 32))}; the entry hashes to ${toHex(leaf)}`,
            );
          }
          leaves.push(leaf);
          let event: EventEnvelope;
          try {
            event = parseEntry(entries[j]!, seq);
          } catch (error) {
            throw new AuditError(seq, 'BAD_ENTRY', (error as Error).message);
          }
          const verified = check(event);
          verified?.catch(() => undefined);
          learnKeys(event);
          window.push({ event, verified });
          if (window.length >= limit) await replayOne();
        }
        for (const done of tree.addLeaves(leaves)) await upperTile(done);
      }
      while (window.length > 0) await replayOne();
    } finally {
      await pool.close();
    }

    if (!hashesEqual(tree.root(), cp.root))
      throw new AuditError(
        null,
        'ROOT_MISMATCH',
        `the entries give the root ${toBase64(tree.root())}; the checkpoint says ${toBase64(cp.root)}`,
      );
    for (const partial of tree.partialTiles()) if (partial.level > 0) await upperTile(partial);
    if (replayer.midCommand)
      throw new AuditError(cp.size, 'EVENT_MISMATCH', 'the log ends before all the events of its last command');
    const snapshot =
      cp.size > 0
        ? await compareSnapshot(source, options.verifierKey, cp, replayer, options.allowNoSnapshot ?? false)
        : 'not served by the source';
    const seconds = (performance.now() - started) / 1000;
    const summary = replayer.summary();
    const report: AuditReport = {
      ok: true,
      origin: cp.origin,
      size: cp.size,
      root: toBase64(cp.root),
      from: start,
      events: cp.size - start,
      seconds,
      eventsPerSecond: (cp.size - start) / Math.max(seconds, 1e-9),
      counts: summary.counts,
      tiles,
      signaturesVerified: verifiedCount,
      packageSignaturesNotReverified: summary.packageSignaturesNotReverified,
      archiveSnapshotsNotReRendered: summary.archiveSnapshotsNotReRendered,
      snapshot,
    };
    options.onCheckpoint?.({
      origin: cp.origin,
      verifierKey: options.verifierKey,
      checkpoint: note,
      size: cp.size,
      tree: tree.state(),
      state: replayer.state,
      memory: replayer.memory(),
    });
    return report;
  }
}

/**
 * Before replaying on from an earlier audit: same log, not smaller, and the new tree contains the
 * old one — every node of the old tree's frontier is recomputed from the new tree's tiles.
 */
async function checkResume(
  source: LogSource,
  from: AuditCheckpoint,
  cp: Checkpoint,
  verifierKey: string,
): Promise<void> {
  if (openCheckpoint(from.checkpoint, parseVerifierKey(verifierKey)).size !== from.size)
    throw new AuditError(null, 'BAD_AUDIT_CHECKPOINT', "the earlier audit's checkpoint is not of the size it says");
  if (from.verifierKey !== verifierKey || from.origin !== cp.origin)
    throw new AuditError(
      null,
      'BAD_AUDIT_CHECKPOINT',
      `the earlier audit is of ${from.origin}, not of ${cp.origin} with this key`,
    );
  if (cp.size < from.size)
    throw new AuditError(
      null,
      'ROLLBACK',
      `the log's checkpoint has ${cp.size} events; the earlier audit saw ${from.size}: the log was rolled back (keep the earlier audit's file and this checkpoint as evidence)`,
    );
  let oldRoot;
  try {
    oldRoot = openCheckpoint(from.checkpoint, parseVerifierKey(verifierKey)).root;
    await checkConsistencyFromTiles(source, from.size, cp.size, oldRoot, cp.root);
  } catch (error) {
    throw new AuditError(
      null,
      'INCONSISTENT',
      `the log's tree at ${cp.size} does not contain the tree of the earlier audit at ${from.size} (${(error as Error).message}): the log forked its history (keep the earlier audit's file and this checkpoint as evidence)`,
    );
  }
  // The replay goes on from the earlier audit's own frontier: it must be that tree's.
  if (!hashesEqual(foldRange([...from.tree.frontier]), oldRoot))
    throw new AuditError(
      null,
      'BAD_AUDIT_CHECKPOINT',
      `the earlier audit's tree state does not give its checkpoint's root`,
    );
}

/** Rebuilds the trust snapshot at the checkpoint's size — and the head's, when it is of that size — and compares them with the ones the source serves. */
async function compareSnapshot(
  source: LogSource,
  verifierKey: string,
  cp: Checkpoint,
  replayer: Replayer,
  allowNoSnapshot: boolean,
): Promise<AuditReport['snapshot']> {
  const served = await source.snapshot(cp.size);
  if (served === null) {
    if (allowNoSnapshot) return 'not served by the source';
    throw new AuditError(
      null,
      'SNAPSHOT_MISSING',
      `${source.name} serves no trust snapshot at ${cp.size}; a log must (or pass --allow-no-snapshot for a copy without one)`,
    );
  }
  compareOne(served, verifierKey, cp, replayer, 'at');
  const head = await source.headSnapshot();
  if (head === null) return 'identical';
  const headVersion = (() => {
    try {
      return (JSON.parse(head) as { snapshot?: { version?: unknown } }).snapshot?.version;
    } catch {
      return undefined;
    }
  })();
  // The log may have moved on since its checkpoint was read: the head's is compared when it is of this size.
  if (headVersion !== cp.size) return 'identical';
  compareOne(head, verifierKey, cp, replayer, 'head');
  return 'identical, and the head snapshot too';
}

function compareOne(
  served: string,
  verifierKey: string,
  cp: Checkpoint,
  replayer: Replayer,
  which: 'at' | 'head',
): void {
  const what = which === 'at' ? `the trust snapshot at ${cp.size}` : `the head's trust snapshot (${cp.size})`;
  let signed;
  try {
    signed = verifySnapshot(served, verifierKey, { allowExpired: true, skewMs: Number.MAX_SAFE_INTEGER }).signed;
  } catch (error) {
    throw new AuditError(null, 'SNAPSHOT_MISMATCH', `${what} does not verify: ${(error as Error).message}`);
  }
  const theirs = signed.snapshot;
  const servedCheckpoint = openCheckpoint(theirs.checkpoint, parseVerifierKey(verifierKey));
  if (servedCheckpoint.size !== cp.size || !hashesEqual(servedCheckpoint.root, cp.root))
    throw new AuditError(
      null,
      'SNAPSHOT_MISMATCH',
      `${what} derives from another checkpoint than the log's at ${cp.size}`,
    );
  const state = replayer.state;
  // At a size, the snapshot is issued at that size's last event; the head's at that or later
  // (the start of its refresh period), never before.
  const issuedAt = which === 'at' ? new Date(state.lastRecordedAt) : new Date(theirs.issuedAt);
  if (which === 'head' && !(Date.parse(theirs.issuedAt) >= Date.parse(state.lastRecordedAt)))
    throw new AuditError(
      null,
      'SNAPSHOT_MISMATCH',
      `${what} is issued at ${theirs.issuedAt}, before the log's last event`,
    );
  if (!(Date.parse(theirs.expiresAt) > issuedAt.getTime()))
    throw new AuditError(null, 'SNAPSHOT_MISMATCH', `${what} expires at ${theirs.expiresAt}, not after it is issued`);
  const ours = buildSnapshot(state, theirs.checkpoint, issuedAt, new Date(theirs.expiresAt));
  if (Buffer.compare(Buffer.from(snapshotSigningBytes(ours)), Buffer.from(snapshotSigningBytes(theirs))) === 0) return;
  for (const key of Object.keys(ours) as (keyof typeof ours)[]) {
    if (canonicalize(ours[key]) !== canonicalize(theirs[key] ?? null)) {
      throw new AuditError(
        null,
        'SNAPSHOT_MISMATCH',
        `${what} differs from the one the history implies in ${key}: served ${canonicalize(theirs[key] ?? null).slice(0, 300)}, implied ${canonicalize(ours[key]).slice(0, 300)}`,
      );
    }
  }
  throw new AuditError(
    null,
    'SNAPSHOT_MISMATCH',
    `${what} differs from the one the history implies (fields it should not have)`,
  );
}
