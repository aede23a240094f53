// OpenPGP v4 fingerprints as the log writes them. Every place that reads or shows one uses these.

/** A fingerprint as the log writes it: 40 upper-case hex digits (a SHA-1 over the key, RFC 4880 12.2). */
export const FINGERPRINT = /^[0-9A-F]{40}$/;

const ANY_CASE = new RegExp(FINGERPRINT.source, 'i');

/** True when `text` is a fingerprint as the log writes it (upper case). */
export function isFingerprint(text: string): boolean {
  return FINGERPRINT.test(text);
}

/** A fingerprint a person typed in either case, as the log writes it; null when it is none. */
export function fingerprintOf(text: string): string | null {
  return ANY_CASE.test(text) ? text.toUpperCase() : null;
}

/**
 * FEED DEAF ABBA … : the fingerprint in groups of four, as announcements and listings write it.
 * The text is kept as given (the log's fingerprints are upper case): announcement texts are
 * re-derived by auditors and must come out the same.
 */
export function groupFingerprint(fpr: string): string {
  return fpr.replace(/(.{4})(?!$)/g, '$1 ');
}
