import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type Clock,
  DomainError,
  type EventDraft,
  type EventEnvelope,
  InfrastructureError,
  type TrustState,
  decideModuleSignature,
  decidePackageSignature,
  judgePackageSignature,
  packageSignatureValid,
} from '@signet/domain';
import { verifyCleartext, verifyDetached } from '@signet/pgp';
import { STALE, type Sequencer } from '../sequencer/sequencer.js';
import type { Keyring } from '@signet/pgp';
import type { BlobStore, OpenedBlob } from '@signet/store';
import type { TrustProjection } from '../sequencer/projection.js';

/** An artifact received as a stream: hashed on the way to a content-addressed file. */
export interface StoredArtifact {
  readonly sha512: string;
  readonly size: number;
  readonly path: string;
}

/**
 * Receives an upload into a uniquely named file under `dir`, hashing it (SHA-512) as it streams
 * and refusing it past `maxBytes`. Nothing is kept unless a publication stores it in the blob store.
 */
export async function receiveArtifact(dir: string, upload: Readable, maxBytes: number): Promise<StoredArtifact> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${randomBytes(12).toString('hex')}.upload`);
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
    await pipeline(upload, meter, createWriteStream(path));
  } catch (error) {
    rmSync(path, { force: true });
    if (
      error instanceof DomainError ||
      error instanceof InfrastructureError ||
      (error as { statusCode?: number }).statusCode
    )
      throw error;
    // The upload stream broke: the request was malformed or cut short.
    throw new DomainError('BAD_REQUEST', `the artifact upload cannot be read: ${(error as Error).message}`);
  }
  return { sha512: hash.digest('hex'), size, path };
}

export function discardArtifact(artifact: StoredArtifact): void {
  rmSync(artifact.path, { force: true });
}

export class PackageService {
  constructor(
    private readonly keyring: Keyring,
    private readonly projection: TrustProjection,
    private readonly sequencer: Sequencer,
    private readonly clock: Clock,
    /** Where published artifacts are kept, content-addressed (for auditors). */
    private readonly blobs: BlobStore,
  ) {}

  /**
   * Verifies a detached SHA-512 signature over a stored artifact and publishes it. The artifact
   * is put in the blob store once its signature verifies, and before the event is appended, so a
   * crash (or a store that cannot be reached: BLOB_STORE_UNAVAILABLE, nothing appended) never
   * leaves a logged signature without the artifact an audit needs; a retry finds it there.
   */
  async publish(
    pkg: string,
    version: string,
    artifact: StoredArtifact,
    armoredSignature: string,
  ): Promise<EventEnvelope> {
    const keys = await this.keyring.signingKeys(await this.projection.catchUp());
    const stream = Readable.toWeb(createReadStream(artifact.path)) as unknown as ReadableStream<Uint8Array>;
    const sig = await verifyDetached(stream, armoredSignature, keys, 'SHA512');
    const stored = await this.blobs.putFile('artifact', artifact.path);
    // The store hashed the file itself; the event names what the upload hashed to.
    if (stored.hash !== artifact.sha512 || stored.size !== artifact.size)
      throw new Error(`the upload ${artifact.path} changed while it was being published`);
    const input = {
      package: pkg,
      version,
      artifactSha512: artifact.sha512,
      artifactSize: artifact.size,
      signer: sig.signer,
      signatureCreated: sig.created,
      signature: armoredSignature,
    };
    return this.decideOne((state, now) => decidePackageSignature(state, input, now));
  }

  /** A published artifact by its SHA-512, or null (also for a name that is not one). */
  artifact(sha512: string): Promise<OpenedBlob | null> {
    return this.blobs.open('artifact', sha512);
  }

  /** Verifies a clear-signed FreePBX module.sig and publishes its file hashes. */
  async publishModule(module: string, version: string, moduleSig: string): Promise<EventEnvelope> {
    const keys = await this.keyring.signingKeys(await this.projection.catchUp());
    const sig = await verifyCleartext(moduleSig, keys);
    const input = { module, version, signer: sig.signer, signatureCreated: sig.created, text: sig.text, moduleSig };
    return this.decideOne((state, now) => decideModuleSignature(state, input, now));
  }

  /** A publication's one event. The signing keys never change once added, so it is never stale. */
  private async decideOne(decide: (state: TrustState, now: Date) => EventDraft[]): Promise<EventEnvelope> {
    const events = await this.sequencer.decide({ decide, keysVersion: null });
    if (events === STALE || events.length !== 1) throw new Error('a publication decides exactly one event');
    return events[0]!;
  }

  /** Checks an artifact and signature against the log: a verdict, never a refusal, for anything readable. */
  async verify(artifact: StoredArtifact, armoredSignature: string, state: TrustState) {
    const keys = await this.keyring.signingKeys(state);
    const stream = Readable.toWeb(createReadStream(artifact.path)) as unknown as ReadableStream<Uint8Array>;
    try {
      const sig = await verifyDetached(stream, armoredSignature, keys, 'SHA512');
      const facts = { artifactSha512: artifact.sha512, signer: sig.signer, signatureCreated: sig.created };
      return { ...facts, ...judgePackageSignature(state, facts, this.clock.now()) };
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      return {
        artifactSha512: artifact.sha512,
        signer: null,
        signatureCreated: null,
        valid: false,
        code: error.code,
        reasons: [`${error.code}: ${error.message}`],
        published: [],
      };
    }
  }

  signatures(state: TrustState, pkg: string) {
    return state.packageSignatures
      .filter((s) => s.package === pkg)
      .map((s) => ({ ...s, ...packageSignatureValid(state, s) }));
  }

  moduleSignatures(state: TrustState, module: string) {
    return state.moduleSignatures
      .filter((s) => s.module === module)
      .map((s) => ({ ...s, ...packageSignatureValid(state, s) }));
  }
}
