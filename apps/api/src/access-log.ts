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

export interface AccessRecord {
  readonly reqId: string;
  readonly method: string;
  /** The path and query as sent (attacker-controlled: JSON-escaped by the logger, and cut at 2 KiB). */
  readonly url: string;
  /** The route that answered (`/log/tile/*`), `unmatched` when none did. */
  readonly route: string;
  readonly status: number;
  readonly responseTimeMs: number;
}

/**
 * One line per answered request, at level info (`context: "access"`), written by the fast path
 * and by Fastify's hooks alike, so every request is there once: `{…, "context":"access",
 * "reqId", "method", "url", "route", "status", "responseTime" (ms), "msg":"request completed"}`.
 */
export function accessLog(logger: Logger): (record: AccessRecord) => void {
  const log = logger.child({ context: 'access' });
  const write = infoLines(log);
  return (r) => {
    if (!log.isLevelEnabled('info')) return;
    const url = r.url.length > MAX_URL ? `${r.url.slice(0, MAX_URL)}…` : r.url;
    const ms = Math.round(r.responseTimeMs * 1000) / 1000;
    write(
      `,"reqId":${jsonString(r.reqId)},"method":${jsonString(r.method)},"url":${jsonString(url)},"route":${jsonString(r.route)},"status":${r.status},"responseTime":${ms}`,
      'request completed',
    );
  };
}
