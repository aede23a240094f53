import type { EventDraft, LogCreated } from './events.js';
import { checkPolicy } from './policy.js';

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
