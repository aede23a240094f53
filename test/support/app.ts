import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's root, whether this file runs from test/ (vitest) or from dist/test/ (bench). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

export const API_MAIN = join(repoRoot(), 'dist/apps/api/src/main.js');
export const CLI_BIN = join(repoRoot(), 'bin/signet.js');

/**
 * The public URL the tests' deployments declare: required beside DATABASE_URL or REDIS_URL
 * (README, Configuration). A test that checks links sets its own.
 */
export const TEST_PUBLIC_URL = 'https://signet.test';

export interface RunningApp {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it printed, stdout and stderr as they came. */
  output(): string;
  /** What it printed on stdout only (its log lines). */
  stdout(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the built server (`npm start`'s entry point) on a free port. `keepOutput`: keep only
 * about that many of the last bytes it printed (a benchmark's thousands of access-log lines).
 */
export function startApp(
  env: Record<string, string | undefined>,
  options: { keepOutput?: number } = {},
): Promise<RunningApp> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [API_MAIN], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', NO_COLOR: '1', SIGNET_PUBLIC_URL: TEST_PUBLIC_URL, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = new Captured(options.keepOutput);
    const stdout = new Captured(options.keepOutput);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let started = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      out.add(chunk);
      stdout.add(chunk);
      if (started) return;
      const m = /serving \S+ on (http:\/\/127\.0\.0\.1:\d+)/.exec(out.text());
      if (!m) return;
      started = true;
      let stopping = false;
      // A server that dies on its own is a bug: say so, with what it printed last.
      void exited.then((code) => {
        if (!stopping)
          process.stderr.write(
            `\n*** the server at ${m[1]} exited by itself (${code}); its last output:\n${out.text().slice(-6000)}\n`,
          );
      });
      resolve({
        url: m[1]!,
        child,
        output: () => out.text(),
        stdout: () => stdout.text(),
        stop: async (signal = 'SIGTERM') => {
          stopping = true;
          if (child.exitCode === null) child.kill(signal);
          return exited;
        },
      });
    });
    child.stderr!.on('data', (c: Buffer) => out.add(c));
    void exited.then((code) => reject(new Error(`the server exited (${code}) before serving:\n${out.text()}`)));
  });
}

/**
 * What a child printed: all of it, or with `keep` only about its last `keep` bytes, kept as
 * they came (a benchmark's server prints a line per request: the harness sharing its machine
 * should not spend its time decoding them).
 */
class Captured {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly keep?: number) {}

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.keep === undefined) return;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= this.keep)
      this.bytes -= this.chunks.shift()!.length;
  }

  text(): string {
    if (this.chunks.length > 1) this.chunks.splice(0, this.chunks.length, Buffer.concat(this.chunks));
    return this.chunks[0]?.toString() ?? '';
  }
}

export const WORKER_MAIN = join(repoRoot(), 'dist/apps/worker/src/main.js');

/**
 * Starts the built worker (`npm run start:worker`) and resolves once it follows the log; its
 * health and metrics port is any free one (`url`), unless `env` says otherwise.
 */
export function startWorker(env: Record<string, string | undefined>): Promise<RunningApp> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER_MAIN], {
      env: {
        ...process.env,
        NO_COLOR: '1',
        SIGNET_PUBLIC_URL: TEST_PUBLIC_URL,
        SIGNET_WORKER_PORT: '0',
        HOST: '127.0.0.1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (/following \S+/.test(out)) {
        child.stdout!.off('data', onData);
        child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
        resolve({
          url: /\/metrics on (http:\/\/\S+?)["\s]/.exec(out)?.[1] ?? '',
          child,
          output: () => out,
          stdout: () => stdout,
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    void exited.then((code) => reject(new Error(`the worker exited (${code}) before following the log:\n${out}`)));
  });
}
