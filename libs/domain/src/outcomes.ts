import { announcementText, signingKeyStream } from './decide.js';
import { groupFingerprint } from './fingerprint.js';
import {
  type AnnouncementKind,
  type ArchiveSnapshotTaken,
  type DomainEvent,
  type EventDraft,
  type EventEnvelope,
  type EventType,
  draftOf,
  outcomeKey,
} from './events.js';
import { type TrustState, keyStatus, usableFrom, validAuthorizers } from './state.js';

// What the workers decide, as pure functions of the trust state: which events are announced and
// with what text, when a key is activated, which keys raise a continuity alert, whether the
// listing changed since its last archive snapshot. Their outcomes are events by the actor `log`,
// each with an outcome key that occurs once in the log.

// The event types each worker acts on (the outbox dispatches only these).

/** Events that may call for an announcement (`announcementFor` says which do). */
export const ANNOUNCEMENT_CAUSES: ReadonlySet<EventType> = new Set<EventType>([
  'SigningKeyAuthorized',
  'SigningKeyRetired',
  'SigningKeyRevoked',
  'ContinuityAlertRaised',
]);
/** Events that may end or start a key's waiting period. */
export const ACTIVATION_CAUSES: ReadonlySet<EventType> = new Set<EventType>([
  'SigningKeyAuthorized',
  'AnnouncementPosted',
  'AnnouncementRecorded',
]);
/** Events that may leave a key with too few authorizations. */
export const CONTINUITY_CAUSES: ReadonlySet<EventType> = new Set<EventType>([
  'MemberRemoved',
  'MemberRoleChanged',
  'SigningKeyCertificationRevoked',
  'SigningKeyRevoked',
  'SigningKeyAuthorizationLost',
]);
/** Events that may change the listing, raw.txt or a key's page. */
export const LISTING_CHANGES: ReadonlySet<EventType> = new Set<EventType>([
  'SigningKeyAuthorized',
  'SigningKeyAuthorizationLost',
  'SigningKeyCertified',
  'SigningKeyCertificationRevoked',
  'AnnouncementPosted',
  'AnnouncementRecorded',
  'SigningKeyActivated',
  'SigningKeyRetired',
  'SigningKeyRevoked',
]);

export interface Announcement {
  readonly kind: AnnouncementKind;
  readonly fingerprint: string;
  readonly username: string;
  readonly text: string;
}

/** The security notice for a key left with too few authorizations. */
export function securityNoticeText(
  username: string,
  fpr: string,
  valid: number,
  required: number,
  reason: string,
): string {
  return `SECURITY NOTICE: Package Signing Key of ~${username} (${groupFingerprint(fpr)}) has ${valid} of ${required} required authorizations after ${reason}; signatures it makes are not accepted until it is re-authorized.`;
}

/**
 * The announcement an event calls for, if any: ADDING for a key's first authorization, REMOVING
 * when a listed key is retired or revoked, a security notice for a continuity alert.
 */
export function announcementFor(state: TrustState, envelope: EventEnvelope): Announcement | null {
  const event = envelope;
  switch (event.type) {
    case 'SigningKeyAuthorized': {
      const key = state.signingKeys.get(event.data.fingerprint);
      if (!key || key.firstAuthorizedSeq !== envelope.seq) return null;
      return {
        kind: 'ADDING',
        fingerprint: key.fingerprint,
        username: key.username,
        text: announcementText('ADDING', key.username, key.fingerprint),
      };
    }
    case 'SigningKeyRetired':
    case 'SigningKeyRevoked': {
      const key = state.signingKeys.get(event.data.fingerprint);
      // A key never authorized was never listed nor announced: nothing to take back.
      if (!key || key.firstAuthorizedSeq === null || key.firstAuthorizedSeq > envelope.seq) return null;
      return {
        kind: 'REMOVING',
        fingerprint: key.fingerprint,
        username: key.username,
        text: announcementText('REMOVING', key.username, key.fingerprint),
      };
    }
    case 'ContinuityAlertRaised': {
      const d = event.data;
      return {
        kind: 'SECURITY',
        fingerprint: d.fingerprint,
        username: d.username,
        text: securityNoticeText(d.username, d.fingerprint, d.valid, d.required, d.reason),
      };
    }
    default:
      return null;
  }
}

/** Drops outcomes the log already has (a retried job, or one decided twice). */
function once(state: TrustState, drafts: EventDraft[]): EventDraft[] {
  return drafts.filter((d) => !state.outcomes.has(outcomeKey(d.type, d.data)!));
}

function outcome(event: DomainEvent, stream: string): EventDraft {
  return draftOf(event, stream, 'log', null);
}

/** The record of a post on a channel (its URL is where people can read it). */
export function decideAnnouncementPosted(
  state: TrustState,
  channel: string,
  cause: number,
  a: Announcement,
  url: string,
): EventDraft[] {
  return once(state, [
    outcome(
      {
        type: 'AnnouncementPosted',
        v: 1,
        data: { fingerprint: a.fingerprint, kind: a.kind, channel, url, text: a.text, cause },
      },
      signingKeyStream(a.fingerprint),
    ),
  ]);
}

export function decideAnnouncementFailed(
  state: TrustState,
  channel: string,
  cause: number,
  a: Announcement,
  error: string,
  attempts: number,
): EventDraft[] {
  return once(state, [
    outcome(
      {
        type: 'AnnouncementFailed',
        v: 1,
        data: {
          fingerprint: a.fingerprint,
          kind: a.kind,
          channel,
          text: a.text,
          error: error.slice(0, 500),
          attempts,
          cause,
        },
      },
      signingKeyStream(a.fingerprint),
    ),
  ]);
}

/**
 * Activation of one key: SigningKeyActivated once it is usable (authorized, announced, waiting
 * period over, not retired or revoked). `retryAt` says when to look again while it waits.
 */
export function decideActivation(
  state: TrustState,
  fpr: string,
  now: Date,
): { events: EventDraft[]; retryAt: string | null } {
  const key = state.signingKeys.get(fpr);
  if (!key || key.activatedAt) return { events: [], retryAt: null };
  const { status, usableFrom: from } = keyStatus(state, key, now);
  if (status === 'waiting') return { events: [], retryAt: from };
  if (status !== 'active') return { events: [], retryAt: null };
  return {
    events: once(state, [
      outcome(
        { type: 'SigningKeyActivated', v: 1, data: { fingerprint: fpr, activeFrom: from! } },
        signingKeyStream(fpr),
      ),
    ]),
    retryAt: null,
  };
}

/** Every key due for activation now (the sweep that catches a lost delayed job). */
export function dueActivations(state: TrustState, now: Date): EventDraft[] {
  return [...state.signingKeys.values()]
    .filter((k) => !k.activatedAt && usableFrom(state, k) !== null)
    .flatMap((k) => decideActivation(state, k.fingerprint, now).events);
}

/** A continuity alert for every live key that lost its authorizations and has no alert for that loss. */
export function continuityAlerts(state: TrustState): EventDraft[] {
  const required = state.policy.authorizationsRequired;
  const drafts: EventDraft[] = [];
  for (const key of state.signingKeys.values()) {
    if (key.authorized || key.lostSeq === null || key.retiredAt || key.revokedSince) continue;
    drafts.push(
      outcome(
        {
          type: 'ContinuityAlertRaised',
          v: 1,
          data: {
            fingerprint: key.fingerprint,
            username: key.username,
            valid: validAuthorizers(state, key).length,
            required,
            reason: key.lostReason ?? 'authorizations lost',
            cause: key.lostSeq,
          },
        },
        signingKeyStream(key.fingerprint),
      ),
    );
  }
  return once(state, drafts);
}

/** The listing as rendered at a tree size: content hashes of the listing page, raw.txt and each key page. */
export interface RenderedListing {
  readonly treeSize: number;
  readonly listing: string;
  readonly raw: string;
  readonly keys: Readonly<Record<string, string>>;
}

/** Key pages whose content differs from the latest archived one. */
export function changedKeyPages(state: TrustState, rendered: RenderedListing): Record<string, string> {
  const archived = state.archive?.keys ?? {};
  return Object.fromEntries(Object.entries(rendered.keys).filter(([fpr, hash]) => archived[fpr] !== hash));
}

/** True when the rendering shows something the latest snapshot does not. */
export function listingChanged(state: TrustState, rendered: RenderedListing): boolean {
  const last = state.archive;
  return (
    !last ||
    last.listing !== rendered.listing ||
    last.raw !== rendered.raw ||
    Object.keys(changedKeyPages(state, rendered)).length > 0
  );
}

/**
 * ArchiveSnapshotTaken for a rendering, unless the log's latest snapshot already shows the same,
 * or shows a later state (archive jobs run concurrently: one rendered earlier may finish storing
 * its documents after one rendered later was recorded, and must not make the older listing the
 * latest).
 */
export function decideArchiveSnapshot(
  state: TrustState,
  cause: number,
  rendered: RenderedListing,
  triggers: ArchiveSnapshotTaken['data']['triggers'],
): EventDraft[] {
  if (state.archive && state.archive.treeSize > rendered.treeSize) return [];
  if (!listingChanged(state, rendered)) return [];
  const data = {
    treeSize: rendered.treeSize,
    listing: rendered.listing,
    raw: rendered.raw,
    keys: changedKeyPages(state, rendered),
    triggers,
    cause,
  };
  return once(state, [outcome({ type: 'ArchiveSnapshotTaken', v: 1, data }, 'archive')]);
}

/**
 * Why an ArchiveSnapshotTaken recorded at `seq` is not one the archiver could have taken (an
 * auditor's check: the rendering itself needs the state at its size), or null: once per cause,
 * of a size the log had, after its cause.
 */
export function archiveSnapshotRefusal(
  state: TrustState,
  seq: number,
  data: { readonly treeSize: number; readonly cause: number },
): string | null {
  if (state.outcomes.has(outcomeKey('ArchiveSnapshotTaken', data)!))
    return `a second archive snapshot for seq ${data.cause}`;
  if (!(data.treeSize >= 1 && data.treeSize <= seq && data.cause < data.treeSize))
    return `an archive snapshot of size ${data.treeSize} for seq ${data.cause} cannot be taken at seq ${seq}`;
  return null;
}

/** The time a rendering of the state at its size shows: the log's time at that size (so it re-renders the same). */
export function renderTime(state: TrustState): Date {
  return new Date(state.lastRecordedAt || 0);
}
