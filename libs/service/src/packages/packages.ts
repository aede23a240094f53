import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, linkSync, mkdirSync, rmSync } from 'node:fs';
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
import type { TrustProjection } from '../sequencer/projection.js';

/** An artifact received as a stream: hashed on the way to a content-addressed file. */
export interface StoredArtifact {
  readonly sha512: string;
  readonly size: number;
  readonly path: string;
}

/**
 * Receives an upload into a uniquely named file under `dir`, hashing it (SHA-512) as it streams
 * and refusing it past `maxBytes`. Nothing is kept unless `keepArtifact` links it into the archive.
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

/**
 * Puts a received artifact into the content-addressed archive `<dir>/<sha512>` (a hard link:
 * the upload itself is discarded afterwards). Never overwrites: the name is the content's hash.
 */
export function keepArtifact(artifact: StoredArtifact, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const target = join(dir, artifact.sha512);
  try {
    linkSync(artifact.path, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return target;
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
    /** The content-addressed archive of published artifacts (for auditors). */
    private readonly artifactsDir: string,
  ) {}

  /**
   * Verifies a detached SHA-512 signature over a stored artifact and publishes it. The artifact
   * is archived once its signature verifies, before the event is appended, so a crash between
   * the two never leaves a logged signature without its artifact (a retry links the same name).
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
    keepArtifact(artifact, this.artifactsDir);
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
