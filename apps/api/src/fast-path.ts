import { type IncomingMessage, type RequestListener, type ServerResponse, createServer } from 'node:http';
import type { ServedSnapshot, SnapshotService } from '@signet/service';
import type { Metrics } from './metrics.js';
import { type AccessLog, requestId } from './access-log.js';
import { SECURITY_HEADERS } from './security-headers.js';

/** True when an If-None-Match header names this strong ETag (or `*`). */
export function etagMatches(header: string | string[] | undefined, etag: string): boolean {
  if (!header) return false;
  if (Array.isArray(header)) return header.some((h) => etagMatches(h, etag));
  if (header === etag) return true;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

/** The headers a snapshot is served with: the head's must be revalidated, an older size's never changes. */
export function snapshotHeaders(served: ServedSnapshot, immutable: boolean): Record<string, string> {
  return {
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=60, must-revalidate',
    etag: served.etag,
    'x-signet-snapshot-version': String(served.version),
  };
}

/**
 * The HTTP server for Fastify (its `serverFactory`), answering the hottest read — the head's trust
 * snapshot, fetched by every PBX on a timer — from the precomputed copy before any framework code
 * runs, with the same bytes, headers, request metric and access-log line as the controller.
 * Everything else (including `?size=N`, HEAD, and the moment before the head's snapshot is
 * computed) goes to Fastify.
 */
export function fastPathServer(
  snapshots: SnapshotService,
  metrics: Metrics,
  access: AccessLog,
): (handler: RequestListener) => ReturnType<typeof createServer> {
  let cached: {
    served: ServedSnapshot;
    body: Buffer;
    ok: Record<string, string | number>;
    notModified: Record<string, string>;
  } | null = null;
  // The request's metric and access line are the same but for the status, id and time: their
  // labels and fields are made once.
  const line = access.fixed('GET', '/trust/snapshot', '/trust/snapshot');
  const ok = metrics.requestObserver('GET', '/trust/snapshot', 200);
  const notModified = metrics.requestObserver('GET', '/trust/snapshot', 304);
  return (handler) =>
    createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url !== '/trust/snapshot' || req.method !== 'GET') return handler(req, res);
      let served: ServedSnapshot | null;
      try {
        served = snapshots.ready();
      } catch {
        served = null; // e.g. the clock cannot be read: the framework answers, and handles the error
      }
      if (!served) return handler(req, res);
      const started = performance.now();
      if (cached?.served !== served) {
        const headers = snapshotHeaders(served, false);
        const body = Buffer.from(served.body);
        cached = {
          served,
          body,
          notModified: headers,
          // The 200 carries what every answer does; a 304 leaves the stored 200's headers in force.
          ok: {
            ...SECURITY_HEADERS,
            ...headers,
            'content-type': 'application/json; charset=utf-8',
            'content-length': body.length,
          },
        };
      }
      const unchanged = etagMatches(req.headers['if-none-match'], served.etag);
      if (unchanged) res.writeHead(304, cached.notModified).end();
      else res.writeHead(200, cached.ok).end(cached.body);
      const ms = performance.now() - started;
      (unchanged ? notModified : ok).observe(ms / 1000);
      line(requestId(req), unchanged ? 304 : 200, ms);
    });
}
