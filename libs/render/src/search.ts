import { DomainError, type SigningKeyState, type TrustState } from '@signet/domain';
import type { SearchResults, SignatureKind } from './html.js';

// Search for people: by fingerprint (whole, grouped in fours, or a key ID — any run of 8 or more
// of its hex digits), by user name or user ID, or by package or module name.

/** Longest query taken: a grouped fingerprint with `0x` is 51 characters. */
export const MAX_QUERY = 200;
/** Most results shown of each kind. */
const LIMIT = 100;

/** The `q` parameter as typed (attacker-controlled): one trimmed line of text, or BAD_PARAMETER. */
export function searchQuery(raw: unknown): string {
  if (Array.isArray(raw)) throw new DomainError('BAD_PARAMETER', 'give one search: a single "q" parameter');
  const q = typeof raw === 'string' ? raw.trim() : '';
  if (q.length === 0)
    throw new DomainError('BAD_PARAMETER', 'type a fingerprint, a key ID, a user name or a package name to search for');
  if (q.length > MAX_QUERY) throw new DomainError('BAD_PARAMETER', `a search is at most ${MAX_QUERY} characters`);
  if (/[\u0000-\u001f\u007f]/.test(q)) throw new DomainError('BAD_PARAMETER', 'a search is one line of printable text');
  return q;
}

/**
 * The distinct package and module names with their signature counts, kept up to date by reading
 * only the signatures published since the last search (the lists only grow).
 */
export class PackageNames {
  private readonly counts = new Map<string, { kind: SignatureKind; name: string; signatures: number }>();
  private seen: { packages: unknown; modules: unknown; p: number; m: number } = {
    packages: null,
    modules: null,
    p: 0,
    m: 0,
  };

  update(state: TrustState): void {
    // Another list (a state read at another size) is read from its start.
    if (this.seen.packages !== state.packageSignatures || this.seen.modules !== state.moduleSignatures) {
      this.counts.clear();
      this.seen = { packages: state.packageSignatures, modules: state.moduleSignatures, p: 0, m: 0 };
    }
    for (; this.seen.p < state.packageSignatures.length; this.seen.p++)
      this.count('package', state.packageSignatures.at(this.seen.p)!.package);
    for (; this.seen.m < state.moduleSignatures.length; this.seen.m++)
      this.count('module', state.moduleSignatures.at(this.seen.m)!.module);
  }

  matching(needle: string) {
    return [...this.counts.values()].filter((p) => p.name.toLowerCase().includes(needle)).slice(0, LIMIT);
  }

  private count(kind: SignatureKind, name: string): void {
    const id = `${kind}\u0000${name}`;
    const entry = this.counts.get(id);
    if (entry) entry.signatures++;
    else this.counts.set(id, { kind, name, signatures: 1 });
  }
}

/** What matches `query` in the state (`names` brought up to date with it). */
export function search(state: TrustState, query: string, names: PackageNames): SearchResults {
  names.update(state);
  const hex = query.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase();
  const keys = [...state.signingKeys.values()];
  const people = [
    ...[...state.members.values()].map((m) => ({ fingerprint: m.fingerprint, name: m.username })),
    ...state.policy.rootKeys.map((r) => ({ fingerprint: r.fingerprint, name: 'root' })),
  ];
  if (/^[0-9A-F]{8,40}$/.test(hex)) {
    return {
      keys: keys.filter((k) => k.fingerprint.includes(hex)).slice(0, LIMIT),
      people: people.filter((p) => p.fingerprint.includes(hex)).slice(0, LIMIT),
      packages: names.matching(query.toLowerCase()),
    };
  }
  const needle = query.toLowerCase().replace(/^~/, '');
  const keyMatches = (k: SigningKeyState) =>
    k.username.toLowerCase().includes(needle) || k.userIds.some((u) => u.toLowerCase().includes(needle));
  return {
    keys: keys.filter(keyMatches).slice(0, LIMIT),
    people: people.filter((p) => p.name.toLowerCase().includes(needle)).slice(0, LIMIT),
    packages: names.matching(needle),
  };
}
