import type { JsonValue } from './canonical-json.js';

/**
 * Every fact the log records. Names are past tense; a changed meaning gets a new `v`.
 * Later capabilities add members, signing keys, announcements and signatures here.
 */
export type DomainEvent = LogCreated;

/** Seq 0: the log's origin and the verifier key its checkpoints are signed with. */
export interface LogCreated {
  readonly type: 'LogCreated';
  readonly v: 1;
  readonly data: {
    readonly origin: string;
    readonly verifierKey: string;
  };
}

export type EventType = DomainEvent['type'];

/** What lets an auditor re-check a decision alone: the exact bytes the actor signed. */
export interface Evidence {
  readonly command: string;
  readonly signature: string;
  readonly [more: string]: JsonValue;
}

/** An event as the log stores it; its RFC 8785 form is the Merkle leaf. */
export interface EventEnvelope {
  readonly seq: number;
  readonly type: string;
  readonly v: number;
  /** The log's clock at sequencing, ISO 8601 UTC with milliseconds. */
  readonly recordedAt: string;
  /** The aggregate the event belongs to, e.g. `signing-key/<fingerprint>`. */
  readonly stream: string;
  /** The fingerprint of the acting key, or `log` for the log's own facts. */
  readonly actor: string;
  readonly data: JsonValue;
  readonly evidence: Evidence | null;
}

/** An event before the sequencer gives it a place and a time. */
export type EventDraft = Omit<EventEnvelope, 'seq' | 'recordedAt'>;
