import { readFileSync } from 'node:fs';
import type { Clock } from '@signet/domain';

/**
 * For black-box tests only (SIGNET_CLOCK_FILE): the log's time is the ISO 8601 instant written
 * in the file, re-read on every call, so a test moves a running server's time by rewriting it.
 */
export function fileClock(path: string): Clock {
  return {
    now() {
      const text = readFileSync(path, 'utf8').trim();
      const t = Date.parse(text);
      if (Number.isNaN(t)) throw new Error(`SIGNET_CLOCK_FILE ${path} does not hold an ISO 8601 time`);
      return new Date(t);
    },
  };
}
