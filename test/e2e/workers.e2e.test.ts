import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFeed } from '@rowanmanning/feed-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startWorker } from '../support/app.js';
import { type Backend, newBackend } from '../support/backends.js';
import { Gpg } from '../support/gpg.js';
import { StoryClient, day } from '../support/story.js';
import { type Receiver, hmacValid, receiver } from '../support/workers.js';

// The MyBB story told with the workers doing the announcing, activating and archiving, against
// the built server with real GnuPG, the clock moved through SIGNET_CLOCK_FILE. Twice: the
// embedded default (PGlite, workers inside `npm start`) and production's shape (Postgres, the
// API with its workers off, and apps/worker on BullMQ).

const CHROMIUM = '/usr/bin/chromium';
const REDIS_URL = process.env.SIGNET_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const grouped = (fpr: string) => fpr.replace(/(.{4})(?!$)/g, '$1 ');

interface Event {
  seq: number;
  type: string;
  recordedAt: string;
  data: Record<string, unknown>;
}

const modes = [
  { name: 'PGlite, workers in npm start', backend: 'pglite' as const, bullmq: false },
  { name: 'Postgres, apps/worker on BullMQ', backend: 'postgres' as const, bullmq: true },
];

// The story's keys are made once for both modes (RSA-4096, as the log's policy requires, takes a
// second or more per key); each mode starts from its own copy of this keyring, so the
// certifications one mode makes are never in the other's.
const keys = new Gpg();
let keysMade: Record<string, string> | null = null;
function storyKeys(): Record<string, string> {
  keysMade ??= keys.genKeys(
    {
      root: 'Root (master) <root@example.org>',
      alice: 'Alice <alice@example.org>',
      eve: 'Eve <eve@example.org>',
      sign: 'Eve (CODE SIGNING KEY) <eve@mybb.example>',
    },
    day(-30),
  );
  return keysMade;
}
afterAll(() => keys.remove());

describe.each(modes)('the workers in the MyBB story ($name)', (mode) => {
  const gpg = new Gpg();
  const work = mkdtempSync(join(tmpdir(), 'signet-workers-e2e-'));
  const s = new StoryClient(gpg, work, 'e2e.signet.test/workers', join(work, 'clock'));
  const secret = 'the webhook secret';
  const fpr: Record<string, string> = {};
  let backend: Backend;
  let app: RunningApp;
  let worker: RunningApp | null = null;
  let hook: Receiver;
  let saver: Receiver;

  async function events(): Promise<Event[]> {
    const size = await s.size();
    const out: Event[] = [];
    for (let seq = 0; seq < size; seq++) out.push((await s.json<{ event: Event }>(`/log/events/${seq}`)).event);
    return out;
  }
  const ofType = async (type: string) => (await events()).filter((e) => e.type === type);
  async function keyState() {
    const state = await s.json<{
      signingKeys: {
        fingerprint: string;
        status: string;
        usableFrom: string | null;
        added: { url: string; at: string } | null;
        removed: { url: string } | null;
      }[];
    }>('/trust/state');
    return state.signingKeys.find((k) => k.fingerprint === fpr.sign)!;
  }
  async function latestSnapshot() {
    const snapshots = (await ofType('ArchiveSnapshotTaken')).map(
      (e) =>
        e.data as { treeSize: number; listing: string; raw: string; keys: Record<string, string>; triggers: unknown[] },
    );
    // Each snapshot names the key pages that changed; the latest page of a key is in the latest one naming it.
    const keys = Object.assign({}, ...snapshots.map((d) => d.keys)) as Record<string, string>;
    return { ...snapshots[snapshots.length - 1]!, keys };
  }
  const archived = async (sha256: string) => {
    const res = await fetch(`${s.url}/archive/${sha256}`);
    expect(res.status).toBe(200);
    return res.text();
  };

  beforeAll(async () => {
    Object.assign(fpr, storyKeys());
    gpg.copyKeysFrom(keys);
    hook = await receiver((d, res) => res.writeHead(hmacValid(d, secret) ? 200 : 401).end());
    // An external archive (a web archive's "save" URL).
    saver = await receiver((_d, res) => res.writeHead(200).end('saved'));

    backend = await newBackend(mode.backend);
    s.setClock(day(0));
    const env: Record<string, string | undefined> = {
      SIGNET_DATA_DIR: backend.config.dataDir,
      DATABASE_URL: backend.config.databaseUrl,
      SIGNET_CLOCK_FILE: s.clockFile,
      SIGNET_PUBLIC_URL: 'https://keys.mybb.example',
      SIGNET_WEBHOOK_URL: `${hook.url}/announce`,
      SIGNET_WEBHOOK_SECRET: secret,
      SIGNET_ARCHIVE_TRIGGERS: `${saver.url}/save/{url} ${saver.url}/copy?sha256={sha256}`,
      SIGNET_SWEEP_MS: '200',
      SIGNET_OUTBOX_POLL_MS: '50',
      SIGNET_RETRY_BASE_MS: '100',
      REDIS_URL: mode.bullmq ? REDIS_URL : undefined,
      SIGNET_QUEUE: `signet-e2e-${process.pid}-${Date.now()}`,
    };
    ({ app } = await s.start(fpr.root!, env));
    if (mode.bullmq) worker = await startWorker(env);
  }, 300_000);

  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await app?.stop('SIGKILL');
    await hook?.close();
    await saver?.close();
    await backend?.cleanup();
    gpg.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('runs its workers where the configuration says', async () => {
    const consumers = (await s.json<{ consumers: { consumer: string }[] }>('/outbox')).consumers.map((c) => c.consumer);
    expect(consumers).toEqual(['activator', 'announce-atom', 'announce-webhook', 'archiver', 'continuity']);
    if (mode.bullmq) expect(worker!.output()).toMatch(/queue BullMQ/);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toMatch(/^signet_outbox_pending_jobs\{consumer="announce-atom"\} 0$/m);
    expect(metrics).toMatch(/^signet_outbox_lag_events\{consumer="archiver"\} \d+$/m);
  });

  it('a key added on day 0 and authorized on day 2: ADDING is posted on day 2 on every channel, and the listing archived', async () => {
    for (const [who, role] of [
      ['alice', 'leader'],
      ['eve', 'member'],
    ] as const) {
      expect(
        s.post(fpr.root!, {
          type: 'AddMember',
          key: gpg.exportKey(fpr[who]!),
          username: who[0]!.toUpperCase() + who.slice(1),
          role,
        }).status,
      ).toBe(201);
    }
    gpg.certify(fpr.eve!, fpr.sign!, day(0));
    expect(s.post(fpr.eve!, { type: 'AddSigningKey', key: gpg.exportKey(fpr.sign!) }).status).toBe(201);
    await s.settle();
    expect(await ofType('AnnouncementPosted')).toEqual([]);
    expect((await keyState()).status).toBe('pending');

    s.setClock(day(2));
    gpg.certify(fpr.alice!, fpr.sign!, day(2));
    const res = s.post(fpr.alice!, { type: 'UpdateSigningKey', key: gpg.exportKey(fpr.sign!) });
    expect(res.body.events!.map((e) => e.type)).toEqual(['SigningKeyCertified', 'SigningKeyAuthorized']);
    await s.settle();

    const text = `ADDING Package Signing Key of ~Eve (${grouped(fpr.sign!)}).`;
    const posted = (await ofType('AnnouncementPosted')).map((e) => ({
      ...(e.data as { channel: string; text: string; url: string; cause: number }),
      recordedAt: e.recordedAt,
    }));
    expect(posted.map((p) => [p.channel, p.text, p.recordedAt])).toEqual(
      expect.arrayContaining([
        ['atom', text, day(2).toISOString()],
        ['webhook', text, day(2).toISOString()],
      ]),
    );
    expect(posted).toHaveLength(2);
    expect(hook.deliveries).toHaveLength(1);
    expect(JSON.parse(hook.deliveries[0]!.body)).toMatchObject({
      kind: 'ADDING',
      text,
      fingerprint: fpr.sign,
      username: 'Eve',
      origin: s.origin,
    });

    // The Atom feed, read by a feed parser; the entry links to the announcement's page.
    const feedRes = await fetch(`${s.url}/announcements.atom`);
    expect(feedRes.headers.get('content-type')).toMatch(/^application\/atom\+xml/);
    const feed = parseFeed(await feedRes.text());
    expect(feed.items.map((i) => i.title)).toEqual([text]);
    const atom = posted.find((p) => p.channel === 'atom')!;
    expect(atom.url).toBe(`https://keys.mybb.example/announcements/${atom.cause}`);
    const page = await fetch(`${s.url}/announcements/${atom.cause}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(text);

    // Waiting: usable from max(added day 0, announced day 2) + 14 days.
    const key = await keyState();
    expect(key).toMatchObject({
      status: 'waiting',
      usableFrom: day(16).toISOString(),
      added: { url: atom.url, at: day(2).toISOString() },
    });
    const snapshot = await latestSnapshot();
    expect(snapshot.treeSize).toBeGreaterThan(res.body.events![1]!.seq);
    const listing = await archived(snapshot.listing);
    expect(listing).toContain(grouped(fpr.sign!));
    expect(listing).toContain('waiting');
    expect(await archived(snapshot.raw)).toContain(
      `FINGERPRINT: ${grouped(fpr.sign!)}\nADD_DATE: 2026-01-03\nADD_ANNOUNCEMENT: ${atom.url}`,
    );
    expect(await archived(snapshot.keys[fpr.sign!]!)).toContain('Package Signing Key of ~Eve');
    // Each snapshot called the external archive triggers and recorded what they answered.
    expect(snapshot.triggers).toEqual([
      { url: `${saver.url}/save/https://keys.mybb.example/`, ok: true, status: 200, error: null },
      { url: `${saver.url}/copy?sha256=${snapshot.listing}`, ok: true, status: 200, error: null },
    ]);
    expect(saver.deliveries.length).toBeGreaterThanOrEqual(2);
  });

  it('day 10: still waiting, a signature is refused and nothing is activated', async () => {
    s.setClock(day(10));
    const refused = await s.publish(fpr.sign!, 'mybb', '1.8.38', day(10));
    expect([refused.status, refused.body.code]).toEqual([422, 'KEY_NOT_YET_ACTIVE']);
    await new Promise((r) => setTimeout(r, 600)); // three sweeps
    await s.settle();
    expect(await ofType('SigningKeyActivated')).toEqual([]);
  });

  it('day 16: the activation is recorded 14 days after the later of addition and announcement, and archived', async () => {
    const before = await latestSnapshot();
    s.setClock(new Date(day(16).getTime() + 60_000));
    let activated: Event[] = [];
    for (let i = 0; i < 100 && activated.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      activated = await ofType('SigningKeyActivated');
    }
    expect(activated.map((e) => e.data)).toEqual([{ fingerprint: fpr.sign, activeFrom: day(16).toISOString() }]);
    await s.settle();
    expect((await keyState()).status).toBe('active');
    const after = await latestSnapshot();
    expect(after.treeSize).toBeGreaterThan(before.treeSize);
    expect(await archived(after.listing)).toMatch(/class="status active">active</);
    const accepted = await s.publish(fpr.sign!, 'mybb', '1.8.39', s.now);
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
  });

  it('Alice leaves on day 17: a continuity alert is raised and announced as a security notice', async () => {
    s.setClock(day(17));
    expect(s.post(fpr.root!, { type: 'RemoveMember', member: fpr.alice }).status).toBe(201);
    await s.settle();
    const alerts = await ofType('ContinuityAlertRaised');
    expect(alerts.map((e) => e.data)).toEqual([
      expect.objectContaining({ fingerprint: fpr.sign, username: 'Eve', valid: 0, required: 1 }),
    ]);
    const notices = (await ofType('AnnouncementPosted')).filter((e) => e.data.kind === 'SECURITY');
    expect(notices.map((e) => e.data.channel).sort()).toEqual(['atom', 'webhook']);
    expect(String(notices[0]!.data.text)).toMatch(/^SECURITY NOTICE: Package Signing Key of ~Eve \(/);
    expect((await keyState()).status).toBe('insufficient-authorizations');
  });

  it('Eve retires the key on day 18: REMOVING is posted and the listing archived with the removal', async () => {
    s.setClock(day(18));
    expect(s.post(fpr.eve!, { type: 'RetireSigningKey', fingerprint: fpr.sign, reason: 'rotated' }).status).toBe(201);
    await s.settle();
    const removing = (await ofType('AnnouncementPosted')).filter((e) => e.data.kind === 'REMOVING');
    expect(removing.map((e) => [e.data.channel, e.data.text])).toEqual(
      expect.arrayContaining([
        ['atom', `REMOVING Package Signing Key of ~Eve (${grouped(fpr.sign!)}).`],
        ['webhook', `REMOVING Package Signing Key of ~Eve (${grouped(fpr.sign!)}).`],
      ]),
    );
    const snapshot = await latestSnapshot();
    const raw = await archived(snapshot.raw);
    expect(raw).toMatch(/## REMOVED KEYS BEGIN\nUSER: Eve\n/);
    expect(raw).toContain('REMOVE_DATE: 2026-01-19');
    const feed = parseFeed(await (await fetch(`${s.url}/announcements.atom`)).text());
    expect(feed.items.map((i) => i.title!.split(' ')[0])).toEqual(['REMOVING', 'SECURITY', 'ADDING']);
    expect(hook.deliveries.every((d) => hmacValid(d, secret))).toBe(true);
    // A webhook is delivered at least once (a job whose lock lapsed on a busy machine runs
    // again); the receiver deduplicates on X-Signet-Delivery, whose body never differs.
    const byId = new Map<string, Set<string>>();
    for (const d of hook.deliveries) {
      const id = String(d.headers['x-signet-delivery']);
      byId.set(id, (byId.get(id) ?? new Set()).add(d.body));
    }
    expect(byId.size).toBe(3);
    expect([...byId.values()].every((bodies) => bodies.size === 1)).toBe(true);
  });

  it('every outcome is in the log once; the archive and outbox answer bad input with 4xx', async () => {
    const all = await events();
    const keys = all
      .filter((e) => ['AnnouncementPosted', 'ArchiveSnapshotTaken', 'ContinuityAlertRaised'].includes(e.type))
      .map((e) => `${e.type}/${String(e.data.channel ?? '')}/${String(e.data.cause)}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const [path, status, code] of [
      ['/archive/xyz', 400, 'BAD_PARAMETER'],
      [`/archive/${'0'.repeat(64)}`, 404, 'NOT_FOUND'],
      ['/announcements/-1', 400, 'BAD_PARAMETER'],
      ['/announcements/99999', 404, 'NOT_FOUND'],
    ] as const) {
      const res = await fetch(`${s.url}${path}`);
      expect([path, res.status, ((await res.json()) as { code: string }).code]).toEqual([path, status, code]);
    }
  });

  it.runIf(!mode.bullmq)('renders the listing in headless Chromium, on a phone and a desktop', async () => {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI || process.env.SIGNET_REQUIRE_CHROMIUM)
        throw new Error(`${CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium`);
      console.warn(
        `skipping the browser check: ${CHROMIUM} is not installed (apt-get install -y --no-install-recommends chromium)`,
      );
      return;
    }
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
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
    try {
      mkdirSync(ARTIFACTS, { recursive: true });
      for (const [name, viewport] of [
        ['phone', { width: 390, height: 844 }],
        ['desktop', { width: 1280, height: 800 }],
      ] as const) {
        const page = await browser.newPage({ viewport });
        await page.goto(`${s.url}/`);
        expect(await page.title()).toBe(`Package Signing Keys — ${s.origin}`);
        const fingerprint = (await page.locator('a.fp').first().textContent())!;
        expect(fingerprint).toBe(grouped(fpr.sign!));
        expect(fingerprint).toMatch(/^([0-9A-F]{4} ){9}[0-9A-F]{4}$/);
        const links = await page
          .getByRole('link', { name: 'announcement on keys.mybb.example', exact: true })
          .evaluateAll((as) => as.map((a) => (a as unknown as { href: string }).href));
        expect(links).toHaveLength(2);
        expect(links.every((l) => l.startsWith('https://keys.mybb.example/announcements/'))).toBe(true);
        // Nothing overflows the screen sideways.
        expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
        await page.screenshot({ path: join(ARTIFACTS, `listing-${name}.png`), fullPage: true });
        await page.close();
      }
      // The key's own page and an archived snapshot render too.
      const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
      await page.goto(`${s.url}/keys/${fpr.sign}`);
      expect(await page.locator('h1').textContent()).toBe('Package Signing Key of ~Eve');
      await page.screenshot({ path: join(ARTIFACTS, 'key-phone.png'), fullPage: true });
      await page.goto(`${s.url}/archive/${(await latestSnapshot()).listing}`);
      expect(await page.locator('a.fp').first().textContent()).toBe(grouped(fpr.sign!));
    } finally {
      await browser.close();
    }
  });
});
