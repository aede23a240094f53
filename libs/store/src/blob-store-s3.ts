import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { InfrastructureError } from '@signet/domain';
import {
  BLOB_KINDS,
  type BlobKind,
  type BlobStore,
  type OpenedBlob,
  blobHash,
  corruptBlob,
  hashFile,
  hashStream,
  isBlobName,
} from './blob-store.js';

/** Where the blobs are in S3-compatible object storage (`SIGNET_BLOB_URL=s3://bucket/prefix`). */
export interface S3BlobLocation {
  readonly bucket: string;
  /** Keys start with it (no leading or trailing `/`); empty: at the bucket's root. */
  readonly prefix: string;
  /** An S3-compatible server (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`); unset: AWS itself. */
  readonly endpoint: string | undefined;
  readonly region: string;
}

/** How many times a write that met a concurrent write of the same key (409) is tried. */
const CONFLICT_TRIES = 3;

interface SdkError {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

const statusOf = (error: unknown) => (error as SdkError).$metadata?.httpStatusCode;
const nameOf = (error: unknown) => (error as SdkError).name ?? '';

/**
 * No such object. A missing bucket is no "not found" but a store that cannot be used; a HEAD's
 * 404 carries no body to tell them apart, so `has` takes a missing bucket for a missing blob.
 */
function notFound(error: unknown): boolean {
  const name = nameOf(error);
  return name !== 'NoSuchBucket' && (name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404);
}

/**
 * Blobs as objects `<prefix>/<folder>/<hash>` in one bucket. Every write is a conditional put
 * (`If-None-Match: *`): the server refuses (412) to create an object whose key exists, so a blob is
 * never replaced, even by two writers at once; a 412 means the blob is there, and its bytes are
 * then hashed again. Endpoint, region and credentials come from the AWS SDK's usual sources (the
 * `AWS_*` variables, shared config files, an instance role); with an endpoint (an S3-compatible
 * server) keys are addressed by path, which such servers need.
 */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;

  constructor(
    private readonly where: S3BlobLocation,
    /** Tests: credentials and the like, instead of the SDK's default chain. */
    clientConfig: S3ClientConfig = {},
  ) {
    this.client = new S3Client({
      region: where.region,
      ...(where.endpoint ? { endpoint: where.endpoint, forcePathStyle: true } : {}),
      maxAttempts: 3,
      // Without these a server that accepts the connection and never answers would hold a
      // publication (and its HTTP request) forever.
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
      // A streamed upload otherwise goes as aws-chunked with a checksum trailer, which
      // S3-compatible servers do not all take (Ceph's gateway before Reef answers 411). A blob's
      // bytes are checked by their hash whenever it is found already stored.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      ...clientConfig,
    });
  }

  get location(): string {
    return `s3://${this.where.bucket}${this.where.prefix ? `/${this.where.prefix}` : ''}`;
  }

  async put(kind: BlobKind, content: Uint8Array | string): Promise<string> {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const hash = blobHash(kind, bytes);
    await this.write(kind, hash, () => bytes, bytes.length);
    return hash;
  }

  async putFile(kind: BlobKind, path: string): Promise<{ hash: string; size: number }> {
    let hashed: { hash: string; size: number };
    try {
      hashed = await hashFile(kind, path);
    } catch (error) {
      throw new InfrastructureError(
        'BLOB_STORE_UNAVAILABLE',
        `the blob to store cannot be read from ${path}: ${(error as Error).message}`,
        undefined,
        error,
      );
    }
    // An artifact sent again (a retry, the same file under another version) is not uploaded again.
    if (await this.has(kind, hashed.hash)) await this.checkExisting(kind, hashed.hash);
    else await this.write(kind, hashed.hash, () => createReadStream(path), hashed.size);
    return hashed;
  }

  async get(kind: BlobKind, hash: string): Promise<Buffer | null> {
    const opened = await this.open(kind, hash);
    if (!opened) return null;
    const key = this.key(kind, hash);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of opened.stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    } catch (error) {
      throw this.unavailable(error, `read ${key}`);
    }
  }

  async open(kind: BlobKind, hash: string): Promise<OpenedBlob | null> {
    if (!isBlobName(kind, hash)) return null;
    const key = this.key(kind, hash);
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.where.bucket, Key: key }));
      return { size: object.ContentLength ?? 0, stream: object.Body as Readable };
    } catch (error) {
      if (notFound(error)) return null;
      throw this.unavailable(error, `read ${key}`);
    }
  }

  async has(kind: BlobKind, hash: string): Promise<boolean> {
    if (!isBlobName(kind, hash)) return false;
    const key = this.key(kind, hash);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.where.bucket, Key: key }));
      return true;
    } catch (error) {
      if (notFound(error)) return false;
      throw this.unavailable(error, `read ${key}`);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private key(kind: BlobKind, hash: string): string {
    const name = `${BLOB_KINDS[kind].folder}/${hash}`;
    return this.where.prefix ? `${this.where.prefix}/${name}` : name;
  }

  /** A conditional put of the blob; when the key exists, the stored bytes are checked instead. */
  private async write(kind: BlobKind, hash: string, body: () => Uint8Array | Readable, size: number): Promise<void> {
    const key = this.key(kind, hash);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.where.bucket,
            Key: key,
            Body: body(),
            ContentLength: size,
            ContentType: 'application/octet-stream',
            IfNoneMatch: '*',
          }),
        );
        return;
      } catch (error) {
        if (nameOf(error) === 'PreconditionFailed' || statusOf(error) === 412) return this.checkExisting(kind, hash);
        // AWS: a conditional write raced another write of the key; it asks for the write again.
        if ((nameOf(error) === 'ConditionalRequestConflict' || statusOf(error) === 409) && attempt < CONFLICT_TRIES)
          continue;
        throw this.unavailable(error, `write ${key}`);
      }
    }
  }

  /** The bytes under the blob's key, hashed again: the same blob, or BLOB_STORE_CORRUPT. */
  private async checkExisting(kind: BlobKind, hash: string): Promise<void> {
    const key = this.key(kind, hash);
    const opened = await this.open(kind, hash);
    // There a moment ago and gone now: only something outside Signet deletes blobs.
    if (!opened) throw corruptBlob(`s3://${this.where.bucket}/${key}`, kind, hash, 'nothing');
    let found: string;
    try {
      found = (await hashStream(kind, opened.stream)).hash;
    } catch (error) {
      throw this.unavailable(error, `read ${key}`);
    }
    if (found !== hash) throw corruptBlob(`s3://${this.where.bucket}/${key}`, kind, hash, found);
  }

  /**
   * A failure of the store: unreachable, refusing us (credentials, a missing bucket) or failing.
   * Retry-After when it may pass by itself (no answer, a 5xx, throttling); not when an operator
   * must change something.
   */
  private unavailable(error: unknown, what: string): InfrastructureError {
    if (error instanceof InfrastructureError) return error;
    const e = error as SdkError;
    const status = statusOf(error);
    const reason =
      status === undefined
        ? `${e.code ?? e.name ?? 'Error'}: ${e.message ?? String(error)}`
        : `${e.name ?? 'Error'} (HTTP ${status})${e.message && e.message !== e.name && e.message !== 'UnknownError' ? `: ${e.message}` : ''}`;
    const transient = status === undefined || status >= 500 || status === 429;
    return new InfrastructureError(
      'BLOB_STORE_UNAVAILABLE',
      `the blob store ${this.location} cannot ${what}: ${reason}`,
      transient ? 2 : undefined,
      error,
    );
  }
}
