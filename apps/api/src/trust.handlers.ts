import { Inject } from '@nestjs/common';
import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { type Clock, DomainError, describeState, keyListing, rawListing } from '@signet/domain';
import { PackageService, TrustProjection } from '@signet/service';
import type { SignetLog } from '@signet/store';
import { toBase64 } from '@signet/tlog';
import { SIGNET_CLOCK, SIGNET_LOG } from './tokens.js';

// The trust read side as queries (the write side goes from the controllers to the services).

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

@QueryHandler(GetTrustState)
export class GetTrustStateHandler implements IQueryHandler<GetTrustState> {
  constructor(
    private readonly projection: TrustProjection,
    @Inject(SIGNET_CLOCK) private readonly clock: Clock,
  ) {}
  async execute({ size }: GetTrustState) {
    return describeState(await this.projection.stateAt(size), this.clock.now());
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

export class GetModuleSignatures extends Query<{ module: string; signatures: unknown[] }> {
  constructor(readonly module: string) {
    super();
  }
}

@QueryHandler(GetModuleSignatures)
export class GetModuleSignaturesHandler implements IQueryHandler<GetModuleSignatures> {
  constructor(
    private readonly projection: TrustProjection,
    private readonly packages: PackageService,
  ) {}
  async execute({ module }: GetModuleSignatures) {
    return { module, signatures: this.packages.moduleSignatures(await this.projection.catchUp(), module) };
  }
}

/** The key listing as JSON, or as the seed's raw.txt. */
export class GetKeyListing extends Query<(ReturnType<typeof keyListing> & { treeSize: number }) | string> {
  constructor(
    readonly size: number | undefined,
    readonly format: 'json' | 'raw',
  ) {
    super();
  }
}

@QueryHandler(GetKeyListing)
export class GetKeyListingHandler implements IQueryHandler<GetKeyListing> {
  constructor(
    private readonly projection: TrustProjection,
    @Inject(SIGNET_CLOCK) private readonly clock: Clock,
  ) {}
  async execute({ size, format }: GetKeyListing) {
    const state = await this.projection.stateAt(size);
    return format === 'raw'
      ? rawListing(state, this.clock.now())
      : { treeSize: state.size, ...keyListing(state, this.clock.now()) };
  }
}

export class GetKeyHistory extends Query<unknown> {
  constructor(readonly fingerprint: string) {
    super();
  }
}

@QueryHandler(GetKeyHistory)
export class GetKeyHistoryHandler implements IQueryHandler<GetKeyHistory> {
  constructor(
    private readonly projection: TrustProjection,
    @Inject(SIGNET_LOG) private readonly log: SignetLog,
  ) {}
  /** Every event about the key (its stream, and what it signed), each with an inclusion proof in the current tree. */
  async execute({ fingerprint }: GetKeyHistory) {
    const state = await this.projection.catchUp();
    const key = state.signingKeys.get(fingerprint);
    if (!key) throw new DomainError('NOT_FOUND', `no package signing key ${fingerprint} is in the log`);
    const head = (await this.log.reader.head())!;
    const seqs = key.history.filter((s) => s < head.size);
    const events = await Promise.all(
      seqs.map(async (seq) => {
        const [event, proof] = await Promise.all([
          this.log.reader.event(seq),
          this.log.reader.inclusionProof(seq, head.size),
        ]);
        return { event, leafHash: toBase64(proof.leafHash), inclusionProof: proof.proof.map(toBase64) };
      }),
    );
    return { fingerprint, treeSize: head.size, rootHash: toBase64(head.root), checkpoint: head.note, events };
  }
}

export const TRUST_HANDLERS = [
  GetTrustStateHandler,
  GetPackageSignaturesHandler,
  GetModuleSignaturesHandler,
  GetKeyListingHandler,
  GetKeyHistoryHandler,
];
