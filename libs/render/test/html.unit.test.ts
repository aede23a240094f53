import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type EventDraft, emptyState, evolve, genesisDraft } from '@signet/domain';
import { escapeHtml, renderKeyPage, renderListingPage } from '@signet/render';

const SIGN = 'FEEDDEAFABBABEADBABEFACEDEADBEEFCEDECAFE';
const EVE = 'E'.repeat(40);
const ALICE = 'A'.repeat(40);

function state() {
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
  ];
  drafts.forEach((d, i) => evolve(s, { ...d, seq: i, recordedAt: '2026-01-01T00:00:00.000Z' }));
  return s;
}

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
