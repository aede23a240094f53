import { createHash, createHmac } from 'node:crypto';
import type { Announcement } from '@signet/domain';
import { PermanentJobError } from './queue.js';

/** Where an announcement is posted. `post` answers the URL people can read it at. */
export interface Channel {
  readonly name: string;
  /**
   * The post leaves the process (a webhook, Mastodon): the announcer looks at the head's state
   * first, so that a post another process recorded is not made again. The Atom post is the
   * recorded event itself, decided by the sequencer on the head's state like any outcome.
   */
  readonly external: boolean;
  post(announcement: Announcement, context: PostContext): Promise<string>;
}

export interface PostContext {
  /** The seq of the event announced: with the log's origin and the channel, the post's identity. */
  readonly seq: number;
  readonly origin: string;
  readonly recordedAt: string;
}

/** A stable id for one announcement on one channel (idempotency key, delivery id). */
export function deliveryId(channel: string, context: PostContext): string {
  return createHash('sha256').update(`${context.origin}\n${channel}\n${context.seq}`).digest('hex').slice(0, 32);
}

const TIMEOUT_MS = 15_000;

/** 408, 425, 429 and 5xx are worth retrying; other 4xx say the request itself is wrong. */
function failure(channel: string, status: number, body: string): Error {
  const message = `${channel} answered HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`;
  return status >= 500 || status === 408 || status === 425 || status === 429
    ? new Error(message)
    : new PermanentJobError(message);
}

async function send(channel: string, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    throw new Error(`${channel} could not be reached at ${url}: ${(error as Error).message}`);
  }
}

/** The built-in Atom feed: the post is the AnnouncementPosted event itself, served at /announcements.atom. */
export function atomChannel(publicUrl: string): Channel {
  return {
    name: 'atom',
    external: false,
    post: async (_a, context) => `${publicUrl}/announcements/${context.seq}`,
  };
}

/**
 * A webhook: POST of a JSON body, signed with HMAC-SHA256 over the exact body
 * (`X-Signet-Signature-256: sha256=<hex>`), with a delivery id the receiver can deduplicate on.
 */
export function webhookChannel(url: string, secret: string | undefined): Channel {
  return {
    name: 'webhook',
    external: true,
    async post(a, context) {
      const id = deliveryId('webhook', context);
      const body = JSON.stringify({
        id,
        kind: a.kind,
        text: a.text,
        fingerprint: a.fingerprint,
        username: a.username,
        origin: context.origin,
        seq: context.seq,
        recordedAt: context.recordedAt,
      });
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'signet',
        'x-signet-event': 'announcement',
        'x-signet-delivery': id,
      };
      if (secret)
        headers['x-signet-signature-256'] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
      const response = await send('the webhook', url, { method: 'POST', headers, body });
      const text = await response.text().catch(() => '');
      if (!response.ok) throw failure('the webhook', response.status, text);
      // The receiver may say where the announcement can be read; otherwise the webhook's address.
      try {
        const parsed = JSON.parse(text) as { url?: unknown };
        if (typeof parsed.url === 'string' && /^https?:\/\//.test(parsed.url)) return parsed.url;
      } catch {}
      return response.headers.get('location') ?? url;
    },
  };
}

/** A Mastodon-compatible status API (`POST /api/v1/statuses`, bearer token, Idempotency-Key). */
export function mastodonChannel(baseUrl: string, token: string): Channel {
  return {
    name: 'mastodon',
    external: true,
    async post(a, context) {
      const response = await send('the Mastodon server', `${baseUrl}/api/v1/statuses`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'idempotency-key': deliveryId('mastodon', context),
          'user-agent': 'signet',
        },
        body: JSON.stringify({ status: a.text, visibility: 'public' }),
      });
      const text = await response.text().catch(() => '');
      if (!response.ok) throw failure('the Mastodon server', response.status, text);
      let status: { url?: unknown; uri?: unknown };
      try {
        status = JSON.parse(text) as typeof status;
      } catch {
        throw new Error('the Mastodon server answered with something other than a status');
      }
      const link = typeof status.url === 'string' ? status.url : typeof status.uri === 'string' ? status.uri : null;
      if (!link) throw new Error('the Mastodon server answered a status without a url');
      return link;
    },
  };
}
