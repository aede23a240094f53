import type { TrustState } from '@signet/domain';

// The built-in announcement channel: an Atom feed (RFC 4287) of every announcement posted on it.

function xml(text: string): string {
  // XML 1.0 forbids most control characters even escaped; none belong in an announcement.
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** At most this many entries, newest first. */
const ENTRIES = 500;

export function renderAtomFeed(state: TrustState, publicUrl: string): string {
  const posted = state.announcements
    .filter((a) => a.channel === 'atom')
    .slice(-ENTRIES)
    .reverse();
  const updated = posted[0]?.recordedAt ?? (state.lastRecordedAt || new Date(0).toISOString());
  const entries = posted.map(
    (a) => `  <entry>
    <id>${xml(a.url)}</id>
    <title>${xml(a.text)}</title>
    <link rel="alternate" type="text/html" href="${xml(a.url)}"/>
    <published>${a.recordedAt}</published>
    <updated>${a.recordedAt}</updated>
    <category term="${a.kind}"/>
    <content type="text">${xml(a.text)}</content>
  </entry>
`,
  );
  return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>${xml(publicUrl)}/announcements.atom</id>
  <title>Package Signing Key announcements — ${xml(state.origin)}</title>
  <subtitle>Keys added to and removed from the log ${xml(state.origin)}, and security notices.</subtitle>
  <link rel="self" type="application/atom+xml" href="${xml(publicUrl)}/announcements.atom"/>
  <link rel="alternate" type="text/html" href="${xml(publicUrl)}/"/>
  <updated>${updated}</updated>
  <author><name>${xml(state.origin)}</name></author>
  <generator>Signet</generator>
${entries.join('')}</feed>
`;
}
