import {
  type AnnouncementState,
  type ListedKey,
  type TrustState,
  groupFingerprint,
  keyListing,
  keyStatus,
  validAuthorizers,
} from '@signet/domain';

// The key listing as people read it (the seed's mybb.com/download/keys/ page): served live at
// `/` and `/keys/<fingerprint>`. Pure functions of the trust state; every value is escaped.

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6470;--bg:#fff;--line:#d8dee4;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--line:#30363d;--ok:#3fb950;--warn:#d29922;--bad:#f85149}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:72rem;margin:0 auto;padding:1rem}h1{font-size:1.4rem;margin:.5rem 0}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.meta,.muted{color:var(--muted);font-size:.9rem}a{color:inherit}code,.fp{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.fp{word-spacing:.1em;overflow-wrap:anywhere}table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:.5rem;border-bottom:1px solid var(--line);vertical-align:top}
.status{font-weight:600;white-space:nowrap}.active{color:var(--ok)}.waiting,.awaiting-announcement,.pending,.insufficient-authorizations{color:var(--warn)}.retired{color:var(--muted)}.revoked{color:var(--bad)}
pre{overflow:auto;padding:.75rem;border:1px solid var(--line);font-size:.8rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
@media (max-width:40rem){thead{display:none}tr{display:block;border-bottom:1px solid var(--line);padding:.5rem 0}td{display:block;border:0;padding:.15rem 0}td[data-label]::before{content:attr(data-label) ": ";color:var(--muted)}}
`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>
`;
}

function link(url: string | null, text: string): string {
  return url
    ? `<a href="${escapeHtml(url)}" rel="nofollow noopener">${escapeHtml(text)}</a>`
    : '<span class="muted">—</span>';
}

function row(k: ListedKey, removed: boolean): string {
  const cells = [
    `<td data-label="Status"><span class="status ${k.status}">${escapeHtml(k.status)}</span></td>`,
    `<td data-label="User">~${escapeHtml(k.username)}</td>`,
    `<td data-label="Fingerprint"><a class="fp" href="/keys/${k.fingerprint}">${escapeHtml(k.grouped)}</a></td>`,
    `<td data-label="Added">${escapeHtml(k.addDate)} ${link(k.addAnnouncement, 'announcement')}</td>`,
    ...(removed
      ? [
          `<td data-label="Removed">${escapeHtml(k.removeDate ?? '')} ${link(k.removeAnnouncement, 'announcement')}</td>`,
        ]
      : []),
  ];
  return `<tr>${cells.join('')}</tr>`;
}

function table(keys: readonly ListedKey[], removed: boolean): string {
  if (keys.length === 0) return '<p class="muted">None.</p>';
  const head = ['Status', 'User', 'Fingerprint', 'Added', ...(removed ? ['Removed'] : [])]
    .map((h) => `<th>${h}</th>`)
    .join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${keys.map((k) => row(k, removed)).join('')}</tbody></table>`;
}

/** The listing page: keys in use and removed keys, with dates and announcement links. */
export function renderListingPage(state: TrustState, now: Date): string {
  const { active, removed } = keyListing(state, now);
  return page(
    `Package Signing Keys — ${state.origin}`,
    `<h1>Package Signing Keys</h1>
<p class="meta">Log <code>${escapeHtml(state.origin)}</code> at tree size ${state.size} ·
<a href="/log/checkpoint">checkpoint</a> · <a href="/keys/raw.txt">raw.txt</a> · <a href="/announcements.atom">announcements (Atom)</a> · <a href="/trust/state">trust state (JSON)</a></p>
<p class="muted">A key may sign packages ${state.policy.waitingPeriodDays} days after it was added and announced.
Verify signatures against this log, not against a keyserver.</p>
<h2>Active keys</h2>${table(active, false)}
<h2>Removed keys</h2>${table(removed, true)}`,
  );
}

/** One key's page; null when the log has no such signing key. */
export function renderKeyPage(state: TrustState, fingerprint: string, now: Date): string | null {
  const key = state.signingKeys.get(fingerprint);
  if (!key) return null;
  const { status, reason, usableFrom } = keyStatus(state, key, now);
  const name = (fpr: string) =>
    state.members.get(fpr)?.username ?? (state.policy.rootKeys.some((r) => r.fingerprint === fpr) ? 'root' : fpr);
  const facts: [string, string][] = [
    ['Status', `<span class="status ${status}">${escapeHtml(status)}</span> — ${escapeHtml(reason)}`],
    ['Owner', `~${escapeHtml(key.username)}`],
    ['Fingerprint', `<span class="fp">${escapeHtml(groupFingerprint(key.fingerprint))}</span>`],
    [
      'Key',
      `${escapeHtml(key.algorithm)}${key.bits ? `-${key.bits}` : ''}; ${key.userIds.map(escapeHtml).join('<br>')}`,
    ],
    ['Added', escapeHtml(key.addedAt)],
    [
      'Authorized by',
      validAuthorizers(state, key)
        .map((f) => `~${escapeHtml(name(f))}`)
        .join(', ') || '<span class="muted">nobody</span>',
    ],
    [
      'Announced',
      key.adding
        ? `${escapeHtml(key.adding.at)} ${link(key.adding.url, key.adding.text)}`
        : '<span class="muted">not yet</span>',
    ],
    ['Usable from', escapeHtml(usableFrom ?? '—')],
    ...(key.retiredAt ? ([['Retired', escapeHtml(key.retiredAt)]] as [string, string][]) : []),
    ...(key.revokedSince
      ? ([['Revoked', `compromised since ${escapeHtml(key.revokedSince)} (${escapeHtml(key.revokeReason ?? '')})`]] as [
          string,
          string,
        ][])
      : []),
    ...(key.removing
      ? ([['Removal announced', `${escapeHtml(key.removing.at)} ${link(key.removing.url, key.removing.text)}`]] as [
          string,
          string,
        ][])
      : []),
  ];
  return page(
    `~${key.username} — ${groupFingerprint(key.fingerprint)}`,
    `<p class="meta"><a href="/">← all keys</a></p>
<h1>Package Signing Key of ~${escapeHtml(key.username)}</h1>
<dl>${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>
<p class="meta"><a href="/keys/${key.fingerprint}/history">history with inclusion proofs (JSON)</a></p>
<h2>Public key</h2><pre>${escapeHtml(key.key)}</pre>`,
  );
}

/** One announcement as posted on the built-in feed (the page its Atom entry links to). */
export function renderAnnouncementPage(state: TrustState, a: AnnouncementState): string {
  const key = state.signingKeys.get(a.fingerprint);
  return page(
    `${a.kind} — ${state.origin}`,
    `<p class="meta"><a href="/">← all keys</a> · <a href="/announcements.atom">feed</a></p>
<h1>Announcement</h1>
<p><strong>${escapeHtml(a.text)}</strong></p>
<dl><dt>Posted</dt><dd>${escapeHtml(a.recordedAt)}</dd>
<dt>Key</dt><dd>${key ? `<a class="fp" href="/keys/${a.fingerprint}">${escapeHtml(groupFingerprint(a.fingerprint))}</a>` : escapeHtml(a.fingerprint)}</dd>
<dt>In the log</dt><dd>the event announced: <a href="/log/events/${a.cause}">seq ${a.cause}</a>; this post: <a href="/log/events/${a.seq}">seq ${a.seq}</a></dd></dl>`,
  );
}
