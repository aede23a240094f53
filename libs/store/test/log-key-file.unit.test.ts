import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, configFromEnv } from '@signet/store';
import { encodeSignerKey } from '@signet/tlog';
import { configProblems } from '../../../test/support/config.js';

// SIGNET_LOG_KEY_FILE: the log key read from a file (a container secret, a systemd credential).

const dir = mkdtempSync(join(tmpdir(), 'signet-key-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY = encodeSignerKey('keys.example.org/log', new Uint8Array(32).fill(3));

function file(name: string, text: string, mode = 0o400): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

const problems = configProblems;

describe('SIGNET_LOG_KEY_FILE', () => {
  it('gives the key the file holds, surrounding whitespace ignored, as SIGNET_LOG_KEY would', () => {
    const path = file('log.key', `\n${KEY}\n`);
    expect(configFromEnv({ SIGNET_LOG_KEY_FILE: path }).logKey).toBe(KEY);
    expect(configFromEnv({ SIGNET_LOG_KEY: KEY }).logKey).toBe(KEY);
    expect(configFromEnv({ SIGNET_LOG_KEY_FILE: '' }).logKey).toBeUndefined();
  });

  it('refuses a file it cannot read, or one without a signer key, naming the path and never the content', () => {
    const missing = join(dir, 'nowhere.key');
    expect(problems({ SIGNET_LOG_KEY_FILE: missing })).toEqual([
      {
        variable: 'SIGNET_LOG_KEY_FILE',
        value: missing,
        expected: expect.stringMatching(/file this process can read.*\(ENOENT\)/),
      },
    ]);
    const garbage = file('garbage.key', 'PRIVATE+KEY+keys.example.org/log+00000000+c2VjcmV0\n');
    const [problem] = problems({ SIGNET_LOG_KEY_FILE: garbage });
    expect(problem).toMatchObject({ variable: 'SIGNET_LOG_KEY_FILE', value: garbage });
    expect(problem!.expected).toMatch(/a file holding a signer key PRIVATE\+KEY\+/);
    expect(JSON.stringify(problem)).not.toContain('c2VjcmV0');
  });

  it('is refused beside SIGNET_LOG_KEY: the key comes from one or the other', () => {
    const path = file('both.key', KEY);
    expect(problems({ SIGNET_LOG_KEY: KEY, SIGNET_LOG_KEY_FILE: path })).toEqual([
      { variable: 'SIGNET_LOG_KEY_FILE', value: path, expected: expect.stringMatching(/unset when SIGNET_LOG_KEY/) },
    ]);
  });

  it('is one of the variables the configuration reads', () => {
    expect(CONFIG_VARIABLES).toContain('SIGNET_LOG_KEY_FILE');
    expect(CONFIG_VARIABLES).toContain('SIGNET_LOG_KEY');
    expect(CONFIG_VARIABLES).toContain('DATABASE_URL');
    expect(CONFIG_VARIABLES).not.toContain('SIGNET_TEST_PG_URL');
  });
});
