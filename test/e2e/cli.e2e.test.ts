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
  }, 180_000);

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

  it('refuses init options differing from an existing log genesis (exit 2, what differs); same or none pass', () => {
    const at = new Date(Date.now() - 86_400_000);
    const root = gpg.genKey('Root 5 <r5@example.org>', 'ed25519', at);
    const other = gpg.genKey('Other <o@example.org>', 'ed25519', at);
    writeFileSync(join(dir.path, 'root5.asc'), gpg.exportKey(root));
    writeFileSync(join(dir.path, 'other.asc'), gpg.exportKey(other));
    const data = join(dir.path, 'data-same');
    const rootFile = join(dir.path, 'root5.asc');
    const options = ['--origin', 'cli.example/same', '--root-key', rootFile, '--allow-ed25519', '--wait-days', '7'];
    const first = signet(['init', '--data-dir', data, ...options]);
    expect([first.status, first.stderr]).toEqual([0, '']);
    expect(first.stdout).toMatch(/^created cli\.example\/same$/m);

    // The same options, a policy file saying the same, or none: the log as it is.
    const same = { rootKeys: ['root5.asc'], waitingPeriodDays: 7, rsaMinBits: 4096 };
    writeFileSync(join(dir.path, 'same.json'), JSON.stringify(same));
    for (const again of [options, ['--policy', join(dir.path, 'same.json')], []]) {
      const r = signet(['init', '--data-dir', data, ...again]);
      expect([again, r.status, r.stderr]).toEqual([again, 0, '']);
      expect(r.stdout).toMatch(/^already initialized: cli\.example\/same$/m);
    }

    writeFileSync(join(dir.path, 'differs.json'), JSON.stringify({ waitingPeriodDays: 3, signingKeyComment: '' }));
    const refusals: [string[], Record<string, string>, string[]][] = [
      [['--origin', 'cli.example/other'], {}, ['origin: the log has "cli.example/same", asked "cli.example/other"']],
      [['--root-key', join(dir.path, 'other.asc')], {}, [`rootKeys: the log has ${root}, asked ${other}`]],
      [
        ['--policy', join(dir.path, 'differs.json'), '--authorizations', '2'],
        {},
        [
          'waitingPeriodDays: the log has 7, asked 3',
          'authorizationsRequired: the log has 1, asked 2',
          'signingKeyComment: the log has "CODE SIGNING KEY", asked ""',
        ],
      ],
      [[], { SIGNET_RSA_MIN_BITS: '3072' }, ['rsaMinBits: the log has 4096, asked 3072']],
    ];
    for (const [args, env, lines] of refusals) {
      const r = signet(['init', '--data-dir', data, ...args], env);
      expect([args, r.status, r.stdout]).toEqual([args, 2, '']);
      expect(r.stderr).toMatch(/^signet: INIT_MISMATCH: the log cli\.example\/same \(PGlite in .*\) already exists/);
      for (const line of lines) expect(r.stderr).toContain(`  ${line}`);
      expect(r.stderr).toContain('give it another data directory (--data-dir or SIGNET_DATA_DIR)');
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
    const log = signet(['init', '--data-dir', data]);
    expect([log.status, log.stdout]).toEqual([0, expect.stringContaining('tree size:    1\n')]);
  }, 180_000);

  it('refuses a configuration it cannot use: exit 2, every bad variable, no stack trace', () => {
    const bad = { PORT: 'eighty', SIGNET_QUEUE: 'a:b', SIGNET_WAIT_DAYS: '-3' };
    const r = signet(['init', '--data-dir', join(dir.path, 'bad-config')], bad);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^signet: BAD_CONFIG: 3 problems in the configuration/);
    expect(r.stderr).toContain('  PORT="eighty": expected an integer from 0 to 65535\n');
    expect(r.stderr).toContain('  SIGNET_WAIT_DAYS="-3": expected an integer from 0 to 3650\n');
    expect(r.stderr).toContain('  SIGNET_QUEUE="a:b": expected a queue name without ":" or spaces');
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('refuses bad policy files and bad usage with exit code 2', () => {
    writeFileSync(join(dir.path, 'bad.json'), JSON.stringify({ waitingDays: 3 }));
    const bad = signet(['init', '--data-dir', join(dir.path, 'other'), '--policy', join(dir.path, 'bad.json')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown policy field "waitingDays"');
    const missing = signet(['init', '--data-dir', join(dir.path, 'other'), '--root-key', join(dir.path, 'nope.asc')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('BAD_KEY');
    expect(signet(['frobnicate']).status).toBe(2);
    expect(signet(['init', '--no-such-option']).status).toBe(2);
    expect(signet(['help']).stdout).toMatch(/^Usage: signet /);
  });
});
