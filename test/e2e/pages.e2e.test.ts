import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApp } from '../support/app.js';
import { Gpg } from '../support/gpg.js';
import { StoryClient, day } from '../support/story.js';

// The pages for people, against the built server with real GnuPG, in headless Chromium: what
// they show (expiry, algorithm, the armored key and its `gpg --import` line, people and keys
// linked, packages with verdicts and proofs, search), an accessibility check by axe-core run in
// each page, text from outside kept inert under the Content-Security-Policy, error pages for
// browsers and the same JSON as before for programs, and the security headers.

const CHROMIUM = '/usr/bin/chromium';
const PUBLIC_URL = 'https://keys.mybb.example';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const grouped = (fpr: string) => fpr.replace(/(.{4})(?!$)/g, '$1 ');
/** A user ID that would run script if it were ever written into a page unescaped. */
const HOSTILE_UID = `Mallory"><script>window.pwned=1</script><img src=x onerror="window.pwned=2"> <mallory@example.org>`;

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

interface PageFacts {
  pwned: number | null;
  scripts: number;
  images: number;
  styled: string;
  feed: string | null;
  tables: { caption: string | null; unscoped: number }[];
  times: string[];
  vagueLinks: string[];
}

/**
 * What a page holds, read in the page (a string: the tests compile without the DOM's types):
 * whether a script ran, its style applied, the feed link, each table's caption and headers
 * without a scope, each <time>'s datetime, and links that do not say where they go.
 */
const PAGE_FACTS = `(() => ({
  pwned: window.pwned ?? null,
  scripts: document.scripts.length,
  images: document.images.length,
  styled: getComputedStyle(document.querySelector('main')).maxWidth,
  feed: document.querySelector('link[rel="alternate"][type="application/atom+xml"]')?.getAttribute('href') ?? null,
  tables: [...document.querySelectorAll('table')].map((t) => ({
    caption: t.caption?.textContent ?? null,
    unscoped: [...t.querySelectorAll('th')].filter((th) => !['col', 'row'].includes(th.scope)).length,
  })),
  times: [...document.querySelectorAll('time')].map((t) => t.dateTime),
  vagueLinks: [...document.querySelectorAll('a')]
    .map((a) => a.textContent.trim())
    .filter((t) => /^(here|link|click here|announcement|more)$/i.test(t)),
}))()`;

describe('the pages for people', () => {
  const gpg = new Gpg();
  const work = mkdtempSync(join(tmpdir(), 'signet-pages-e2e-'));
  const s = new StoryClient(gpg, work, 'e2e.signet.test/pages', join(work, 'clock'));
  const fpr: Record<string, string> = {};
  const seqs: Record<string, number> = {};
  let app: RunningApp;
  let browser: Browser | null = null;

  /** An Ed25519 key made by gpg, expiring at `expire` (`never`, or an ISO date). */
  function genKey(userId: string, email: string, expire: string): string {
    gpg.run(['--passphrase', '', '--quick-gen-key', userId, 'ed25519', 'sign', expire], day(-30));
    return /^fpr:+([0-9A-F]{40}):/m.exec(gpg.run(['--with-colons', '--list-keys', email]))![1]!;
  }

  beforeAll(async () => {
    fpr.root = genKey('Root (master) <root@example.org>', 'root@example.org', 'never');
    fpr.alice = genKey('Alice <alice@example.org>', 'alice@example.org', 'never');
    fpr.eve = genKey('Eve <eve@example.org>', 'eve@example.org', 'never');
    fpr.sign = genKey('Eve (CODE SIGNING KEY) <eve@mybb.example>', 'eve@mybb.example', '2027-06-30');
    fpr.old = genKey('Eve (CODE SIGNING KEY) <eve-old@mybb.example>', 'eve-old@mybb.example', 'never');
    gpg.run(['--quick-add-uid', fpr.sign, HOSTILE_UID], day(-30));
    s.setClock(day(0));
    ({ app } = await s.start(fpr.root, {
      SIGNET_DATA_DIR: join(work, 'data'),
      SIGNET_CLOCK_FILE: s.clockFile,
      SIGNET_PUBLIC_URL: PUBLIC_URL,
      SIGNET_ALLOW_ED25519: '1',
      SIGNET_SWEEP_MS: '200',
      SIGNET_OUTBOX_POLL_MS: '50',
    }));
    for (const [who, name, role] of [
      ['alice', 'Alice', 'leader'],
      ['eve', 'Eve', 'member'],
    ] as const) {
      expect(s.post(fpr.root, { type: 'AddMember', key: gpg.exportKey(fpr[who]!), username: name, role }).status).toBe(
        201,
      );
    }
    for (const key of [fpr.sign, fpr.old]) {
      gpg.certify(fpr.eve, key, day(0));
      gpg.certify(fpr.alice, key, day(0));
      const added = s.post(fpr.eve, { type: 'AddSigningKey', key: gpg.exportKey(key) });
      expect([added.status, added.body.code]).toEqual([201, undefined]);
    }
    // Announced by the workers, usable after the waiting period.
    await s.settle();
    s.setClock(day(15));
    await s.settle();
    for (const [version, key, at] of [
      ['1.8.37', fpr.old, day(15)],
      ['1.8.38', fpr.sign, day(15)],
    ] as const) {
      const r = await s.publish(key, 'mybb', version, at);
      expect(r.status).toBe(201);
      seqs[version] = (r.body as unknown as { event: { seq: number } }).event.seq;
    }
    s.setClock(day(17));
    const late = await s.publish(fpr.old, 'mybb', '1.8.39', day(17));
    seqs['1.8.39'] = (late.body as unknown as { event: { seq: number } }).event.seq;
    // The old key was stolen on day 16: what was logged from then on is invalid.
    const revoked = s.post(fpr.root, {
      type: 'RevokeSigningKey',
      fingerprint: fpr.old,
      reason: 'laptop stolen',
      since: day(16).toISOString(),
    });
    expect(revoked.status).toBe(201);
    await s.settle();

    if (existsSync(CHROMIUM)) {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    } else if (process.env.CI || process.env.SIGNET_REQUIRE_CHROMIUM) {
      throw new Error(`${CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium`);
    } else {
      console.warn(`skipping the browser checks: ${CHROMIUM} is not installed`);
    }
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop('SIGKILL');
    gpg.remove();
    rmSync(work, { recursive: true, force: true });
  });

  const html = async (path: string) => {
    const res = await fetch(`${s.url}${path}`, { headers: { accept: BROWSER_ACCEPT } });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };

  /** The pages axe checks, each with what must be on it. */
  const PAGES = (): [string, string, number][] => [
    ['listing', '/', 200],
    ['key', `/keys/${fpr.sign}`, 200],
    ['revoked key', `/keys/${fpr.old}`, 200],
    ['person', `/people/${fpr.eve}`, 200],
    ['root', `/people/${fpr.root}`, 200],
    ['package', '/packages/mybb', 200],
    ['search', '/search?q=eve', 200],
    ['hostile search', `/search?q=${encodeURIComponent('"><script>window.pwned=3</script>')}`, 200],
    ['not found', `/keys/${'0'.repeat(40)}`, 404],
    ['bad search', '/search?q=', 400],
  ];

  it("shows a key's algorithm, expiry and dates, its armored key to download and the gpg --import line", async () => {
    const { text } = await html(`/keys/${fpr.sign}`);
    expect(text).toContain('Ed25519, 256 bits');
    expect(text).toMatch(
      /<dt>Expires<\/dt><dd><time datetime="2027-06-30T[\d:.]+Z">30 Jun 2027, \d\d:\d\d UTC<\/time>/,
    );
    expect(text).toMatch(/<dt>Created<\/dt><dd><time datetime="2025-12-02T/);
    expect(text).toContain(`<a href="/keys/${fpr.sign}.asc" download="${fpr.sign}.asc">`);
    expect(text).toContain(`curl -sS ${PUBLIC_URL}/keys/${fpr.sign}.asc | gpg --import`);
    expect(text).toContain(`<a href="/people/${fpr.eve}">~Eve</a>`); // owner
    expect(text).toContain(`<a href="/people/${fpr.alice}">~Alice</a>`); // authorized by
    const old = (await html(`/keys/${fpr.old}`)).text;
    expect(old).toContain('<dt>Expires</dt><dd>never</dd>');
    expect(old).toContain('<span class="status revoked">revoked</span>');

    // The download is the key itself: gpg imports it with the fingerprint the page names.
    const res = await fetch(`${s.url}/keys/${fpr.sign}.asc`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pgp-keys; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${fpr.sign}.asc"`);
    const other = new Gpg();
    try {
      other.importKey(await res.text());
      expect(other.run(['--with-colons', '--list-keys'])).toContain(`fpr:::::::::${fpr.sign}:`);
    } finally {
      other.remove();
    }
    expect((await fetch(`${s.url}/keys/${'0'.repeat(40)}.asc`)).status).toBe(404);
    expect((await fetch(`${s.url}/keys/nothex.asc`)).status).toBe(400);
  });

  it('links people and keys both ways', async () => {
    const eve = (await html(`/people/${fpr.eve}`)).text;
    expect(eve).toContain('<h1>~Eve</h1>');
    for (const k of [fpr.sign, fpr.old]) expect(eve).toContain(`<a class="fp" href="/keys/${k}">${grouped(k!)}</a>`);
    const alice = (await html(`/people/${fpr.alice}`)).text;
    expect(alice).toMatch(/Keys ~Alice certifies as a valid authorization \(2\)/);
    const listing = (await html('/')).text;
    expect(listing).toContain(`<a href="/people/${fpr.alice}">~Alice</a>`);
    expect(listing).toContain(`<a class="fp" href="/keys/${fpr.sign}">`);
    expect((await html(`/people/${fpr.sign}`)).status).toBe(404); // a signing key is no person
    expect((await html('/people/xyz')).status).toBe(400);
  });

  it('shows every published signature of a package with its verdict and a link to its inclusion proof', async () => {
    const { text } = await html('/packages/mybb');
    const rows = [...text.matchAll(/<tr><th scope="row" data-label="Version">([^<]+)<\/th>[\s\S]*?<\/tr>/g)];
    expect(rows.map((r) => r[1])).toEqual(['1.8.39', '1.8.38', '1.8.37']);
    const verdict = (row: string) => /<span class="status (good|bad)">/.exec(row)![1];
    expect(rows.map((r) => verdict(r[0]))).toEqual(['bad', 'good', 'good']);
    for (const [version, seq] of Object.entries(seqs)) {
      expect(text).toContain(`<a href="/log/proof/inclusion?seq=${seq}">Inclusion proof of event ${seq} (JSON)</a>`);
      const proof = (await (await fetch(`${s.url}/log/proof/inclusion?seq=${seq}`)).json()) as { seq: number };
      expect([version, proof.seq]).toEqual([version, seq]);
    }
    expect((await html('/packages/nothing-here')).status).toBe(404);
    expect((await html('/packages/.hidden')).status).toBe(400);
    expect((await html('/modules/mybb')).status).toBe(404);
  });

  it('finds keys, people and packages by fingerprint, key ID, user name or package name', async () => {
    const found = async (q: string) => (await html(`/search?q=${encodeURIComponent(q)}`)).text;
    expect(await found(grouped(fpr.sign!))).toContain(`href="/keys/${fpr.sign}"`);
    expect(await found(fpr.sign!.slice(-16).toLowerCase())).toContain(`href="/keys/${fpr.sign}"`);
    expect(await found(`0x${fpr.alice!.slice(-8)}`)).toContain(`href="/people/${fpr.alice}"`);
    expect(await found('alice')).toContain(`href="/people/${fpr.alice}"`);
    expect(await found('~Eve')).toContain(`href="/people/${fpr.eve}"`);
    const pkg = await found('MYB');
    expect(pkg).toContain('<a href="/packages/mybb">Package mybb</a></th><td data-label="Signatures">3</td>');
    expect(await found('no such thing')).toContain('Nothing matches');
  });

  it('answers bad searches and bad paths with a 4xx page, never a 5xx', async () => {
    for (const q of [
      '',
      '?q=',
      '?q=%20%20',
      '?q=a&q=b',
      '?q=%00',
      '?q=line%0Abreak',
      `?q=${'x'.repeat(201)}`,
      '?q[a]=1',
    ]) {
      const page = await html(`/search${q}`);
      expect([q, page.status]).toEqual([q, 400]);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.text).toContain('<h1>400 Bad request</h1>');
    }
    for (const path of ['/keys/%3Cscript%3E', '/people/%00', '/packages/%3Cb%3E', '/modules/.hidden', '/%E0%A4%A']) {
      const page = await html(path);
      expect(page.status, path).toBeGreaterThanOrEqual(400);
      expect(page.status, path).toBeLessThan(500);
      expect(page.text).not.toMatch(/<script|<b>/);
    }
    // A query Fastify cannot percent-decode is searched for as it came: no match, no error.
    for (const q of ['%E0%A4%A', '%3Cb%3E%E0']) {
      const page = await html(`/search?q=${q}`);
      expect([q, page.status]).toEqual([q, 200]);
      expect(page.text).not.toMatch(/<script|<b>/);
    }
  });

  it('gives browsers an error page and API clients the same JSON as before', async () => {
    const path = `/keys/${'0'.repeat(40)}`;
    const body = `{"code":"NOT_FOUND","message":"no package signing key ${'0'.repeat(40)} is in the log"}`;
    for (const accept of [
      undefined,
      '*/*',
      'application/json',
      'application/json, text/html',
      'text/html;q=0.5, */*',
    ]) {
      const res = await fetch(`${s.url}${path}`, { headers: accept ? { accept } : {} });
      expect([accept, res.status, res.headers.get('content-type'), await res.text()]).toEqual([
        accept,
        404,
        'application/json; charset=utf-8',
        body,
      ]);
    }
    const page = await html(path);
    expect(page.status).toBe(404);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.text).toContain('<code>NOT_FOUND</code>');
    expect(page.headers.get('vary')).toBe('accept');
    // Fastify's own refusal (a URL it cannot decode) and an unknown path too.
    const bad = await fetch(`${s.url}/%E0%A4%A`);
    expect([bad.status, ((await bad.json()) as { code: string }).code]).toEqual([400, 'BAD_REQUEST']);
    expect((await html('/%E0%A4%A')).text).toContain('<code>BAD_REQUEST</code>');
    expect((await html('/no/such/page')).text).toContain('<h1>404 Not found</h1>');
  });

  it('sends the security headers on pages, JSON, errors and the fast path', async () => {
    const snapshot = await fetch(`${s.url}/trust/snapshot`);
    const etag = snapshot.headers.get('etag')!;
    const answers = [
      ['page', await fetch(`${s.url}/`)],
      ['json', await fetch(`${s.url}/trust/state`)],
      ['error', await fetch(`${s.url}/keys/x`)],
      ['page error', await fetch(`${s.url}/keys/x`, { headers: { accept: BROWSER_ACCEPT } })],
      ['framework error', await fetch(`${s.url}/%E0%A4%A`)],
      ['fast path', snapshot],
      ['controller snapshot', await fetch(`${s.url}/trust/snapshot?size=3`)],
    ] as const;
    for (const [what, res] of answers) {
      const csp = res.headers.get('content-security-policy') ?? '';
      expect([what, res.headers.get('x-content-type-options')]).toEqual([what, 'nosniff']);
      expect([what, res.headers.get('referrer-policy')]).toEqual([what, 'no-referrer']);
      expect([what, csp.includes("frame-ancestors 'none'"), csp.includes("default-src 'none'")]).toEqual([
        what,
        true,
        true,
      ]);
      expect(csp).not.toContain('script-src');
    }
    const notModified = await fetch(`${s.url}/trust/snapshot`, { headers: { 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
    const docs = await fetch(`${s.url}/docs`);
    expect(docs.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('passes axe-core with no serious or critical violation, on a phone and a desktop', async (ctx) => {
    if (!browser) return ctx.skip();
    mkdirSync(ARTIFACTS, { recursive: true });
    for (const [device, viewport] of [
      ['phone', { width: 390, height: 844 }],
      ['desktop', { width: 1280, height: 800 }],
    ] as const) {
      // axe is injected as a script, which the pages' own policy forbids: this context lets it in.
      const context = await browser.newContext({ viewport, bypassCSP: true });
      try {
        for (const [name, path, status] of PAGES()) {
          const page = await context.newPage();
          const res = await page.goto(`${s.url}${path}`);
          expect([name, res!.status()]).toEqual([name, status]);
          await page.addScriptTag({ content: AXE });
          const violations = (await page.evaluate(async () => {
            const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } }).axe;
            return (await axe.run()).violations;
          })) as AxeViolation[];
          const grave = violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map(
              (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`,
            );
          expect([device, name, grave]).toEqual([device, name, []]);
          // Nothing overflows a phone's screen sideways.
          expect([name, await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')]).toEqual([
            name,
            true,
          ]);
          await page.screenshot({
            path: join(ARTIFACTS, `page-${name.replace(/ /g, '-')}-${device}.png`),
            fullPage: true,
          });
          await page.close();
        }
      } finally {
        await context.close();
      }
    }
  }, 300_000);

  it('keeps hostile text inert: escaped, no script runs, and the style is the only thing the policy lets in', async (ctx) => {
    if (!browser) return ctx.skip();
    const context: BrowserContext = await browser.newContext();
    try {
      const page: Page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('dialog', (d) => {
        problems.push(`dialog: ${d.message()}`);
        void d.dismiss();
      });
      page.on('pageerror', (e) => problems.push(e.message));
      for (const [name, path] of PAGES()) {
        await page.goto(`${s.url}${path}`);
        const facts = await page.evaluate<PageFacts>(PAGE_FACTS);
        expect([name, facts.pwned, facts.scripts, facts.images]).toEqual([name, null, 0, 0]);
        expect([name, facts.styled]).toEqual([name, '1152px']); // the inline style is allowed by its hash
        expect([name, facts.feed]).toEqual([name, '/announcements.atom']);
        for (const t of facts.tables)
          expect([name, t.caption !== null && t.caption.length > 0, t.unscoped]).toEqual([name, true, 0]);
        for (const t of facts.times) expect([name, t, Number.isNaN(Date.parse(t))]).toEqual([name, t, false]);
        expect([name, facts.vagueLinks]).toEqual([name, []]);
      }
      // The hostile user ID is on the key page as text.
      await page.goto(`${s.url}/keys/${fpr.sign}`);
      expect(await page.locator('dd', { hasText: 'mallory@example.org' }).textContent()).toContain(
        '<script>window.pwned=1</script>',
      );
      await page.goto(`${s.url}/search?q=${encodeURIComponent('"><script>window.pwned=3</script>')}`);
      expect(await page.locator('h1').textContent()).toBe('Search results for “"><script>window.pwned=3</script>”');
      expect(await page.locator('input[name=q]').inputValue()).toBe('"><script>window.pwned=3</script>');
      // The OpenAPI browser runs its own scripts under its own policy.
      await page.goto(`${s.url}/docs`);
      await page.locator('.opblock').first().waitFor();
      // No page asked for anything its policy refused (the 4xx pages log their status, nothing else).
      expect(problems.filter((p) => !/status of 40\d/.test(p))).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
