import { PAGE_STYLE_HASH } from '@signet/render';

// The headers every answer carries, computed once: the pages are this log's face to people, and a
// user ID or announcement text that slipped past escaping must stay inert (no script may run,
// no other site may frame a page, no answer may be sniffed into HTML).

const COMMON = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
} as const;

/** The pages (and every JSON or text answer): their one inline style by its hash, no script at all. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  ...COMMON,
  'content-security-policy': `default-src 'none'; style-src '${PAGE_STYLE_HASH}'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
};

/** The OpenAPI browser under /docs (Swagger UI): its own scripts and styles, inline styles included. */
export const DOCS_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  ...COMMON,
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
};

/** The headers for a request path (the URL as sent, query included). */
export function securityHeadersFor(url: string): Readonly<Record<string, string>> {
  return url === '/docs' || url.startsWith('/docs/') || url.startsWith('/docs?')
    ? DOCS_SECURITY_HEADERS
    : SECURITY_HEADERS;
}
