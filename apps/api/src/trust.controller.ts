import { join } from 'node:path';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, InfrastructureError, MAX_COMMAND_BYTES, fingerprintOf } from '@signet/domain';
import { MAX_ARMORED_SIGNATURE } from '@signet/pgp';

const MAX_MODULE_SIG = 4 * 1024 * 1024;
import {
  CommandService,
  PackageService,
  type StoredArtifact,
  TrustProjection,
  discardArtifact,
  receiveArtifact,
} from '@signet/service';
import type { SignetConfig } from '@signet/store';
import { ApiParts, ApiRoute, COMMAND_CODES, SIGNATURE_CODES } from './openapi.js';
import { parseCount } from './params.js';
import {
  GetKeyHistory,
  GetKeyListing,
  GetModuleSignatures,
  GetPackageSignatures,
  GetTrustState,
} from './trust.handlers.js';
import { SIGNET_CONFIG } from './tokens.js';

type Multipart = FastifyRequest & { isMultipart(): boolean; parts(): AsyncIterableIterator<MultipartPart> };
interface MultipartPart {
  readonly type: 'file' | 'field';
  readonly fieldname: string;
  readonly value?: unknown;
  readonly file?: NodeJS.ReadableStream & { truncated?: boolean };
  toBuffer?(): Promise<Buffer>;
}

/** A stream that broke while reading the request is the sender's error (400), not ours. */
function senderError(error: unknown, what: string): unknown {
  if (
    error instanceof DomainError ||
    error instanceof InfrastructureError ||
    (error as { statusCode?: number }).statusCode
  )
    return error;
  return new DomainError('BAD_REQUEST', `${what} cannot be read: ${(error as Error).message}`);
}

async function readPart(part: MultipartPart, max: number): Promise<string> {
  if (part.type === 'field') return String(part.value ?? '');
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of part.file! as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw new DomainError('TOO_LARGE', `the "${part.fieldname}" part is larger than ${max} bytes`);
      chunks.push(chunk);
    }
  } catch (error) {
    throw senderError(error, `the "${part.fieldname}" part`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The parts of a multipart body; a malformed body is the sender's error, not ours. */
async function* partsOf(request: FastifyRequest): AsyncGenerator<MultipartPart> {
  const r = request as Multipart;
  if (typeof r.isMultipart !== 'function' || !r.isMultipart()) {
    throw new DomainError('BAD_REQUEST', 'send multipart/form-data (curl -F part=@file)');
  }
  try {
    for await (const part of r.parts()) yield part;
  } catch (error) {
    throw senderError(error, 'the multipart body');
  }
}

/** Signed commands and package signatures in; the trust state out. */
@ApiTags('trust')
@Controller()
export class TrustController {
  constructor(
    private readonly commands: CommandService,
    private readonly packages: PackageService,
    private readonly projection: TrustProjection,
    private readonly queries: QueryBus,
    @Inject(SIGNET_CONFIG) private readonly config: SignetConfig,
  ) {}

  /**
   * A signed command: multipart parts `command` (the exact JSON bytes) and `signature` (armored
   * detached signature over them), or JSON `{command, signature}` with both as strings.
   */
  @Post('commands')
  @ApiRoute(
    'Submit a signed command (multipart `command` + `signature`, or JSON {command, signature})',
    {
      status: 201,
      description: 'the events appended; 200 with `replayed: true` when the id was seen before with the same bytes',
    },
    COMMAND_CODES,
  )
  @ApiParts({ command: 'the exact JSON bytes of the command', signature: 'gpg --detach-sign --armor over them' })
  async submit(@Req() request: FastifyRequest, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    let command: string | undefined;
    let signature: string | undefined;
    if ((request as Multipart).isMultipart?.()) {
      for await (const part of partsOf(request)) {
        if (part.fieldname === 'command') command = await readPart(part, MAX_COMMAND_BYTES);
        else if (part.fieldname === 'signature') signature = await readPart(part, MAX_ARMORED_SIGNATURE);
        else
          throw new DomainError('BAD_REQUEST', `unexpected part "${part.fieldname}": send "command" and "signature"`);
      }
    } else if (body && typeof body === 'object') {
      const b = body as { command?: unknown; signature?: unknown };
      if (typeof b.command === 'string') command = b.command;
      if (typeof b.signature === 'string') signature = b.signature;
    }
    if (command === undefined || signature === undefined)
      throw new DomainError(
        'BAD_REQUEST',
        'send the command and its detached signature: curl -F command=@command.json -F signature=@command.json.asc',
      );
    const result = await this.commands.submit(command, signature);
    void reply.status(result.replayed ? 200 : 201).send(result);
  }

  /** A package signature: multipart parts `signature` (armored, SHA-512) and `artifact`. */
  @Post('packages/:name/:version/signatures')
  @ApiRoute(
    'Publish a detached SHA-512 package signature with its artifact',
    { status: 201, description: 'the PackageSignaturePublished event' },
    [...SIGNATURE_CODES, 'BLOB_STORE_UNAVAILABLE', 'BLOB_STORE_CORRUPT'],
  )
  @ApiParts({ artifact: 'the package file', signature: 'gpg --armor --digest-algo sha512 --detach-sign' })
  async publish(
    @Param('name') name: string,
    @Param('version') version: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const { artifact, signature } = await this.artifactAndSignature(request);
    try {
      // The service archives the artifact (content-addressed, for auditors) before appending.
      const event = await this.packages.publish(name, version, artifact, signature);
      void reply.status(201).send({ event });
    } finally {
      discardArtifact(artifact);
    }
  }

  /** A published artifact, for auditors re-verifying its package signature (`signet audit`, `signet mirror --artifacts`). */
  @Get('artifacts/:sha512')
  @ApiRoute(
    'A published artifact by its SHA-512 (immutable), to re-verify its package signature',
    { status: 200, description: 'the artifact bytes', type: 'application/octet-stream' },
    ['BAD_PARAMETER', 'NOT_FOUND', 'BLOB_STORE_UNAVAILABLE'],
  )
  async artifactFile(@Param('sha512') sha512: string, @Res() reply: FastifyReply): Promise<void> {
    if (!/^[0-9a-f]{128}$/.test(sha512))
      throw new DomainError('BAD_PARAMETER', 'an artifact is named by its SHA-512: 128 lower-case hex digits');
    const artifact = await this.packages.artifact(sha512);
    if (!artifact) throw new DomainError('NOT_FOUND', `no published artifact has the SHA-512 ${sha512}`);
    void reply
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('etag', `"${sha512}"`)
      .header('content-length', String(artifact.size))
      .type('application/octet-stream')
      .send(artifact.stream);
  }

  /** A FreePBX module.sig (clear-signed): multipart part `modulesig`. */
  @Post('modules/:name/:version/signatures')
  @ApiRoute(
    'Publish a FreePBX module.sig (clear-signed)',
    { status: 201, description: 'the ModuleSignaturePublished event' },
    [...SIGNATURE_CODES, 'BAD_MODULE_SIG', 'UNSUPPORTED_MODULE_SIG'],
  )
  @ApiParts({ modulesig: 'module.sig as gpg --clearsign writes it' })
  async publishModule(
    @Param('name') name: string,
    @Param('version') version: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    let moduleSig: string | undefined;
    for await (const part of partsOf(request)) {
      if (part.fieldname === 'modulesig') moduleSig = await readPart(part, MAX_MODULE_SIG);
      else throw new DomainError('BAD_REQUEST', `unexpected part "${part.fieldname}": send "modulesig"`);
    }
    if (!moduleSig)
      throw new DomainError('BAD_REQUEST', 'send the clear-signed module.sig: curl -F modulesig=@module.sig');
    const event = await this.packages.publishModule(name, version, moduleSig);
    void reply.status(201).send({ event });
  }

  @Get('modules/:name/signatures')
  @ApiRoute(
    "A module's published module.sig files, each with its current validity",
    { status: 200, description: 'the signatures' },
    [],
  )
  moduleSignatures(@Param('name') name: string) {
    return this.queries.execute(new GetModuleSignatures(name));
  }

  /** Verdict on an artifact and its detached signature, judged by the log (multipart `artifact`, `signature`). */
  @Post('verify')
  @ApiRoute(
    'Verdict on an artifact and detached signature, judged by the log',
    { status: 200, description: '{valid, reasons, signer, published}' },
    ['BAD_REQUEST', 'TOO_LARGE'],
  )
  @ApiParts({ artifact: 'the package file', signature: 'its armored detached signature' })
  @HttpCode(200)
  async verify(@Req() request: FastifyRequest) {
    const { artifact, signature } = await this.artifactAndSignature(request);
    try {
      return await this.packages.verify(artifact, signature, await this.projection.catchUp());
    } finally {
      discardArtifact(artifact);
    }
  }

  @Get('keys')
  @ApiRoute('The package signing key listing (active and removed keys)', { status: 200, description: 'the listing' }, [
    'BAD_PARAMETER',
    'NOT_IN_LOG',
  ])
  @ApiQuery({ name: 'size', required: false, description: 'the listing as of this tree size' })
  async keys(@Query('size') size?: string) {
    return this.queries.execute(new GetKeyListing(size === undefined ? undefined : parseCount('size', size), 'json'));
  }

  @Get('keys/raw.txt')
  @ApiRoute('The key listing in the MyBB raw.txt format', { status: 200, description: 'text', type: 'text/plain' }, [
    'BAD_PARAMETER',
    'NOT_IN_LOG',
  ])
  @ApiQuery({ name: 'size', required: false, description: 'the listing as of this tree size' })
  async raw(@Res() reply: FastifyReply, @Query('size') size?: string): Promise<void> {
    const raw = await this.queries.execute(
      new GetKeyListing(size === undefined ? undefined : parseCount('size', size), 'raw'),
    );
    void reply.type('text/plain; charset=utf-8').send(raw);
  }

  @Get('keys/:fingerprint/history')
  @ApiRoute(
    "A signing key's whole history, each event with its inclusion proof in the current tree",
    { status: 200, description: 'the events and proofs' },
    ['BAD_PARAMETER', 'NOT_FOUND'],
  )
  history(@Param('fingerprint') fingerprint: string) {
    if (fingerprintOf(fingerprint) === null) throw new DomainError('BAD_PARAMETER', 'a fingerprint is 40 hex digits');
    return this.queries.execute(new GetKeyHistory(fingerprint.toUpperCase()));
  }

  @Get('packages/:name/signatures')
  @ApiRoute(
    "A package's published signatures, each with its current validity",
    { status: 200, description: 'the signatures' },
    [],
  )
  signatures(@Param('name') name: string) {
    return this.queries.execute(new GetPackageSignatures(name));
  }

  /** Reads the parts of an upload; the artifact streams to a temporary file, discarded on any failure. */
  private async artifactAndSignature(
    request: FastifyRequest,
  ): Promise<{ artifact: StoredArtifact; signature: string }> {
    let signature: string | undefined;
    let artifact: StoredArtifact | undefined;
    try {
      for await (const part of partsOf(request)) {
        if (part.fieldname === 'signature') signature = await readPart(part, MAX_ARMORED_SIGNATURE);
        else if (part.fieldname === 'artifact' && part.type === 'file' && !artifact)
          artifact = await receiveArtifact(
            join(this.config.dataDir, 'uploads'),
            part.file as never,
            this.config.maxArtifactBytes,
          );
        else
          throw new DomainError(
            'BAD_REQUEST',
            `unexpected part "${part.fieldname}": send one "artifact" (a file) and one "signature"`,
          );
      }
    } catch (error) {
      if (artifact) discardArtifact(artifact);
      throw error;
    }
    if (!signature || !artifact) {
      if (artifact) discardArtifact(artifact);
      throw new DomainError(
        'BAD_REQUEST',
        'send the artifact and its signature: curl -F artifact=@pkg.zip -F signature=@pkg.zip.asc',
      );
    }
    return { artifact, signature };
  }

  @Get('trust/state')
  @ApiRoute(
    'The trust state: members, signing keys with status and validity windows',
    { status: 200, description: 'the state' },
    ['BAD_PARAMETER', 'NOT_IN_LOG'],
  )
  @ApiQuery({ name: 'size', required: false, description: 'the state after the first `size` events' })
  state(@Query('size') size?: string) {
    return this.queries.execute(new GetTrustState(size === undefined ? undefined : parseCount('size', size)));
  }
}
