import { join } from 'node:path';
import { Body, Controller, Get, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, MAX_COMMAND_BYTES } from '@signet/domain';
import { MAX_ARMORED_SIGNATURE } from '@signet/pgp';
import { type StoredArtifact, storeArtifact } from '@signet/service';
import type { SignetConfig } from '@signet/store';
import { parseCount } from './params.js';
import { GetPackageSignatures, GetTrustState, PublishPackageSignature, SubmitSignedCommand } from './trust.handlers.js';
import { SIGNET_CONFIG } from './tokens.js';

type Multipart = FastifyRequest & { isMultipart(): boolean; parts(): AsyncIterableIterator<MultipartPart> };
interface MultipartPart {
  readonly type: 'file' | 'field';
  readonly fieldname: string;
  readonly value?: unknown;
  readonly file?: NodeJS.ReadableStream & { truncated?: boolean };
  toBuffer?(): Promise<Buffer>;
}

async function readPart(part: MultipartPart, max: number): Promise<string> {
  if (part.type === 'field') return String(part.value ?? '');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of part.file! as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new DomainError('TOO_LARGE', `the "${part.fieldname}" part is larger than ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function requireMultipart(request: FastifyRequest): Multipart {
  const r = request as Multipart;
  if (typeof r.isMultipart !== 'function' || !r.isMultipart()) {
    throw new DomainError('BAD_REQUEST', 'send multipart/form-data (curl -F part=@file)');
  }
  return r;
}

/** Signed commands and package signatures in; the trust state out. */
@Controller()
export class TrustController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    @Inject(SIGNET_CONFIG) private readonly config: SignetConfig,
  ) {}

  /**
   * A signed command: multipart parts `command` (the exact JSON bytes) and `signature` (armored
   * detached signature over them), or JSON `{command, signature}` with both as strings.
   */
  @Post('commands')
  async submit(@Req() request: FastifyRequest, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    let command: string | undefined;
    let signature: string | undefined;
    if ((request as Multipart).isMultipart?.()) {
      for await (const part of (request as Multipart).parts()) {
        if (part.fieldname === 'command') command = await readPart(part, MAX_COMMAND_BYTES);
        else if (part.fieldname === 'signature') signature = await readPart(part, MAX_ARMORED_SIGNATURE);
        else throw new DomainError('BAD_REQUEST', `unexpected part "${part.fieldname}": send "command" and "signature"`);
      }
    } else if (body && typeof body === 'object') {
      const b = body as { command?: unknown; signature?: unknown };
      if (typeof b.command === 'string') command = b.command;
      if (typeof b.signature === 'string') signature = b.signature;
    }
    if (command === undefined || signature === undefined) throw new DomainError('BAD_REQUEST', 'send the command and its detached signature: curl -F command=@command.json -F signature=@command.json.asc');
    const result = await this.commands.execute(new SubmitSignedCommand(command, signature));
    void reply.status(result.replayed ? 200 : 201).send(result);
  }

  /** A package signature: multipart parts `signature` (armored, SHA-512) and `artifact`. */
  @Post('packages/:name/:version/signatures')
  async publish(@Param('name') name: string, @Param('version') version: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    let signature: string | undefined;
    let artifact: StoredArtifact | undefined;
    for await (const part of requireMultipart(request).parts()) {
      if (part.fieldname === 'signature') signature = await readPart(part, MAX_ARMORED_SIGNATURE);
      else if (part.fieldname === 'artifact' && part.type === 'file') artifact = await storeArtifact(join(this.config.dataDir, 'artifacts'), part.file as never, this.config.maxArtifactBytes);
      else throw new DomainError('BAD_REQUEST', `unexpected part "${part.fieldname}": send "artifact" (a file) and "signature"`);
    }
    if (!signature || !artifact) throw new DomainError('BAD_REQUEST', 'send the artifact and its signature: curl -F artifact=@pkg.zip -F signature=@pkg.zip.asc');
    const event = await this.commands.execute(new PublishPackageSignature(name, version, artifact, signature));
    void reply.status(201).send({ event });
  }

  @Get('packages/:name/signatures')
  signatures(@Param('name') name: string) {
    return this.queries.execute(new GetPackageSignatures(name));
  }

  @Get('trust/state')
  state(@Query('size') size?: string) {
    return this.queries.execute(new GetTrustState(size === undefined ? undefined : parseCount('size', size)));
  }
}
