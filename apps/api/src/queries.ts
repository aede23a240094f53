import { Inject } from '@nestjs/common';
import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DomainError, InfrastructureError, type EventEnvelope } from '@signet/domain';
import type { SignetLog } from '@signet/store';
import { leafHash, toBase64 } from '@signet/tlog';
import { SIGNET_LOG } from './tokens.js';

// The read side as queries: controllers translate HTTP to these and back.

export interface EventWithProof {
  readonly event: EventEnvelope;
  /** base64 of the exact leaf bytes (RFC 8785 JSON of the event). */
  readonly entry: string;
  readonly leafHash: string;
  readonly treeSize: number;
  readonly rootHash: string;
  readonly inclusionProof: string[];
  /** The signed checkpoint the proof leads to. */
  readonly checkpoint: string;
}

export class GetEventQuery extends Query<EventWithProof> {
  constructor(readonly seq: number) {
    super();
  }
}

export class InclusionProofQuery extends Query<{
  seq: number;
  treeSize: number;
  leafHash: string;
  rootHash: string;
  proof: string[];
}> {
  constructor(
    readonly seq: number,
    readonly size: number | undefined,
  ) {
    super();
  }
}

export class ConsistencyProofQuery extends Query<{
  from: number;
  to: number;
  fromRoot: string;
  toRoot: string;
  proof: string[];
}> {
  constructor(
    readonly from: number,
    readonly to: number | undefined,
  ) {
    super();
  }
}

async function currentHead(log: SignetLog) {
  const head = await log.reader.head();
  if (!head) throw new InfrastructureError('NOT_INITIALIZED', 'the log has no checkpoint yet');
  return head;
}

@QueryHandler(GetEventQuery)
export class GetEventHandler implements IQueryHandler<GetEventQuery> {
  constructor(@Inject(SIGNET_LOG) private readonly log: SignetLog) {}

  async execute({ seq }: GetEventQuery): Promise<EventWithProof> {
    const head = await currentHead(this.log);
    if (seq >= head.size) throw new DomainError('NOT_IN_LOG', `there is no event ${seq}: the log has ${head.size}`);
    const [entry, event, proof] = await Promise.all([
      this.log.reader.entry(seq),
      this.log.reader.event(seq),
      this.log.reader.inclusionProof(seq, head.size),
    ]);
    return {
      event: event!,
      entry: toBase64(entry!),
      leafHash: toBase64(leafHash(entry!)),
      treeSize: head.size,
      rootHash: toBase64(head.root),
      inclusionProof: proof.proof.map(toBase64),
      checkpoint: head.note,
    };
  }
}

@QueryHandler(InclusionProofQuery)
export class InclusionProofHandler implements IQueryHandler<InclusionProofQuery> {
  constructor(@Inject(SIGNET_LOG) private readonly log: SignetLog) {}

  async execute({ seq, size }: InclusionProofQuery) {
    const treeSize = size ?? (await currentHead(this.log)).size;
    if (seq >= treeSize) throw new DomainError('BAD_RANGE', `seq ${seq} is not in a tree of size ${treeSize}`);
    const p = await this.log.reader.inclusionProof(seq, treeSize);
    return {
      seq,
      treeSize,
      leafHash: toBase64(p.leafHash),
      rootHash: toBase64(p.rootHash),
      proof: p.proof.map(toBase64),
    };
  }
}

@QueryHandler(ConsistencyProofQuery)
export class ConsistencyProofHandler implements IQueryHandler<ConsistencyProofQuery> {
  constructor(@Inject(SIGNET_LOG) private readonly log: SignetLog) {}

  async execute({ from, to }: ConsistencyProofQuery) {
    const target = to ?? (await currentHead(this.log)).size;
    if (from > target) throw new DomainError('BAD_RANGE', `"from" (${from}) is larger than "to" (${target})`);
    const p = await this.log.reader.consistencyProof(from, target);
    return {
      from,
      to: target,
      fromRoot: toBase64(p.fromRoot),
      toRoot: toBase64(p.toRoot),
      proof: p.proof.map(toBase64),
    };
  }
}

export const QUERY_HANDLERS = [GetEventHandler, InclusionProofHandler, ConsistencyProofHandler];
