import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type EventDraft, emptyState, evolve, genesisDraft } from '@signet/domain';
import {
  PAGE_STYLE_HASH,
  PackageNames,
  escapeHtml,
  humanTime,
  relativeTime,
  renderErrorPage,
  renderKeyPage,
  renderListingPage,
  renderPersonPage,
  renderSearchPage,
  renderSignaturesPage,
  search,
  searchQuery,
} from '@signet/render';
import { createHash } from 'node:crypto';

const SIGN = 'FEEDDEAFABBABEADBABEFACEDEADBEEFCEDECAFE';
const EVE = 'E'.repeat(40);
const ALICE = 'A'.repeat(40);

function state(extra: EventDraft[] = []) {
  const s = emptyState();
  const drafts: EventDraft[] = [
    genesisDraft({ origin: 'signet.test/log', verifierKey: 'vk', policy: { ...DEFAULT_POLICY, rootKeys: [] } }),
    {
      type: 'MemberAdded',
      v: 1,
      stream: `member/${ALICE}`,
      actor: 'root',
      data: { fingerprint: ALICE, username: 'Alice', role: 'leader', key: 'k' },
      evidence: null,
    },
    {
      type: 'MemberAdded',
      v: 1,
      stream: `member/${EVE}`,
      actor: 'root',
      data: { fingerprint: EVE, username: 'Eve', role: 'member', key: 'k' },
      evidence: null,
    },
    {
      type: 'SigningKeyAdded',
      v: 1,
      stream: `signing-key/${SIGN}`,
      actor: EVE,
      data: {
        fingerprint: SIGN,
        owner: EVE,
        username: 'Eve',
        key: '-----BEGIN PGP PUBLIC KEY BLOCK-----\n<script>alert(1)</script>',
        algorithm: 'rsa',
        bits: 4096,
        userIds: ['Eve (CODE SIGNING KEY) <eve@example.org>'],
      },
      evidence: null,
    },
    {
      type: 'SigningKeyCertified',
      v: 1,
      stream: `signing-key/${SIGN}`,
      actor: ALICE,
      data: { fingerprint: SIGN, certifier: ALICE, via: 'command', certifiedAt: '2026-01-01T00:00:00.000Z' },
      evidence: null,
    },
    {
      type: 'SigningKeyAuthorized',
      v: 1,
      stream: `signing-key/${SIGN}`,
      actor: 'log',
      data: { fingerprint: SIGN, authorizedBy: [ALICE] },
      evidence: null,
    },
    {
      type: 'AnnouncementRecorded',
      v: 1,
      stream: `signing-key/${SIGN}`,
      actor: ALICE,
      data: {
        fingerprint: SIGN,
        kind: 'ADDING',
        url: 'https://x.example/"><script>',
        text: 'ADDING Package Signing Key of ~Eve (FEED …).',
      },
      evidence: null,
    },
    ...extra,
  ];
  drafts.forEach((d, i) =>
    evolve(s, { ...d, seq: i, recordedAt: i < 7 ? '2026-01-01T00:00:00.000Z' : '2026-01-20T00:00:00.000Z' }),
  );
  return s;
}

const published = (pkg: string, version: string): EventDraft => ({
  type: 'PackageSignaturePublished',
  v: 1,
  stream: `package/${pkg}`,
  actor: SIGN,
  data: {
    package: pkg,
    version,
    artifactSha512: 'a'.repeat(128),
    artifactSize: 42,
    signer: SIGN,
    signatureCreated: '2026-01-19T12:00:00.000Z',
    signature: 'sig',
  },
  evidence: null,
});
const revoked: EventDraft = {
  type: 'SigningKeyRevoked',
  v: 1,
  stream: `signing-key/${SIGN}`,
  actor: 'root',
  data: { fingerprint: SIGN, since: '2026-01-10T00:00:00.000Z', reason: 'laptop <stolen>' },
  evidence: null,
};

describe('the HTML key listing', () => {
  it('lists the key with its grouped fingerprint, status and announcement, escaped', () => {
    const html = renderListingPage(state(), new Date('2026-01-20T00:00:00Z'));
    expect(html).toContain('FEED DEAF ABBA BEAD BABE FACE DEAD BEEF CEDE CAFE');
    expect(html).toContain('<span class="status active">active</span>');
    expect(html).toContain('href="https://x.example/&quot;&gt;&lt;script&gt;"');
    expect(html).not.toContain('"><script>');
    expect(html).toContain('name="viewport"');
  });
  it('renders a key page, escaping the key block, and nothing for an unknown key', () => {
    const html = renderKeyPage(state(), SIGN, new Date('2026-01-05T00:00:00Z'))!;
    expect(html).toContain('<span class="status waiting">waiting</span>');
    expect(html).toContain('~Alice');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(renderKeyPage(state(), 'F'.repeat(40), new Date())).toBeNull();
    expect(escapeHtml(`<a href="x" onclick='y'>&`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;');
  });
});

describe('the pages for people', () => {
  const now = new Date('2026-01-20T00:00:00Z');

  it('give every table a caption and its headers a scope, every time a machine-readable instant, and the feed', () => {
    const html = renderListingPage(state(), now);
    expect(html).toContain('<caption>Keys that may sign packages (1)</caption>');
    expect(html).toContain("<caption>The project's members (2)</caption>");
    expect(html).not.toMatch(/<th(?![a-z])(?! scope="(col|row)")/);
    expect(html).toContain('<time datetime="2026-01-01">1 Jan 2026</time>');
    expect(html).toContain('<link rel="alternate" type="application/atom+xml"');
    expect(html).toContain(`<a href="/people/${EVE}">~Eve</a>`);
    expect(html).toContain('>announcement on x.example</a>');
    expect(html).toContain('<form action="/search" method="get" role="search">');
  });

  it('carry the one inline style the Content-Security-Policy allows by its hash', () => {
    const style = /<style>([\s\S]*?)<\/style>/.exec(renderListingPage(state(), now))![1]!;
    expect(PAGE_STYLE_HASH).toBe(`sha256-${createHash('sha256').update(style).digest('base64')}`);
    expect(renderListingPage(state(), now)).not.toMatch(/<script|style="|\son[a-z]+=/);
  });

  it("show a key's algorithm, expiry, download link and gpg --import line", () => {
    const soon = { created: '2025-12-01T00:00:00.000Z', expires: '2026-02-19T00:00:00.000Z' };
    const html = renderKeyPage(state(), SIGN, now, { details: soon, publicUrl: 'https://keys.example' })!;
    expect(html).toContain('<dt>Algorithm</dt><dd>RSA, 4096 bits</dd>');
    expect(html).toContain(
      '<dt>Expires</dt><dd><time datetime="2026-02-19T00:00:00.000Z">19 Feb 2026, 00:00 UTC</time> <span class="muted">(in 30 days)</span></dd>',
    );
    expect(html).toContain(`<a href="/keys/${SIGN}.asc" download="${SIGN}.asc">`);
    expect(html).toContain(`curl -sS https://keys.example/keys/${SIGN}.asc | gpg --import`);
    expect(html).toContain(`<a href="/people/${EVE}">~Eve</a>`);
    expect(html).toContain(`<a href="/people/${ALICE}">~Alice</a>`);
    const expired = renderKeyPage(state(), SIGN, now, { details: { created: null, expires: '2026-01-02T00:00:00Z' } })!;
    expect(expired).toContain('<span class="status expired">expired</span> on');
    const never = renderKeyPage(state(), SIGN, now, { details: { created: null, expires: null } })!;
    expect(never).toContain('<dt>Expires</dt><dd>never</dd>');
    // An archived copy has no key details and no public URL.
    const archived = renderKeyPage(state(), SIGN, now)!;
    expect(archived).toContain(`gpg --import ${SIGN}.asc`);
    expect(archived).toContain('not shown in this copy');
  });

  it("show a person's keys, owned and authorized, and nothing for a stranger", () => {
    const eve = renderPersonPage(state(), EVE, now)!;
    expect(eve).toContain('<caption>Package signing keys of ~Eve (1)</caption>');
    expect(eve).toContain(`href="/keys/${SIGN}"`);
    const alice = renderPersonPage(state(), ALICE, now)!;
    expect(alice).toContain('<caption>Keys ~Alice certifies as a valid authorization (1)</caption>');
    expect(renderPersonPage(state(), SIGN, now)).toBeNull();
  });

  it('show every published signature of a package with its verdict and inclusion proof link', () => {
    const s = state([published('mybb', '1.8.38'), revoked, published('other', '1')]);
    const html = renderSignaturesPage(s, 'package', 'mybb')!;
    expect(html).toContain('<caption>Every published signature of mybb (1)</caption>');
    expect(html).toContain('<span class="status bad">invalid</span>');
    expect(html).toContain('<a href="/log/proof/inclusion?seq=7">Inclusion proof of event 7 (JSON)</a>');
    expect(html).toContain(`<a href="/artifacts/${'a'.repeat(128)}">Artifact (42 bytes)</a>`);
    expect(html).not.toContain('1</th>'); // the other package's
    expect(renderSignaturesPage(s, 'package', 'none')).toBeNull();
    expect(renderSignaturesPage(s, 'module', 'mybb')).toBeNull();
    const good = renderSignaturesPage(state([published('mybb', '1.8.38')]), 'package', 'mybb')!;
    expect(good).toContain('<span class="status good">good</span>');
  });

  it('search by fingerprint, key ID, user name, user ID or package', () => {
    const s = state([published('mybb', '1.8.38'), published('mybb', '1.8.39'), published('plugin-x', '1')]);
    const names = new PackageNames();
    expect(
      search(s, 'feed deaf abba bead babe face dead beef cede cafe', names).keys.map((k) => k.fingerprint),
    ).toEqual([SIGN]);
    expect(search(s, '0xDEADBEEFCEDECAFE', names).keys).toHaveLength(1);
    expect(search(s, 'EEEEEEEE', names).people).toEqual([{ fingerprint: EVE, name: 'Eve' }]);
    expect(search(s, '~alice', names).people.map((p) => p.name)).toEqual(['Alice']);
    expect(search(s, 'eve@example.org', names).keys).toHaveLength(1);
    expect(search(s, 'MYBB', names).packages).toEqual([{ kind: 'package', name: 'mybb', signatures: 2 }]);
    // Signatures published later are counted on the next search.
    evolve(s, { ...published('mybb', '1.8.40'), seq: s.size, recordedAt: '2026-01-21T00:00:00.000Z' });
    expect(search(s, 'mybb', names).packages[0]!.signatures).toBe(3);
    const page = renderSearchPage(s, '<script>x</script>', search(s, '<script>x</script>', names), now);
    expect(page).toContain('Search results for “&lt;script&gt;x&lt;/script&gt;”');
    expect(page).toContain('value="&lt;script&gt;x&lt;/script&gt;"');
    expect(page).not.toContain('<script>');
  });

  it('refuse a search that is empty, repeated, too long or not one line', () => {
    expect(searchQuery('  mybb ')).toBe('mybb');
    for (const bad of [undefined, '', '   ', ['a', 'b'], 'x'.repeat(201), 'a\nb', 'a\u0000', 42])
      expect(() => searchQuery(bad)).toThrow(expect.objectContaining({ code: 'BAD_PARAMETER' }));
  });

  it('render an error page with its status and code, escaped', () => {
    const html = renderErrorPage(404, 'NOT_FOUND', 'no key <b>x</b>');
    expect(html).toContain('<h1>404 Not found</h1>');
    expect(html).toContain('no key &lt;b&gt;x&lt;/b&gt;');
    expect(html).toContain('<code>NOT_FOUND</code>');
  });

  it('write times for people', () => {
    expect(humanTime('2026-01-05T14:03:59.000Z')).toBe('5 Jan 2026, 14:03 UTC');
    expect(humanTime('2026-12-31')).toBe('31 Dec 2026');
    expect(relativeTime('2026-01-23T00:00:00Z', now)).toBe('in 3 days');
    expect(relativeTime('2026-01-19T23:00:00Z', now)).toBe('1 hour ago');
    expect(relativeTime('2027-02-01T00:00:00Z', now)).toBe('in 1 year');
    expect(relativeTime('2026-01-20T00:00:20Z', now)).toBe('now');
  });
});
