import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLog } from '@signet/store';
import { CLI_BIN } from '../support/app.js';
import { tempDir } from '../support/backends.js';
import { Gpg } from '../support/gpg.js';

const signet = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI_BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });

describe('the signet command', () => {
  const dir = tempDir();
  const gpg = new Gpg();
  afterAll(() => {
    dir.remove();
    gpg.remove();
  });

  it('initializes a log from a policy file, and again leaves it as it is', async () => {
    const root = gpg.genKey('Root <root@example.org>', 'ed25519', new Date(Date.now() - 86_400_000));
    writeFileSync(join(dir.path, 'root.asc'), gpg.exportKey(root));
    writeFileSync(join(dir.path, 'policy.json'), JSON.stringify({ rootKeys: ['root.asc'], waitingPeriodDays: 7, authorizationsRequired: 2, allowEd25519: true }));
    const data = join(dir.path, 'data');
    const first = signet(['init', '--data-dir', data, '--origin', 'cli.example/log', '--policy', join(dir.path, 'policy.json'), '--wait-days', '3']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^created cli\.example\/log$/m);
    expect(first.stdout).toMatch(/^verifier key: cli\.example\/log\+[0-9a-f]{8}\+\S+$/m);
    expect(first.stdout).toContain(`root keys:    ${root}`);
    const again = signet(['init', '--data-dir', data]);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/^already initialized: cli\.example\/log$/m);

    const log = await openLog({ ...(await import('@signet/store')).configFromEnv({ SIGNET_DATA_DIR: data }) });
    try {
      const genesis = await log.reader.event(0);
      expect(genesis?.data).toMatchObject({ origin: 'cli.example/log', policy: { waitingPeriodDays: 3, authorizationsRequired: 2, allowEd25519: true, rootKeys: [{ fingerprint: root }] } });
    } finally {
      await log.close();
    }
  });

  it('refuses bad policy files and bad usage with exit codes 1 and 2', () => {
    writeFileSync(join(dir.path, 'bad.json'), JSON.stringify({ waitingDays: 3 }));
    const bad = signet(['init', '--data-dir', join(dir.path, 'other'), '--policy', join(dir.path, 'bad.json')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('unknown policy field "waitingDays"');
    const missing = signet(['init', '--data-dir', join(dir.path, 'other'), '--root-key', join(dir.path, 'nope.asc')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('BAD_KEY');
    expect(signet(['frobnicate']).status).toBe(2);
    expect(signet(['init', '--no-such-option']).status).toBe(2);
    expect(signet(['help']).stdout).toContain('usage: signet');
  });
});
