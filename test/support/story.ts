import { execFileSync } from 'node:child_process';
import { type RunningApp, CLI_BIN, TEST_PUBLIC_URL, startApp } from './app.js';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gpg } from './gpg.js';

// A person using the log from a shell: commands written as JSON, signed with
// `gpg --detach-sign --armor`, posted with `curl -F`; the log's clock in a file the server reads.

/** Longer than a few activation sweeps (the tests set SIGNET_SWEEP_MS to 200). */
const SETTLE_QUIET_MS = 600;

export const DAY0 = Date.parse('2026-01-01T00:00:00.000Z');
export const day = (n: number) => new Date(DAY0 + n * 86_400_000);

export interface Posted {
  readonly status: number;
  readonly body: { code?: string; events?: { seq: number; type: string; data: Record<string, unknown> }[] } & Record<
    string,
    unknown
  >;
  readonly bytes: string;
}

/**
 * A GET, tried again once when a kept-alive connection turns out closed: the tests block their
 * event loop in spawnSync (the CLI), so a socket the server closed meanwhile is found dead only
 * when reused ("other side closed").
 */
async function getOnce(url: string): Promise<Response> {
  try {
    return await fetch(url);
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw error;
    return fetch(url);
  }
}

export class StoryClient {
  url = '';
  now = day(0);
  private n = 0;

  constructor(
    private readonly gpg: Gpg,
    private readonly work: string,
    readonly origin: string,
    readonly clockFile: string,
  ) {}

  /** `signet init` with `rootFpr` as the root key, then the built server; returns it and the log's verifier key. */
  async start(rootFpr: string, env: Record<string, string | undefined>): Promise<{ app: RunningApp; vkey: string }> {
    const rootFile = join(this.work, 'root.asc');
    writeFileSync(rootFile, this.gpg.exportKey(rootFpr));
    const initEnv = { ...process.env, SIGNET_PUBLIC_URL: TEST_PUBLIC_URL, ...env };
    const out = execFileSync(process.execPath, [CLI_BIN, 'init', '--origin', this.origin, '--root-key', rootFile], {
      env: initEnv,
      encoding: 'utf8',
    });
    const app = await startApp(env);
    this.url = app.url;
    return { app, vkey: /verifier key: (\S+)/.exec(out)![1]! };
  }

  setClock(at: Date): void {
    this.now = at;
    // Atomically: the server reads the file at any moment, and must never see it half written.
    writeFileSync(`${this.clockFile}.tmp`, at.toISOString());
    renameSync(`${this.clockFile}.tmp`, this.clockFile);
  }

  /** Signs a command as a person would and posts it. */
  post(
    signer: string,
    body: Record<string, unknown>,
    opts: { id?: string; issuedAt?: Date; origin?: string; raw?: string; digest?: string } = {},
  ): Posted {
    const bytes =
      opts.raw ??
      JSON.stringify(
        {
          origin: opts.origin ?? this.origin,
          id: opts.id ?? `cmd-${++this.n}`,
          issuedAt: (opts.issuedAt ?? this.now).toISOString(),
          ...body,
        },
        null,
        2,
      );
    const dir = mkdtempSync(join(this.work, 'cmd-'));
    writeFileSync(join(dir, 'command.json'), bytes);
    writeFileSync(join(dir, 'command.json.asc'), this.gpg.detachSign(signer, bytes, this.now, opts.digest));
    const out = execFileSync(
      'curl',
      [
        '-s',
        '-w',
        '\n%{http_code}',
        '-F',
        `command=@${join(dir, 'command.json')}`,
        '-F',
        `signature=@${join(dir, 'command.json.asc')}`,
        `${this.url}/commands`,
      ],
      { encoding: 'utf8' },
    );
    const status = Number(out.slice(out.lastIndexOf('\n') + 1));
    return { status, body: JSON.parse(out.slice(0, out.lastIndexOf('\n'))), bytes };
  }

  /** Publishes a detached SHA-512 signature over an artifact, made by `signer` at `signedAt`. */
  async publish(
    signer: string,
    name: string,
    version: string,
    signedAt: Date,
    content = `${name} ${version}`,
  ): Promise<{ status: number; body: { code: string } }> {
    const form = new FormData();
    form.append('signature', new Blob([this.gpg.detachSign(signer, content, signedAt)]), 'pkg.zip.asc');
    form.append('artifact', new Blob([content]), 'pkg.zip');
    const res = await fetch(`${this.url}/packages/${name}/${version}/signatures`, { method: 'POST', body: form });
    return { status: res.status, body: (await res.json()) as { code: string } };
  }

  async size(): Promise<number> {
    const cp = await (await getOnce(`${this.url}/log/checkpoint`)).text();
    return Number(cp.split('\n')[1]);
  }

  async json<T>(path: string): Promise<T> {
    const res = await getOnce(`${this.url}${path}`);
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  /** Waits until the workers have looked at the whole log and have nothing pending. */
  async settle(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    let quietSince: { size: number; at: number } | null = null;
    for (;;) {
      const outbox = await this.json<{
        treeSize: number;
        consumers: { consumer: string; nextSeq: number; pending: number }[];
      }>('/outbox');
      last = JSON.stringify(outbox);
      const idle =
        outbox.consumers.length > 0 && outbox.consumers.every((c) => c.nextSeq === outbox.treeSize && c.pending === 0);
      // The activation sweep (every SIGNET_SWEEP_MS) appends on its own time, not through the
      // outbox: settled means idle with no new event for a few sweeps.
      if (!idle || quietSince?.size !== outbox.treeSize)
        quietSince = idle ? { size: outbox.treeSize, at: Date.now() } : null;
      else if (Date.now() - quietSince.at >= SETTLE_QUIET_MS) return;
      if (Date.now() > deadline) throw new Error(`the workers did not settle: ${last}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
