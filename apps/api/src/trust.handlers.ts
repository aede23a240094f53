import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler, type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { type Clock, DomainError, describeState } from '@signet/domain';
import { type CommandResult, CommandService, PackageService, type StoredArtifact, TrustProjection } from '@signet/service';
import type { EventEnvelope } from '@signet/domain';
import { SIGNET_CLOCK } from './tokens.js';

// The write side as CQRS commands and the trust read side as queries; handlers call the
// services, controllers only translate HTTP.

export class SubmitSignedCommand extends Command<CommandResult> {
  constructor(
    readonly bytes: string,
    readonly signature: string,
  ) {
    super();
  }
}

export class PublishPackageSignature extends Command<EventEnvelope> {
  constructor(
    readonly pkg: string,
    readonly version: string,
    readonly artifact: StoredArtifact,
    readonly signature: string,
  ) {
    super();
  }
}

export class GetTrustState extends Query<ReturnType<typeof describeState>> {
  constructor(readonly size: number | undefined) {
    super();
  }
}

export class GetPackageSignatures extends Query<{ package: string; signatures: unknown[] }> {
  constructor(readonly pkg: string) {
    super();
  }
}

@CommandHandler(SubmitSignedCommand)
export class SubmitSignedCommandHandler implements ICommandHandler<SubmitSignedCommand> {
  constructor(private readonly commands: CommandService) {}
  execute({ bytes, signature }: SubmitSignedCommand) {
    return this.commands.submit(bytes, signature);
  }
}

@CommandHandler(PublishPackageSignature)
export class PublishPackageSignatureHandler implements ICommandHandler<PublishPackageSignature> {
  constructor(private readonly packages: PackageService) {}
  execute({ pkg, version, artifact, signature }: PublishPackageSignature) {
    return this.packages.publish(pkg, version, artifact, signature);
  }
}

@QueryHandler(GetTrustState)
export class GetTrustStateHandler implements IQueryHandler<GetTrustState> {
  constructor(
    private readonly projection: TrustProjection,
    @Inject(SIGNET_CLOCK) private readonly clock: Clock,
  ) {}
  async execute({ size }: GetTrustState) {
    const head = await this.projection.catchUp();
    if (size !== undefined && size > head.size) throw new DomainError('NOT_IN_LOG', `the log has ${head.size} events, not ${size}`);
    const state = size === undefined ? head : await this.projection.stateAt(size);
    return describeState(state, this.clock.now());
  }
}

@QueryHandler(GetPackageSignatures)
export class GetPackageSignaturesHandler implements IQueryHandler<GetPackageSignatures> {
  constructor(
    private readonly projection: TrustProjection,
    private readonly packages: PackageService,
  ) {}
  async execute({ pkg }: GetPackageSignatures) {
    return { package: pkg, signatures: this.packages.signatures(await this.projection.catchUp(), pkg) };
  }
}

export const TRUST_HANDLERS = [SubmitSignedCommandHandler, PublishPackageSignatureHandler, GetTrustStateHandler, GetPackageSignaturesHandler];
