import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openLog, toBytes } from '@signet/store';
import { BACKENDS, type Backend, newBackend } from '../../../test/support/backends.js';
import { TEST_PUBLIC_URL } from '../../../test/support/app.js';
import { checkLogIntegrity } from '../../../test/support/integrity.js';
import { foreignDraft } from '../../../test/support/drafts.js';

const CHILD = fileURLToPath(new URL('../../../dist/test/support/append-child.js', import.meta.url));
const KILLS = 8;

/** Runs the appender until it has acknowledged something, then SIGKILLs it at a random moment. */
function runAndKill(backend: Backend, acks: Map<number, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = {
      ...process.env,
      SIGNET_DATA_DIR: backend.config.dataDir,
      DATABASE_URL: backend.config.databaseUrl ?? '',
      SIGNET_ORIGIN: backend.config.origin,
      SIGNET_PUBLIC_URL: TEST_PUBLIC_URL,
    };
    const child = spawn(process.execPath, [CHILD], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    let stderr = '';
    let armed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        const m = /^ack (\d+) (\S+)$/.exec(line);
        if (m) acks.set(Number(m[1]), m[2]!);
        if (!armed && (m || line === 'ready')) {
          armed = true;
          setTimeout(() => child.kill('SIGKILL'), 20 + Math.random() * 400);
        }
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code, signal) =>
      signal === 'SIGKILL' ? resolve() : reject(new Error(`appender exited ${code}: ${stderr}`)),
    );
  });
}

describe.each(BACKENDS)('crash atomicity on %s', (name) => {
  const backends: Backend[] = [];
  afterAll(async () => {
    for (const b of backends) await b.cleanup();
  });

  it(`keeps every acknowledged event and a matching tree across ${KILLS} SIGKILLs`, { timeout: 300_000 }, async () => {
    expect(existsSync(CHILD), 'run `npm run build` first').toBe(true);
    const backend = await newBackend(name);
    backends.push(backend);
    const acks = new Map<number, string>();
    for (let i = 0; i < KILLS; i++) await runAndKill(backend, acks);
    expect(acks.size).toBeGreaterThan(KILLS);

    const log = await openLog(backend.config);
    try {
      const size = await checkLogIntegrity(log);
      for (const [seq, id] of acks) {
        expect(seq).toBeLessThan(size);
        // TestRecorded is no event of the protocol (parseEntry refuses it): read the leaf as JSON.
        const events = log.db.db.selectFrom('events');
        const row = await events.select('entry').where('seq', '=', seq).executeTakeFirstOrThrow();
        const leaf = new TextDecoder().decode(toBytes(row.entry));
        const { data } = JSON.parse(leaf) as { data: { id: number; pid: number } };
        expect(`${data.pid}:${data.id}`).toBe(id);
      }
      // The log still takes appends after all that.
      const last = { type: 'TestRecorded', v: 1, stream: 'crash', actor: 'log', data: { after: true }, evidence: null };
      await log.writer.append([foreignDraft(last)]);
      expect(await checkLogIntegrity(log)).toBe(size + 1);
    } finally {
      await log.close();
    }
  });
});
