import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_DIR_LOCK_FILE, type SignetConfig, lockDataDir, openLog } from '@signet/store';
import { type Backend, newBackend, tempDir } from '../../../test/support/backends.js';

const CHILD = fileURLToPath(new URL('../../../dist/test/support/lock-child.js', import.meta.url));

interface Child {
  readonly process: ChildProcessWithoutNullStreams;
  /** The first line it prints: "open <pid>", "locked <pid>" or "refused <code> <message>". */
  readonly said: Promise<string>;
  readonly exited: Promise<number | null>;
}

function child(...args: string[]): Child {
  const p = spawn(process.execPath, [CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  const said = new Promise<string>((resolve, reject) => {
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    void exited.then((code) => reject(new Error(`the child exited (${code}) without a word: ${err}`)));
  });
  return { process: p, said, exited };
}

/** The pid of a process that has ended. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

const lockFile = (dir: string) => join(dir, DATA_DIR_LOCK_FILE);
const holderOf = (dir: string) => JSON.parse(readFileSync(lockFile(dir), 'utf8')) as { pid: number };

describe('the PGlite data directory lock', () => {
  const backends: Backend[] = [];
  let config: SignetConfig;
  let dir: string;
  beforeAll(async () => {
    expect(existsSync(CHILD), 'run `npm run build` first').toBe(true);
  });
  afterAll(async () => {
    for (const b of backends) await b.cleanup();
  });
  async function fresh(): Promise<void> {
    const backend = await newBackend('pglite');
    backends.push(backend);
    config = backend.config;
    dir = realpathSync(config.dataDir);
  }

  it('refuses a second process at once with DATA_DIR_LOCKED naming the directory and the pid; released on close', async () => {
    await fresh();
    const holder = child('open', dir);
    const pid = Number((await holder.said).replace(/^open /, ''));
    expect(holder.process.pid).toBe(pid);
    expect(holderOf(dir).pid).toBe(pid);

    // In this process, and in another one: refused, with the code, the directory and the pid.
    await expect(openLog(config)).rejects.toMatchObject({
      code: 'DATA_DIR_LOCKED',
      dir,
      pid,
      message: expect.stringContaining(`the data directory ${dir} is in use by process ${pid}.`),
    });
    const second = child('open', dir);
    expect(await second.said).toMatch(
      new RegExp(`^refused DATA_DIR_LOCKED the data directory ${dir} is in use by process ${pid}\\.`),
    );
    expect(await second.exited).toBe(3);

    // The holder closes its log: the lock is gone, and the log opens here.
    holder.process.stdin.end();
    expect(await holder.exited).toBe(0);
    expect(existsSync(lockFile(dir))).toBe(false);
    const log = await openLog(config);
    expect(holderOf(dir).pid).toBe(process.pid);
    expect(await log.reader.size()).toBe(1);
    await log.close();
    expect(existsSync(lockFile(dir))).toBe(false);
  });

  it('takes over the lock of a holder killed with SIGKILL', async () => {
    await fresh();
    const holder = child('open', dir);
    const pid = Number((await holder.said).replace(/^open /, ''));
    holder.process.kill('SIGKILL');
    await holder.exited;
    // Left behind, naming a process that no longer runs.
    expect(holderOf(dir).pid).toBe(pid);
    const log = await openLog(config);
    try {
      expect(holderOf(dir).pid).toBe(process.pid);
      expect(await log.reader.size()).toBe(1);
      // and held again: another process is refused
      const second = child('open', dir);
      expect(await second.said).toMatch(
        `refused DATA_DIR_LOCKED the data directory ${dir} is in use by process ${process.pid}`,
      );
    } finally {
      await log.close();
    }
    expect(existsSync(lockFile(dir))).toBe(false);
  });

  it('gives the lock to exactly one of several processes starting at once, free or stale', async () => {
    for (const stale of [false, true]) {
      await fresh();
      if (stale) writeFileSync(lockFile(dir), JSON.stringify({ pid: deadPid(), host: hostname(), dir, token: 'old' }));
      // The winner holds the lock until every racer has tried (its stdin ended below), however
      // long the others take to start.
      const racers = Array.from({ length: 4 }, () => child('lock', dir));
      const said = await Promise.all(racers.map((r) => r.said));
      for (const [i, s] of said.entries()) if (s.startsWith('locked ')) racers[i]!.process.stdin.end();
      const winners = said.filter((s) => s.startsWith('locked '));
      expect([stale, winners.length]).toEqual([stale, 1]);
      const winner = Number(winners[0]!.split(' ')[1]);
      for (const s of said.filter((line) => !line.startsWith('locked '))) {
        expect(s).toMatch(
          new RegExp(`^refused DATA_DIR_LOCKED the data directory ${dir} is in use by process ${winner}\\.`),
        );
      }
      expect(holderOf(dir).pid).toBe(winner);
      await Promise.all(racers.map((r) => r.exited));
      expect(existsSync(lockFile(dir))).toBe(false);
      expect(existsSync(`${lockFile(dir)}.takeover`)).toBe(false);
    }
  });

  it('refuses a second open in the same process, and takes none for a log in memory', async () => {
    await fresh();
    const log = await openLog(config, { init: true });
    try {
      await expect(openLog(config)).rejects.toMatchObject({
        code: 'DATA_DIR_LOCKED',
        pid: process.pid,
        message: expect.stringContaining('this process: the log is already open'),
      });
      const inMemory = await openLog(config, { inMemory: true, init: true });
      await inMemory.close();
    } finally {
      await log.close();
    }
    const inMemory = await openLog(config, { inMemory: true, init: true });
    expect(existsSync(lockFile(dir))).toBe(false);
    await inMemory.close();
  });

  it('takes a lock copied with its directory; respects one of another host, saying it cannot check it', async () => {
    await fresh();
    const log = await openLog(config, { init: true });
    const copy = tempDir();
    try {
      // A backup taken while the log ran: its lock names the original directory, not the copy.
      cpSync(dir, copy.path, { recursive: true });
      const restored = await openLog({ ...config, dataDir: copy.path });
      expect(await restored.reader.size()).toBe(1);
      await restored.close();
    } finally {
      await log.close();
      copy.remove();
    }
    writeFileSync(lockFile(dir), JSON.stringify({ pid: deadPid(), host: 'elsewhere.example', dir, token: 't' }));
    await expect(lockDataDir(dir)).rejects.toMatchObject({
      code: 'DATA_DIR_LOCKED',
      host: 'elsewhere.example',
      message: expect.stringContaining(`on host elsewhere.example. `),
    });
    await expect(lockDataDir(dir)).rejects.toThrow(`remove ${lockFile(dir)} only if it is not running`);
  });
});
