import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The README's day-one demo, run as written: the first sh block of "Try it", in bash, from the
// checkout, with only its port changed (so it can run beside other tests).

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

function demoBlock(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Try it:'));
  const block = /```sh\n([\s\S]*?)\n```/.exec(section);
  if (!block) throw new Error('the README has no sh block under "## Try it:"');
  return block[1]!;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe('the README demo', () => {
  // mktemp -d in the demo makes its keyring and files here (TMPDIR), so they are cleaned up.
  const work = mkdtempSync(join(tmpdir(), 'signet-demo-'));
  afterAll(() => {
    for (const dir of readdirSync(work)) {
      try {
        execFileSync('gpgconf', ['--homedir', join(work, dir), '--kill', 'all'], { stdio: 'ignore' });
      } catch {
        // not a keyring
      }
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('takes a fresh log to a published package signature, verified online and offline', async () => {
    const port = await freePort();
    const script = demoBlock()
      .replaceAll('localhost:3000', `127.0.0.1:${port}`)
      .replaceAll('PORT=3000', `PORT=${port}`);
    expect(script).toContain(`PORT=${port}`);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: work, NO_COLOR: '1' };
    // Its own process group: whatever the demo leaves running when it fails is ended with it.
    const child = spawn('bash', ['-eu', '-c', script], { cwd: ROOT, env, detached: true });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 240_000);
    const status = await new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    clearTimeout(timer);
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    expect(status, output).toBe(0);
    expect(output.match(/^appended:$/gm), output).toHaveLength(3);
    expect(output).toMatch(/seq \d+ SigningKeyAuthorized/);
    expect(output).toContain('"type":"PackageSignaturePublished"');
    expect(output).toContain('"valid":true');
    expect(output).toMatch(/^GOOD: hello-1\.0\.zip signed by ~Eve \([0-9A-F ]+\) at /m);
  }, 300_000);
});
