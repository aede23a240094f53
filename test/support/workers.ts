import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { type EventDraft, type EventEnvelope, type EventType, draftOf, signingKeyStream } from '@signet/domain';
import type { SignetLog } from '@signet/store';

// Helpers for the workers' tests: a log seeded with authorized keys (the events as the protocol
// writes them, appended directly), local HTTP receivers for the channels, a private redis-server.

export const LEADER = 'A'.repeat(40);

/** A fingerprint for test key i. */
export const keyFpr = (i: number) => `FEED${String(i).padStart(36, '0')}`;

/** The events of a leader being added (once) and signing keys added, certified and authorized. */
export function keyDrafts(from: number, count: number, withLeader: boolean): EventDraft[] {
  const drafts: EventDraft[] = [];
  if (withLeader)
    drafts.push(
      draftOf(
        { type: 'MemberAdded', v: 1, data: { fingerprint: LEADER, username: 'Alice', role: 'leader', key: 'k' } },
        `member/${LEADER}`,
        LEADER,
        null,
      ),
    );
  for (let i = from; i < from + count; i++) {
    const fingerprint = keyFpr(i);
    const stream = signingKeyStream(fingerprint);
    drafts.push(
      draftOf(
        {
          type: 'SigningKeyAdded',
          v: 1,
          data: {
            fingerprint,
            owner: LEADER,
            username: `user${i}`,
            key: `key ${i}`,
            algorithm: 'rsa',
            bits: 4096,
            userIds: [`user${i} (CODE SIGNING KEY)`],
          },
        },
        stream,
        LEADER,
        null,
      ),
      draftOf(
        {
          type: 'SigningKeyCertified',
          v: 1,
          data: { fingerprint, certifier: LEADER, via: 'command', certifiedAt: '2026-01-01T00:00:00.000Z' },
        },
        stream,
        LEADER,
        null,
      ),
      draftOf(
        { type: 'SigningKeyAuthorized', v: 1, data: { fingerprint, authorizedBy: [LEADER] } },
        stream,
        'log',
        null,
      ),
    );
  }
  return drafts;
}

/** Every event of the log. */
export async function allEvents(log: SignetLog): Promise<EventEnvelope[]> {
  const out: EventEnvelope[] = [];
  for await (const e of log.reader.scan(0, await log.reader.size())) out.push(e);
  return out;
}

/** Outcome events of a type, counted by the cause they answer (and channel, for announcements). */
export function outcomesByCause(events: readonly EventEnvelope[], type: EventType): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) {
    if (e.type !== type || !('cause' in e.data)) continue;
    const key = 'channel' in e.data ? `${e.data.channel}/${e.data.cause}` : String(e.data.cause);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

export async function until<T>(
  what: string,
  check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Delivery {
  readonly at: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export interface Receiver {
  readonly url: string;
  readonly deliveries: Delivery[];
  close(): Promise<void>;
}

/** A local HTTP server: records every request, answers with `respond`. */
export async function receiver(
  respond: (d: Delivery, res: ServerResponse, all: Delivery[]) => void,
): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const d = { at: Date.now(), headers: req.headers, body, url: req.url };
      deliveries.push(d);
      respond(d, res, deliveries);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    deliveries,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** True when the webhook delivery's HMAC-SHA256 header matches its body. */
export function hmacValid(d: Delivery, secret: string): boolean {
  return d.headers['x-signet-signature-256'] === `sha256=${createHmac('sha256', secret).update(d.body).digest('hex')}`;
}

export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** A private redis-server on its own port, that a test may stop and start again. */
export class PrivateRedis {
  private child: ChildProcess | null = null;
  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (/Ready to accept connections/.test(out)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
    });
  }

  /** Stops it hard: whatever it held is gone (it keeps nothing on disk). */
  async down(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }
}
