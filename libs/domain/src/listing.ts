import { groupFingerprint } from './fingerprint.js';
import { type SigningKeyState, type TrustState, keyStatus } from './state.js';

// The Package Signing Keys listing as the seed publishes it (mybb.com/download/keys/): the keys
// in use, and the removed ones with their removal dates and announcements.

export interface ListedKey {
  readonly username: string;
  readonly fingerprint: string;
  readonly grouped: string;
  readonly status: string;
  readonly addDate: string;
  readonly addAnnouncement: string | null;
  readonly removeDate: string | null;
  readonly removeAnnouncement: string | null;
  readonly key: string;
}

const date = (iso: string) => iso.slice(0, 10);

function listed(state: TrustState, key: SigningKeyState, now: Date): ListedKey {
  const removedAt = key.revokedAt ?? key.retiredAt;
  return {
    username: key.username,
    fingerprint: key.fingerprint,
    grouped: groupFingerprint(key.fingerprint),
    status: keyStatus(state, key, now).status,
    addDate: date(key.adding?.at ?? key.authorizedAt ?? key.addedAt),
    addAnnouncement: key.adding?.url ?? null,
    removeDate: removedAt ? date(removedAt) : null,
    removeAnnouncement: key.removing?.url ?? null,
    key: key.key,
  };
}

/** Listed keys: every key that was ever authorized; removed ones are retired or revoked. */
export function keyListing(state: TrustState, now: Date): { active: ListedKey[]; removed: ListedKey[] } {
  const keys = [...state.signingKeys.values()].filter((k) => k.authorizedAt !== null);
  return {
    active: keys.filter((k) => !k.retiredAt && !k.revokedSince).map((k) => listed(state, k, now)),
    removed: keys.filter((k) => k.retiredAt || k.revokedSince).map((k) => listed(state, k, now)),
  };
}

/** raw.txt in the seed's format. */
export function rawListing(state: TrustState, now: Date): string {
  const { active, removed } = keyListing(state, now);
  const block = (k: ListedKey, withRemoval: boolean) =>
    [
      `USER: ${k.username}`,
      `FINGERPRINT: ${k.grouped}`,
      `ADD_DATE: ${k.addDate}`,
      `ADD_ANNOUNCEMENT: ${k.addAnnouncement ?? ''}`,
      ...(withRemoval
        ? [`REMOVE_DATE: ${k.removeDate ?? ''}`, `REMOVE_ANNOUNCEMENT: ${k.removeAnnouncement ?? ''}`]
        : []),
      k.key.trimEnd(),
      '',
    ].join('\n');
  return [
    '## ACTIVE KEYS BEGIN',
    ...active.map((k) => block(k, false)),
    '## ACTIVE KEYS END',
    '## REMOVED KEYS BEGIN',
    ...removed.map((k) => block(k, true)),
    '## REMOVED KEYS END',
    '',
  ].join('\n');
}
