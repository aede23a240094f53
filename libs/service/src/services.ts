import type { Clock } from '@signet/domain';
import { Keyring, VerifyPool } from '@signet/pgp';
import { type BlobStore, type SignetConfig, type SignetLog, openBlobStore } from '@signet/store';
import { ArchiveStore } from './snapshots/archive.js';
import { CommandService } from './commands/commands.js';
import { PackageService } from './packages/packages.js';
import { TrustProjection } from './sequencer/projection.js';
import { Sequencer } from './sequencer/sequencer.js';
import { SnapshotService } from './snapshots/snapshot.js';

/** Everything a process serving or following the log works with, wired once. */
export interface SignetServices {
  readonly log: SignetLog;
  readonly clock: Clock;
  readonly projection: TrustProjection;
  readonly sequencer: Sequencer;
  readonly commands: CommandService;
  readonly packages: PackageService;
  readonly snapshots: SnapshotService;
  /** Artifacts and archive snapshots (README: Blob storage). */
  readonly blobs: BlobStore;
  readonly archive: ArchiveStore;
  /** Stops taking decisions and settles those queued, then stops the verification threads and the blob store's connections (the log stays open). */
  close(): Promise<void>;
}

/**
 * The composition root of the API and the worker: the projection caught up with the log, the
 * one sequencer, signature verification on worker threads (started at the first command).
 */
export async function createServices(log: SignetLog, config: SignetConfig, clock: Clock): Promise<SignetServices> {
  const projection = new TrustProjection(log.reader);
  await projection.catchUp();
  const sequencer = new Sequencer(log, projection, clock);
  const keyring = new Keyring();
  const pool = new VerifyPool();
  const blobs = openBlobStore(config);
  return {
    log,
    clock,
    projection,
    sequencer,
    commands: new CommandService(log, projection, keyring, sequencer, pool),
    packages: new PackageService(keyring, projection, sequencer, clock, blobs),
    snapshots: new SnapshotService(log, projection, clock, config.snapshot),
    blobs,
    archive: new ArchiveStore(blobs),
    async close() {
      await sequencer.close();
      await pool.close();
      await blobs.close();
    },
  };
}
