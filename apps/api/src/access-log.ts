import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type Logger, infoLines, jsonString } from '@signet/observe';

/** Distinguishes this process's request ids from another's (or its own before a restart). */
const PROCESS_TAG = randomBytes(4).toString('hex');
let counter = 0;
/** An X-Request-Id set by a proxy is kept when it is a plain token (attacker-controlled: nothing else is logged as an id). */
const GIVEN_ID = /^[\w.:@/+=-]{1,128}$/;

/** The id a request is logged with: the proxy's `X-Request-Id` when it is a plain token, else `<process>-<n>`. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  if (typeof given === 'string' && GIVEN_ID.test(given)) return given;
  return `${PROCESS_TAG}-${(++counter).toString(36)}`;
}

/** Longest URL written in full: a line stays a line, whatever a client sends. */
const MAX_URL = 2048;

/**
 * Writes the access line of one answered request. `reqId` comes from `requestId` (plain
 * characters only, so it is written as it is); `url` is the path and query as sent
 * (attacker-controlled: JSON-escaped, and cut at 2 KiB); `route` the route that answered
 * (`/log/tile/*`), `unmatched` when none did; `responseTimeMs` in milliseconds. `fixed` gives the
 * writer of one request that is always the same (the fast path's), its fields serialized once.
 */
export interface AccessLog {
  (reqId: string, method: string, url: string, route: string, status: number, responseTimeMs: number): void;
  fixed(method: string, url: string, route: string): (reqId: string, status: number, responseTimeMs: number) => void;
}

const MESSAGE = 'request completed';

/**
 * One line per answered request, at level info (`context: "access"`), written by the fast path
 * and by Fastify's hooks alike, so every request is there once: `{…, "context":"access",
 * "reqId", "method", "url", "route", "status", "responseTime" (ms), "msg":"request completed"}`.
 * Built by hand (infoLines): pino's generic serialization would cost the fast path more than
 * a fifth of its time.
 */
export function accessLog(logger: Logger): AccessLog {
  const log = logger.child({ context: 'access' });
  const enabled = log.isLevelEnabled('info');
  const write = infoLines(log);
  /** The fields between the id and the status: `","method":…,"status":`. */
  const middle = (method: string, url: string, route: string) => {
    const shown = url.length > MAX_URL ? `${url.slice(0, MAX_URL)}…` : url;
    return `","method":${jsonString(method)},"url":${jsonString(shown)},"route":${jsonString(route)},"status":`;
  };
  const line = (reqId: string, fields: string, status: number, ms: number) =>
    write(`,"reqId":"${reqId}${fields}${status},"responseTime":${Math.round(ms * 1000) / 1000}`, MESSAGE);
  const access: AccessLog = Object.assign(
    enabled
      ? (reqId: string, method: string, url: string, route: string, status: number, ms: number) =>
          line(reqId, middle(method, url, route), status, ms)
      : () => {},
    {
      fixed(method: string, url: string, route: string) {
        if (!enabled) return () => {};
        const fields = middle(method, url, route);
        return (reqId: string, status: number, ms: number) => line(reqId, fields, status, ms);
      },
    },
  );
  return access;
}
