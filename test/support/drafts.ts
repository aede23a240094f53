import type { AnnouncementFailed, EventDraft, Evidence } from '@signet/domain';

/**
 * A draft of an event no version of the protocol has (`TestRecorded`), for tests of the
 * sequencer and the tlog, which seal any well-shaped envelope. Typed as a domain draft only so the
 * writer takes it: no reader of the protocol (parseEntry, hence the server's projection and every
 * auditor) accepts one, so a log holding one cannot be served.
 */
export function foreignDraft(draft: {
  type: string;
  v: number;
  stream: string;
  actor: string;
  data: unknown;
  evidence: Evidence | null;
}): EventDraft {
  return draft as unknown as EventDraft;
}

/**
 * An event of the protocol that changes nothing a server or its workers act on, for filling a log
 * the built app then serves: an AnnouncementFailed folds to nothing but its outcome key (unique by
 * `cause`, so `i` must not repeat in a log when the actor is `log`) and triggers no worker. An
 * auditor refuses it (no event called for the announcement).
 */
export function inertDraft(
  i: number,
  options: { stream?: string; text?: string; actor?: string; evidence?: Evidence | null } = {},
): EventDraft<AnnouncementFailed> {
  return {
    type: 'AnnouncementFailed',
    v: 1,
    stream: options.stream ?? `test/${i % 97}`,
    actor: options.actor ?? 'log',
    data: {
      fingerprint: 'F'.repeat(40),
      kind: 'SECURITY',
      channel: 'test',
      text: options.text ?? `event number ${i}`,
      error: '',
      attempts: 0,
      cause: i,
    },
    evidence: options.evidence ?? null,
  };
}
