import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, realpathSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { InfrastructureError } from '@signet/domain';

// PGlite is a database in one process's memory over files in the data directory: a second
// process opening the same files corrupts them or hangs. Node 20 has no flock, so the lock is a
// file created with link(2) — atomic, and it fails if the name exists — holding the pid of its
// holder. A holder killed without closing leaves the file behind; its pid is then dead, and the
// next opener takes the lock over.

export const DATA_DIR_LOCK_FILE = 'signet.lock';

/** A takeover guard older than this was left by a process killed while taking a lock over. */
const STALE_GUARD_MS = 10_000;

/** Who holds a lock, as its file says. */
interface Holder {
  readonly pid: number;
  readonly host: string;
  /** The directory locked: a copy of a data directory (a backup) carries a lock that is not its own. */
  readonly dir: string;
  readonly token: string;
}

/** The data directory is in use by another process (or another open log in this one). */
export class DataDirLockedError extends InfrastructureError {
  constructor(
    readonly dir: string,
    readonly pid: number,
    readonly host: string,
    lockFile: string,
  ) {
    const here = host === hostname();
    super(
      'DATA_DIR_LOCKED',
      `the data directory ${dir} is in use by process ${pid}${here ? '' : ` on host ${host}`}` +
        `${pid === process.pid && here ? ' (this process: the log is already open)' : ''}. ` +
        "PGlite is one process's database: stop that process first, or give this one another SIGNET_DATA_DIR " +
        '(or use Postgres, DATABASE_URL, for several processes). ' +
        (here
          ? `The lock is ${lockFile}; it is taken over by itself once that process has ended.`
          : `Its liveness cannot be checked from here: remove ${lockFile} only if it is not running.`),
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly file: string;
  /** Removes the lock file if it is still this lock's; safe to call twice. */
  release(): void;
}

/** Data directories locked by this process: a second open of one here is refused as well. */
const held = new Set<string>();

function readHolder(file: string): { raw: string; holder: Holder | null } | null {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const h = JSON.parse(raw) as Partial<Holder>;
    const valid = Number.isSafeInteger(h.pid) && typeof h.host === 'string' && typeof h.dir === 'string';
    return { raw, holder: valid ? (h as Holder) : null };
  } catch {
    return { raw, holder: null };
  }
}

/** Whether the lock's holder may still be running (and so the lock must be respected). */
function alive(holder: Holder | null, dir: string): boolean {
  // Unreadable: not written by this code (the file is complete when linked), nobody to wait for.
  if (!holder) return false;
  if (holder.dir !== dir) return false;
  // Another machine sharing the directory: its processes cannot be checked from here.
  if (holder.host !== hostname()) return true;
  // This pid, but not held here: an earlier process that had the same pid (a container's pid 1).
  if (holder.pid === process.pid) return held.has(dir);
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Removes a stale lock. Two openers may find the same stale lock at once: only the one holding
 * the takeover guard removes it, and only if it is still the stale one it read, so it never
 * removes a lock another opener has just taken.
 */
async function removeStale(file: string, stale: string, tmp: string): Promise<void> {
  const guard = `${file}.takeover`;
  if (!tryLink(tmp, guard)) {
    try {
      if (Date.now() - statSync(guard).mtimeMs > STALE_GUARD_MS) unlinkQuietly(guard);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await pause(10 + Math.random() * 20);
    return;
  }
  try {
    if (readHolder(file)?.raw === stale) unlinkQuietly(file);
  } finally {
    unlinkQuietly(guard);
  }
}

/**
 * Takes the data directory for this process, or throws DATA_DIR_LOCKED naming the directory and
 * the pid holding it. A lock left by a process that has ended is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const dir = realpathSync(dataDir);
  const file = join(dir, DATA_DIR_LOCK_FILE);
  const me: Holder = { pid: process.pid, host: hostname(), dir, token: randomBytes(8).toString('hex') };
  const mine = `${JSON.stringify(me)}\n`;
  if (held.has(dir)) throw new DataDirLockedError(dir, me.pid, me.host, file);
  // Written whole under a name of its own, then linked: the lock file is never seen half written.
  const tmp = `${file}.${me.pid}.${me.token}`;
  writeFileSync(tmp, mine, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      if (tryLink(tmp, file)) {
        held.add(dir);
        let released = false;
        return {
          file,
          release: () => {
            if (released) return;
            released = true;
            held.delete(dir);
            if (readHolder(file)?.raw === mine) unlinkQuietly(file);
          },
        };
      }
      const found = readHolder(file);
      if (!found) continue; // released meanwhile
      if (alive(found.holder, dir)) throw new DataDirLockedError(dir, found.holder!.pid, found.holder!.host, file);
      await removeStale(file, found.raw, tmp);
    }
    throw new InfrastructureError('DATA_DIR_LOCKED', `could not take the lock ${file}: other processes keep taking it`);
  } finally {
    unlinkQuietly(tmp);
  }
}
