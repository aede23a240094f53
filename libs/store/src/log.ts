import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Clock,
  DEFAULT_POLICY,
  DomainError,
  InfrastructureError,
  type Policy,
  genesisDraft,
  systemClock,
} from '@signet/domain';
import { parseVerifierKey } from '@signet/tlog';
import { assertAppendOnly } from './append-only.js';
import { type Db, connect, migrateToLatest } from './connect.js';
import type { SignetConfig } from './config.js';
import { lockDataDir } from './data-dir-lock.js';
import { type LogIdentity, createLogKey, loadLogKey } from './log-key.js';
import { LogReader } from './reader.js';
import { CHECKPOINT_FILE, CheckpointWatermark } from './watermark.js';
import { type BatchStats, LogWriter } from './writer.js';

/** An open log: the database, its reader and its one writer. */
export interface SignetLog {
  readonly db: Db;
  readonly identity: LogIdentity;
  readonly reader: LogReader;
  readonly writer: LogWriter;
  /** The largest tree this log signed or served (`<dataDir>/checkpoint`). */
  readonly watermark: CheckpointWatermark;
  close(): Promise<void>;
}

export interface OpenOptions {
  readonly clock?: Clock;
  readonly onBatch?: (stats: BatchStats) => void;
  /** PGlite in memory (tests). */
  readonly inMemory?: boolean;
  /** Create the key and the genesis event when missing (`signet init`, `npm start`). */
  readonly init?: boolean;
  /** The policy a new log is created with (genesis); a function is called only then. */
  readonly policy?: Policy | (() => Promise<Policy>);
}

/**
 * Opens the log: connects, migrates, loads the log key and checks it is the key the genesis
 * event names — a log never silently changes keys; checks the log tables are append-only in the
 * database (APPEND_ONLY_DISABLED) and the database holds at least the largest tree the log
 * signed (LOG_ROLLED_BACK, against `<dataDir>/checkpoint`). On PGlite on disk, holds the data
 * directory's lock until closed (DATA_DIR_LOCKED for another opener).
 */
export async function openLog(
  config: SignetConfig,
  options: OpenOptions = {},
): Promise<SignetLog & { created: boolean }> {
  // PGlite on disk is one process's database: the data directory is locked while the log is
  // open (DATA_DIR_LOCKED for a second opener), from before the log key is read or created.
  const lock = !config.databaseUrl && !options.inMemory ? await lockDataDir(config.dataDir) : null;
  try {
    const log = await openLocked(config, options);
    if (!lock) return log;
    const close = async () => {
      try {
        await log.close();
      } finally {
        lock.release();
      }
    };
    return { ...log, close };
  } catch (error) {
    lock?.release();
    throw error;
  }
}

async function openLocked(config: SignetConfig, options: OpenOptions): Promise<SignetLog & { created: boolean }> {
  let identity = loadLogKey(config.dataDir, config.logKey);
  if (!identity) {
    if (!options.init)
      throw new InfrastructureError(
        'NOT_INITIALIZED',
        `no log key in ${config.dataDir} and SIGNET_LOG_KEY is unset; run \`signet init\` first`,
      );
    identity = createLogKey(config.dataDir, config.origin);
  }
  const db = await connect({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.poolSize,
    inMemory: options.inMemory ?? false,
  });
  try {
    await migrateToLatest(db.db);
    await assertAppendOnly(db.db);
    let created = false;
    const genesis = await new LogReader(db.db).event(0);
    if (genesis) {
      if (genesis.type !== 'LogCreated' || genesis.data.verifierKey !== identity.verifierKey) {
        const held =
          genesis.type === 'LogCreated'
            ? `this database holds the log ${genesis.data.origin} (key ${genesis.data.verifierKey})`
            : `this database holds a log that does not start with LogCreated`;
        throw new InfrastructureError('LOG_KEY_MISMATCH', `${held}, not the log of key ${identity.verifierKey}`);
      }
    }
    // A database in memory cannot outlive the process, so neither does its watermark.
    const inMemory = !config.databaseUrl && options.inMemory === true;
    if (!inMemory) mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const watermark = new CheckpointWatermark(
      inMemory ? null : join(config.dataDir, CHECKPOINT_FILE),
      parseVerifierKey(identity.verifierKey),
    );
    const reader = new LogReader(db.db, watermark);
    const writer = new LogWriter({
      db,
      origin: identity.origin,
      signer: identity.signer,
      clock: options.clock ?? systemClock,
      maxBatch: config.maxBatch,
      onBatch: options.onBatch,
      watermark,
    });
    // Before anything is served or appended (a genesis too: an emptied database is rolled back).
    await reader.head();
    if (!genesis) {
      if (!options.init)
        throw new InfrastructureError('NOT_INITIALIZED', 'the log has no genesis event; run `signet init` first');
      try {
        const policy =
          typeof options.policy === 'function'
            ? await options.policy()
            : (options.policy ?? { ...DEFAULT_POLICY, rootKeys: [] });
        await writer.append([genesisDraft({ origin: identity.origin, verifierKey: identity.verifierKey, policy })], {
          expectedSize: 0,
        });
        created = true;
      } catch (error) {
        // Another process initialized it first: check it is ours.
        if (!(error instanceof DomainError && error.code === 'LOG_SIZE_CHANGED')) throw error;
        return openLocked(config, { ...options, init: false });
      }
    }
    const close = async () => {
      await writer.close();
      try {
        await watermark.flush();
      } finally {
        await db.close();
      }
    };
    return { db, identity, reader, writer, watermark, created, close };
  } catch (error) {
    await db.close();
    throw error;
  }
}
