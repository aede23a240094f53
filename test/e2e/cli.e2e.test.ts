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
    writeFileSync(
      join(dir.path, 'policy.json'),
      JSON.stringify({ rootKeys: ['root.asc'], waitingPeriodDays: 7, authorizationsRequired: 2, allowEd25519: true }),
    );
    const data = join(dir.path, 'data');
    const first = signet([
      'init',
      '--data-dir',
      data,
      '--origin',
      'cli.example/log',
      '--policy',
      join(dir.path, 'policy.json'),
      '--wait-days',
      '3',
    ]);
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
      expect(genesis?.data).toMatchObject({
        origin: 'cli.example/log',
        policy: {
          waitingPeriodDays: 3,
          authorizationsRequired: 2,
          allowEd25519: true,
          rootKeys: [{ fingerprint: root }],
        },
      });
    } finally {
      await log.close();
    }
  });

  it('reads every root key of a key file, from --root-key, SIGNET_ROOT_KEYS and policy.json alike', async () => {
    const at = new Date(Date.now() - 86_400_000);
    const [r1, r2, r3] = [
      gpg.genKey('Root 1 <r1@example.org>', 'ed25519', at),
      gpg.genKey('Root 2 <r2@example.org>', 'ed25519', at),
      gpg.genKey('Root 3 <r3@example.org>', 'ed25519', at),
    ];
    writeFileSync(join(dir.path, 'roots-cat.asc'), gpg.exportKey(r1!) + gpg.exportKey(r2!));
    writeFileSync(join(dir.path, 'roots-export.asc'), gpg.run(['--armor', '--export', r1!, r2!]));
    writeFileSync(join(dir.path, 'root3.gpg'), gpg.exportBinary(r3!));
    writeFileSync(
      join(dir.path, 'roots-policy.json'),
      JSON.stringify({ rootKeys: ['roots-export.asc', 'root3.gpg'], allowEd25519: true }),
    );
    const inits: [string, string[], Record<string, string>][] = [
      [
        'cat',
        ['--root-key', join(dir.path, 'roots-cat.asc'), '--root-key', join(dir.path, 'root3.gpg'), '--allow-ed25519'],
        {},
      ],
      [
        'env',
        ['--allow-ed25519'],
        { SIGNET_ROOT_KEYS: `${join(dir.path, 'roots-export.asc')},${join(dir.path, 'root3.gpg')}` },
      ],
      ['policy', ['--policy', join(dir.path, 'roots-policy.json')], {}],
    ];
    for (const [name, args, env] of inits) {
      const data = join(dir.path, `data-roots-${name}`);
      const r = signet(['init', '--data-dir', data, '--origin', 'cli.example/roots', ...args], env);
      expect([name, r.status, r.stderr]).toEqual([name, 0, '']);
      expect(r.stdout).toContain(`root keys:    ${r1}, ${r2}, ${r3}`);
      const log = await openLog({ ...(await import('@signet/store')).configFromEnv({ SIGNET_DATA_DIR: data }) });
      try {
        const genesis = await log.reader.event(0);
        if (genesis?.type !== 'LogCreated') throw new Error('seq 0 is not LogCreated');
        const { policy } = genesis.data;
        expect(policy.rootKeys.map((k) => k.fingerprint)).toEqual([r1, r2, r3]);
        // Each root key is stored on its own, one armored block each.
        for (const k of policy.rootKeys) expect(k.key.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----/g)).toHaveLength(1);
      } finally {
        await log.close();
      }
    }
  }, 240_000);

  it('refuses a root key file with no usable key: exit 2 (bad local input) with a message, and writes no genesis', () => {
    const data = join(dir.path, 'data-no-key');
    for (const [content, message] of [
      ['', 'holds no OpenPGP public key'],
      ['-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n', 'block 1 has no "-----END PGP PUBLIC KEY BLOCK-----" line'],
    ] as const) {
      const file = join(dir.path, 'no-key.asc');
      writeFileSync(file, content);
      const r = signet(['init', '--data-dir', data, '--root-key', file]);
      expect([r.status, r.stderr]).toEqual([2, expect.stringContaining(`BAD_KEY: ${file}`)]);
      expect(r.stderr).toContain(message);
    }
    const root = gpg.genKey('Root 4 <r4@example.org>', 'ed25519', new Date(Date.now() - 86_400_000));
    writeFileSync(join(dir.path, 'root4.asc'), gpg.exportKey(root));
    const good = signet(['init', '--data-dir', data, '--root-key', join(dir.path, 'root4.asc'), '--allow-ed25519']);
    expect([good.status, good.stdout]).toEqual([0, expect.stringMatching(/^created /)]);
  }, 180_000);

  it('refuses bad policy files and bad usage with exit codes 1 and 2', () => {
    writeFileSync(join(dir.path, 'bad.json'), JSON.stringify({ waitingDays: 3 }));
    const bad = signet(['init', '--data-dir', join(dir.path, 'other'), '--policy', join(dir.path, 'bad.json')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('unknown policy field "waitingDays"');
    const missing = signet(['init', '--data-dir', join(dir.path, 'other'), '--root-key', join(dir.path, 'nope.asc')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('BAD_KEY');
    expect(signet(['frobnicate']).status).toBe(2);
    expect(signet(['init', '--no-such-option']).status).toBe(2);
    expect(signet(['help']).stdout).toContain('usage: signet');
  });
});
