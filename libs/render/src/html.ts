import { createHash } from 'node:crypto';
import {
  type AnnouncementState,
  type ListedKey,
  type MemberState,
  type SigningKeyState,
  type TrustState,
  groupFingerprint,
  keyListing,
  keyStatus,
  packageSignatureValid,
  validAuthorizers,
} from '@signet/domain';

// The pages people read (the seed's mybb.com/download/keys/ page and what links from it): served
// live by the API and archived by the workers. Pure functions of the trust state; every value
// that came from outside (user names, user IDs, URLs, package names, a search) is escaped.

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--bg:#fff;--line:#d0d7de;--ok:#1a7f37;--warn:#8a5c00;--bad:#cf222e}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--line:#30363d;--ok:#3fb950;--warn:#d29922;--bad:#f85149}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding-top:.75rem;border-bottom:1px solid var(--line);padding-bottom:.5rem}
footer{padding-top:1rem;padding-bottom:2rem}
p,h1,h2,caption{overflow-wrap:anywhere}h1{font-size:1.4rem;margin:.75rem 0 .5rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.meta,.muted{color:var(--muted);font-size:.9rem}a{color:inherit}code,.fp,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.fp{word-spacing:.1em;overflow-wrap:anywhere}table{width:100%;border-collapse:collapse}caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{text-align:left;padding:.5rem;border-bottom:1px solid var(--line);vertical-align:top}tbody th{font-weight:400}
.status{font-weight:600;white-space:nowrap}.active,.good{color:var(--ok)}.waiting,.awaiting-announcement,.pending,.insufficient-authorizations,.expired{color:var(--warn)}.retired{color:var(--muted)}.revoked,.bad{color:var(--bad)}
pre{overflow:auto;padding:.75rem;border:1px solid var(--line);font-size:.8rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
form{display:flex;gap:.5rem;align-items:center}input[type=search]{font:inherit;padding:.25rem .5rem;min-width:0;width:18rem;max-width:60vw}button{font:inherit;padding:.25rem .75rem}
.home{font-weight:600;text-decoration:none}.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
@media (max-width:40rem){thead{display:none}tr{display:block;border-bottom:1px solid var(--line);padding:.5rem 0}td,tbody th{display:block;border:0;padding:.15rem 0;overflow-wrap:anywhere}td[data-label]::before,th[data-label]::before{content:attr(data-label) ": ";color:var(--muted)}dl{grid-template-columns:1fr}dd{margin-bottom:.5rem}}
`;

/**
 * `sha256-…` of the one inline style every page carries: the Content-Security-Policy allows that
 * style and nothing else (no script at all), so text that slipped past escaping would stay inert.
 */
export const PAGE_STYLE_HASH = `sha256-${createHash('sha256').update(STYLE).digest('base64')}`;

/** Time shown to a person: `5 Jan 2026, 14:03 UTC` (a date alone: `5 Jan 2026`). */
export function humanTime(iso: string): string {
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const date = `${t.getUTCDate()} ${MONTHS[t.getUTCMonth()]} ${t.getUTCFullYear()}`;
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) return date;
  const hh = String(t.getUTCHours()).padStart(2, '0');
  const mm = String(t.getUTCMinutes()).padStart(2, '0');
  return `${date}, ${hh}:${mm} UTC`;
}

/** `in 3 days`, `2 hours ago`: how far `iso` is from `now`, for a person. */
export function relativeTime(iso: string, now: Date): string {
  const ms = Date.parse(iso) - now.getTime();
  const abs = Math.abs(ms);
  const units: [string, number][] = [
    ['year', 365 * 86_400_000],
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
  ];
  const [unit, size] = units.find(([, size]) => abs >= size) ?? ['minute', 60_000];
  const n = Math.floor(abs / size);
  if (n === 0) return 'now';
  const amount = `${n} ${unit}${n === 1 ? '' : 's'}`;
  return ms > 0 ? `in ${amount}` : `${amount} ago`;
}

/** A time for people, with the exact instant for programs. */
function time(iso: string, now?: Date): string {
  const when = `<time datetime="${escapeHtml(iso)}">${escapeHtml(humanTime(iso))}</time>`;
  return now ? `${when} <span class="muted">(${relativeTime(iso, now)})</span>` : when;
}

const SEARCH_FORM = (query = '') => `<form action="/search" method="get" role="search">
<label class="sr" for="q">Search by fingerprint, user name or package</label>
<input type="search" id="q" name="q" value="${escapeHtml(query)}" placeholder="fingerprint, user or package" maxlength="200" required>
<button type="submit">Search</button></form>`;

function page(title: string, body: string, query?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="alternate" type="application/atom+xml" title="Package Signing Key announcements" href="/announcements.atom">
<style>${STYLE}</style></head>
<body><header><a class="home" href="/">Package Signing Keys</a>${SEARCH_FORM(query)}</header>
<main>${body}</main>
<footer class="meta"><a href="/announcements.atom">Key announcements (Atom feed)</a> · <a href="/keys/raw.txt">All keys as raw.txt</a> · <a href="/log/checkpoint">Signed checkpoint of the log</a> · <a href="/docs">HTTP API documentation</a></footer></body></html>
`;
}

/** An outside link whose text names the host it leads to. */
function external(url: string | null, what: string): string {
  if (!url) return '<span class="muted">—</span>';
  let host = url;
  try {
    host = new URL(url).host || url;
  } catch {
    // not a URL: shown as written
  }
  return `<a href="${escapeHtml(url)}" rel="nofollow noopener noreferrer">${escapeHtml(what)} on ${escapeHtml(host)}</a>`;
}

const keyHref = (fpr: string) => `/keys/${fpr}`;
const personHref = (fpr: string) => `/people/${fpr}`;
const keyLink = (fpr: string) => `<a class="fp" href="${keyHref(fpr)}">${escapeHtml(groupFingerprint(fpr))}</a>`;

function isRootKey(state: TrustState, fpr: string): boolean {
  return state.policy.rootKeys.some((r) => r.fingerprint === fpr);
}

/** A person by their key: `~Alice` linking to their page; a root key is `root`. */
function personLink(state: TrustState, fpr: string): string {
  const member = state.members.get(fpr);
  if (member) return `<a href="${personHref(fpr)}">~${escapeHtml(member.username)}</a>`;
  if (isRootKey(state, fpr)) return `<a href="${personHref(fpr)}">root key ${escapeHtml(fpr.slice(-16))}</a>`;
  return `<span class="fp">${escapeHtml(groupFingerprint(fpr))}</span>`;
}

function status(s: string): string {
  return `<span class="status ${escapeHtml(s)}">${escapeHtml(s)}</span>`;
}

function table(caption: string, headers: readonly string[], rows: readonly string[], empty: string): string {
  if (rows.length === 0) return `<p class="muted">${empty}</p>`;
  const head = headers.map((h) => `<th scope="col">${h}</th>`).join('');
  return `<table><caption>${caption}</caption><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function keyRow(state: TrustState, k: ListedKey, removed: boolean): string {
  const key = state.signingKeys.get(k.fingerprint);
  const added = key?.adding?.at ?? key?.authorizedAt ?? key?.addedAt ?? k.addDate;
  const cells = [
    `<th scope="row" data-label="Fingerprint">${keyLink(k.fingerprint)}</th>`,
    `<td data-label="Status">${status(k.status)}</td>`,
    `<td data-label="Owner">${key ? personLink(state, key.owner) : `~${escapeHtml(k.username)}`}</td>`,
    `<td data-label="Added">${time(added.slice(0, 10))} ${external(k.addAnnouncement, 'announcement')}</td>`,
    ...(removed
      ? [
          `<td data-label="Removed">${time((key?.revokedAt ?? key?.retiredAt ?? k.removeDate ?? '').slice(0, 10))} ${external(k.removeAnnouncement, 'announcement')}</td>`,
        ]
      : []),
  ];
  return `<tr>${cells.join('')}</tr>`;
}

function memberRow(state: TrustState, m: MemberState): string {
  const keys = [...state.signingKeys.values()].filter((k) => k.owner === m.fingerprint).length;
  return `<tr><th scope="row" data-label="Member"><a href="${personHref(m.fingerprint)}">~${escapeHtml(m.username)}</a></th>
<td data-label="Role">${escapeHtml(m.role)}</td><td data-label="Member since">${time(m.addedAt.slice(0, 10))}</td>
<td data-label="Signing keys">${keys}</td></tr>`;
}

/** The listing page: keys in use and removed keys, with dates and announcement links, and the team. */
export function renderListingPage(state: TrustState, now: Date): string {
  const { active, removed } = keyListing(state, now);
  const members = [...state.members.values()].filter((m) => !m.removedAt);
  const keyHeaders = ['Fingerprint', 'Status', 'Owner', 'Added'];
  return page(
    `Package Signing Keys — ${state.origin}`,
    `<h1>Package Signing Keys</h1>
<p class="meta">Log <code>${escapeHtml(state.origin)}</code> at tree size ${state.size} ·
<a href="/trust/state">Trust state of the log (JSON)</a></p>
<p class="muted">A key may sign packages ${state.policy.waitingPeriodDays} days after it was added and announced.
Verify signatures against this log, not against a keyserver.</p>
<h2 id="active">Active keys</h2>
${table(
  `Keys that may sign packages (${active.length})`,
  keyHeaders,
  active.map((k) => keyRow(state, k, false)),
  'None.',
)}
<h2 id="removed">Removed keys</h2>
${table(
  `Retired and revoked keys (${removed.length})`,
  [...keyHeaders, 'Removed'],
  removed.map((k) => keyRow(state, k, true)),
  'None.',
)}
<h2 id="members">Members</h2>
${table(
  `The project's members (${members.length})`,
  ['Member', 'Role', 'Member since', 'Signing keys'],
  members.map((m) => memberRow(state, m)),
  'None.',
)}`,
  );
}

/** What the API reads out of a key block for its page (libs/pgp); absent in archived pages. */
export interface KeyDetails {
  /** Creation time of the primary key. */
  readonly created: string | null;
  /** When the key expires; null: never. */
  readonly expires: string | null;
}

export interface KeyPageOptions {
  readonly details?: KeyDetails;
  /** The log's public URL, for the copy-and-paste `gpg --import` line. */
  readonly publicUrl?: string;
}

function algorithmText(key: SigningKeyState): string {
  const names: Record<string, string> = { rsa: 'RSA', ed25519: 'Ed25519', ecdsa: 'ECDSA', dsa: 'DSA' };
  const name = names[key.algorithm] ?? key.algorithm;
  return key.bits ? `${name}, ${key.bits} bits` : name;
}

function expiryText(details: KeyDetails | undefined, now: Date): string {
  if (!details) return '<span class="muted">not shown in this copy</span>';
  if (!details.expires) return 'never';
  if (Date.parse(details.expires) <= now.getTime())
    return `<span class="status expired">expired</span> on ${time(details.expires, now)}`;
  return time(details.expires, now);
}

type Fact = [string, string];

/** One key's page; null when the log has no such signing key. */
export function renderKeyPage(
  state: TrustState,
  fingerprint: string,
  now: Date,
  options: KeyPageOptions = {},
): string | null {
  const key = state.signingKeys.get(fingerprint);
  if (!key) return null;
  const { status: st, reason, usableFrom } = keyStatus(state, key, now);
  const file = `${key.fingerprint}.asc`;
  const importLine = options.publicUrl
    ? `curl -sS ${options.publicUrl}/keys/${file} | gpg --import`
    : `gpg --import ${file}`;
  const facts: Fact[] = [
    ['Status', `${status(st)} — ${escapeHtml(reason)}`],
    ['Owner', personLink(state, key.owner)],
    ['Fingerprint', `<span class="fp">${escapeHtml(groupFingerprint(key.fingerprint))}</span>`],
    ['Algorithm', escapeHtml(algorithmText(key))],
    ...(options.details?.created ? ([['Created', time(options.details.created)]] as Fact[]) : []),
    ['Expires', expiryText(options.details, now)],
    ['User IDs', key.userIds.map(escapeHtml).join('<br>')],
    ['Added to the log', time(key.addedAt)],
    [
      'Authorized by',
      validAuthorizers(state, key)
        .map((f) => personLink(state, f))
        .join(', ') || '<span class="muted">nobody</span>',
    ],
    [
      'Announced',
      key.adding
        ? `${time(key.adding.at)} ${external(key.adding.url, 'ADDING announcement')}`
        : '<span class="muted">not yet</span>',
    ],
    ['Usable from', usableFrom ? time(usableFrom, now) : '—'],
    ...(key.retiredAt ? ([['Retired', time(key.retiredAt)]] as Fact[]) : []),
    ...(key.revokedSince
      ? ([
          [
            'Revoked',
            `compromised since ${time(key.revokedSince)} (${escapeHtml(key.revokeReason ?? '')}); signatures logged from then on are invalid`,
          ],
        ] as Fact[])
      : []),
    ...(key.removing
      ? ([
          ['Removal announced', `${time(key.removing.at)} ${external(key.removing.url, 'REMOVING announcement')}`],
        ] as Fact[])
      : []),
  ];
  return page(
    `~${key.username} — ${groupFingerprint(key.fingerprint)}`,
    `<h1>Package Signing Key of ~${escapeHtml(key.username)}</h1>
<dl>${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>
<p class="meta"><a href="/keys/${key.fingerprint}/history">History of this key with inclusion proofs (JSON)</a></p>
<h2 id="public-key">Public key</h2>
<p><a href="/keys/${file}" download="${file}">Download the armored public key (${file})</a>, or import it with:</p>
<pre tabindex="0"><code>${escapeHtml(importLine)}</code></pre>
<pre tabindex="0" aria-label="The armored public key">${escapeHtml(key.key)}</pre>`,
  );
}

function roleText(m: MemberState): string {
  return m.removedAt ? `former ${m.role}` : m.role;
}

/** A person's page (a member, or a root key): their key, the signing keys they own and those they authorize. */
export function renderPersonPage(state: TrustState, fingerprint: string, now: Date): string | null {
  const member = state.members.get(fingerprint);
  const root = isRootKey(state, fingerprint);
  if (!member && !root) return null;
  const keys = [...state.signingKeys.values()];
  const row = (k: SigningKeyState) =>
    `<tr><th scope="row" data-label="Fingerprint">${keyLink(k.fingerprint)}</th><td data-label="Status">${status(keyStatus(state, k, now).status)}</td><td data-label="Owner">${personLink(state, k.owner)}</td><td data-label="Added">${time(k.addedAt)}</td></tr>`;
  const owned = keys.filter((k) => k.owner === fingerprint);
  const authorized = keys.filter((k) => validAuthorizers(state, k).includes(fingerprint));
  const name = member ? `~${member.username}` : `root key ${fingerprint.slice(-16)}`;
  const facts: Fact[] = member
    ? [
        ['User name', `~${escapeHtml(member.username)}`],
        ['Role', escapeHtml(roleText(member))],
        ['Member key', `<span class="fp">${escapeHtml(groupFingerprint(fingerprint))}</span>`],
        ['Member since', time(member.addedAt)],
        ...(member.removedAt ? ([['Removed', time(member.removedAt)]] as Fact[]) : []),
      ]
    : [
        ['Role', 'root (master) key: may do anything an administrator may'],
        ['Fingerprint', `<span class="fp">${escapeHtml(groupFingerprint(fingerprint))}</span>`],
      ];
  const headers = ['Fingerprint', 'Status', 'Owner', 'Added'];
  return page(
    `${name} — ${state.origin}`,
    `<h1>${escapeHtml(name)}</h1>
<dl>${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>
<h2 id="owned">Signing keys owned</h2>
${table(`Package signing keys of ${escapeHtml(name)} (${owned.length})`, headers, owned.map(row), 'None.')}
<h2 id="authorized">Signing keys authorized</h2>
${table(`Keys ${escapeHtml(name)} certifies as a valid authorization (${authorized.length})`, headers, authorized.map(row), 'None.')}
${member ? `<h2 id="member-key">Member key</h2><pre tabindex="0" aria-label="The armored member key">${escapeHtml(member.key)}</pre>` : ''}`,
  );
}

export type SignatureKind = 'package' | 'module';

/** Every published signature of a package (or module), with its verdict and its proof; null when none. */
export function renderSignaturesPage(state: TrustState, kind: SignatureKind, name: string): string | null {
  const list =
    kind === 'package'
      ? state.packageSignatures.filter((s) => s.package === name)
      : state.moduleSignatures.filter((s) => s.module === name);
  if (list.length === 0) return null;
  const rows = list.map((s) => {
    const verdict = packageSignatureValid(state, s);
    const key = state.signingKeys.get(s.signer);
    const signer = key
      ? `${personLink(state, key.owner)}<br>${keyLink(s.signer)}`
      : `<span class="fp">${escapeHtml(groupFingerprint(s.signer))}</span>`;
    const what =
      'artifactSha512' in s
        ? `<a href="/artifacts/${escapeHtml(s.artifactSha512)}">Artifact (${s.artifactSize} bytes)</a>`
        : `module.sig of ${'files' in s ? s.files : 0} files`;
    return `<tr><th scope="row" data-label="Version">${escapeHtml(s.version)}</th>
<td data-label="Signer">${signer}</td>
<td data-label="Signed">${time(s.signatureCreated)}</td>
<td data-label="Logged">${time(s.recordedAt)}</td>
<td data-label="Verdict"><span class="status ${verdict.valid ? 'good' : 'bad'}">${verdict.valid ? 'good' : 'invalid'}</span> — ${escapeHtml(verdict.reason)}</td>
<td data-label="Evidence">${what}<br><a href="/log/events/${s.seq}">Event ${s.seq} in the log (JSON)</a><br><a href="/log/proof/inclusion?seq=${s.seq}">Inclusion proof of event ${s.seq} (JSON)</a></td></tr>`;
  });
  const label = kind === 'package' ? 'Package' : 'FreePBX module';
  const json = `/${kind}s/${encodeURIComponent(name)}/signatures`;
  return page(
    `${label} ${name} — ${state.origin}`,
    `<h1>${label} ${escapeHtml(name)}</h1>
<p class="meta"><a href="${escapeHtml(json)}">These signatures as JSON</a></p>
${table(
  `Every published signature of ${escapeHtml(name)} (${list.length})`,
  ['Version', 'Signer', 'Signed', 'Logged', 'Verdict', 'Evidence'],
  rows.reverse(),
  'None.',
)}`,
  );
}

/** One announcement as posted on the built-in feed (the page its Atom entry links to). */
export function renderAnnouncementPage(state: TrustState, a: AnnouncementState): string {
  const key = state.signingKeys.get(a.fingerprint);
  return page(
    `${a.kind} — ${state.origin}`,
    `<h1>Announcement</h1>
<p><strong>${escapeHtml(a.text)}</strong></p>
<dl><dt>Posted</dt><dd>${time(a.recordedAt)}</dd>
<dt>Key</dt><dd>${key ? keyLink(a.fingerprint) : escapeHtml(a.fingerprint)}</dd>
<dt>In the log</dt><dd><a href="/log/events/${a.cause}">The event announced, seq ${a.cause} (JSON)</a>; <a href="/log/events/${a.seq}">this post, seq ${a.seq} (JSON)</a></dd></dl>`,
  );
}

/** What a search found (libs/render/src/search.ts). */
export interface SearchResults {
  readonly keys: readonly SigningKeyState[];
  readonly people: readonly { fingerprint: string; name: string }[];
  readonly packages: readonly { kind: SignatureKind; name: string; signatures: number }[];
}

export function renderSearchPage(state: TrustState, query: string, results: SearchResults, now: Date): string {
  const keyRows = results.keys.map(
    (k) =>
      `<tr><th scope="row" data-label="Fingerprint">${keyLink(k.fingerprint)}</th><td data-label="Status">${status(keyStatus(state, k, now).status)}</td><td data-label="Owner">${personLink(state, k.owner)}</td><td data-label="User IDs">${k.userIds.map(escapeHtml).join('<br>')}</td></tr>`,
  );
  const peopleRows = results.people.map(
    (p) =>
      `<tr><th scope="row" data-label="Person">${personLink(state, p.fingerprint)}</th><td data-label="Key" class="fp">${escapeHtml(groupFingerprint(p.fingerprint))}</td></tr>`,
  );
  const packageRows = results.packages.map(
    (p) =>
      `<tr><th scope="row" data-label="Name"><a href="/${p.kind}s/${encodeURIComponent(p.name)}">${p.kind === 'package' ? 'Package' : 'Module'} ${escapeHtml(p.name)}</a></th><td data-label="Signatures">${p.signatures}</td></tr>`,
  );
  const total = keyRows.length + peopleRows.length + packageRows.length;
  const q = escapeHtml(query);
  return page(
    `Search: ${query} — ${state.origin}`,
    `<h1>Search results for “${q}”</h1>
<p>${total === 0 ? 'Nothing matches: try a whole fingerprint, a key ID (its last 16 hex digits), a user name or a package name.' : `${total} found.`}</p>
${keyRows.length ? table(`Signing keys matching “${q}”`, ['Fingerprint', 'Status', 'Owner', 'User IDs'], keyRows, '') : ''}
${peopleRows.length ? table(`People matching “${q}”`, ['Person', 'Key'], peopleRows, '') : ''}
${packageRows.length ? table(`Packages and modules matching “${q}”`, ['Name', 'Signatures'], packageRows, '') : ''}`,
    query,
  );
}

const REASONS: Record<number, string> = {
  400: 'Bad request',
  403: 'Not allowed',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  413: 'Too large',
  415: 'Unsupported media type',
  422: 'Refused',
  500: 'Internal error',
  503: 'Unavailable',
};

/** The error page a browser gets where a program gets `{code, message}` (same status, same code). */
export function renderErrorPage(statusCode: number, code: string, message: string): string {
  const reason = REASONS[statusCode] ?? 'Error';
  return page(
    `${statusCode} ${reason} — Signet`,
    `<h1>${statusCode} ${escapeHtml(reason)}</h1>
<p>${escapeHtml(message)}</p>
<p class="meta">Error code <code>${escapeHtml(code)}</code>${statusCode === 503 ? ' · try again in a moment' : ''}</p>
<p><a href="/">Back to the list of Package Signing Keys</a></p>`,
  );
}
