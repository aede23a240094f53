import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Clock, DomainError, type EventEnvelope, type TrustState, decidePackageSignature, packageSignatureValid } from '@signet/domain';
import { verifyDetached } from '@signet/pgp';
import type { SignetLog } from '@signet/store';
import type { Keyring } from './keyring.js';
import { Mutex } from './mutex.js';
import type { TrustProjection } from './projection.js';

/** An artifact received as a stream: hashed on the way to a content-addressed file. */
export interface StoredArtifact {
  readonly sha512: string;
  readonly size: number;
  readonly path: string;
}

/**
 * Receives an upload into `<dir>/tmp`, hashing it (SHA-512) as it streams, refusing it past
 * `maxBytes`, and moves it to `<dir>/<sha512>` — the content-addressed artifact archive.
 */
export async function storeArtifact(dir: string, upload: Readable, maxBytes: number): Promise<StoredArtifact> {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const tmp = join(dir, 'tmp', randomBytes(12).toString('hex'));
  const hash = createHash('sha512');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new DomainError('TOO_LARGE', `the artifact is larger than ${maxBytes} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(upload, meter, createWriteStream(tmp));
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
  const sha512 = hash.digest('hex');
  const path = join(dir, sha512);
  renameSync(tmp, path);
  return { sha512, size, path };
}

export class PackageService {
  private readonly decisions = new Mutex();

  constructor(
    private readonly log: SignetLog,
    private readonly projection: TrustProjection,
    private readonly keyring: Keyring,
    private readonly clock: Clock,
  ) {}

  /** Verifies a detached SHA-512 signature over a stored artifact and publishes it. */
  async publish(pkg: string, version: string, artifact: StoredArtifact, armoredSignature: string): Promise<EventEnvelope> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const state = await this.projection.catchUp();
      const keys = await this.keyring.signingKeys(state);
      const stream = Readable.toWeb(createReadStream(artifact.path)) as unknown as ReadableStream<Uint8Array>;
      const sig = await verifyDetached(stream, armoredSignature, keys, 'SHA512');
      const events = await this.decisions.run(async () => {
        const current = await this.projection.catchUp();
        const drafts = decidePackageSignature(
          current,
          { package: pkg, version, artifactSha512: artifact.sha512, artifactSize: artifact.size, signer: sig.signer, signatureCreated: sig.created, signature: armoredSignature },
          this.clock.now(),
        );
        try {
          const appended = await this.log.writer.append(drafts, { expectedSize: current.size });
          this.projection.apply(appended);
          return appended;
        } catch (error) {
          if (error instanceof DomainError && error.code === 'LOG_SIZE_CHANGED') return null;
          throw error;
        }
      });
      if (events) return events[0]!;
    }
    throw new DomainError('LOG_BUSY', 'the log kept changing; send the signature again');
  }

  signatures(state: TrustState, pkg: string) {
    return state.packageSignatures
      .filter((s) => s.package === pkg)
      .map((s) => ({ ...s, ...packageSignatureValid(state, s) }));
  }
}
