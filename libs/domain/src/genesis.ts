import type { EventDraft, LogCreated } from './events.js';
import { type Policy, checkPolicy } from './policy.js';

export const LOG_ACTOR = 'log';
export const LOG_STREAM = 'log';

/** Seq 0 of every log. */
export function genesisDraft(data: LogCreated['data']): EventDraft {
  checkPolicy(data.policy);
  return {
    type: 'LogCreated',
    v: 1,
    stream: LOG_STREAM,
    actor: LOG_ACTOR,
    data: JSON.parse(JSON.stringify(data)),
    evidence: null,
  };
}

/** What `signet init` asks of a log: only what was given (an option, a policy file, a variable). */
export interface GenesisRequest {
  readonly origin?: string;
  /** Root key fingerprints, in any order. */
  readonly rootKeys?: readonly string[];
  readonly policy?: Partial<Omit<Policy, 'rootKeys'>>;
}

/** One way a log's genesis differs from a request: the setting, what the log has, what was asked. */
export interface GenesisDifference {
  readonly setting: string;
  readonly logHas: string;
  readonly asked: string;
}

/**
 * How an existing log's genesis differs from what an init asks for (none: the same log). A
 * genesis is never changed, so an init that differs asks for another log.
 */
export function genesisDifferences(genesis: LogCreated['data'], request: GenesisRequest): GenesisDifference[] {
  const differences: GenesisDifference[] = [];
  const show = (value: unknown) => JSON.stringify(value);
  if (request.origin !== undefined && request.origin !== genesis.origin) {
    differences.push({ setting: 'origin', logHas: show(genesis.origin), asked: show(request.origin) });
  }
  if (request.rootKeys !== undefined) {
    const has = genesis.policy.rootKeys.map((k) => k.fingerprint.toUpperCase()).sort();
    const asked = [...new Set(request.rootKeys.map((f) => f.toUpperCase()))].sort();
    if (has.join() !== asked.join()) {
      const list = (fprs: string[]) => (fprs.length ? fprs.join(', ') : '(none)');
      differences.push({ setting: 'rootKeys', logHas: list(has), asked: list(asked) });
    }
  }
  for (const [setting, value] of Object.entries(request.policy ?? {})) {
    const has = genesis.policy[setting as keyof Omit<Policy, 'rootKeys'>];
    if (value !== undefined && value !== has) differences.push({ setting, logHas: show(has), asked: show(value) });
  }
  return differences;
}
