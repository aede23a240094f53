// `signet verify module` on a generated module of 1,000 files (10 MB): wall time of the command
// (a new process, as a PBX runs it) against a raw Node process hashing the same files and making
// one openpgp.js verify of module.sig, and against a FreePBX-like `gpg --verify` + `sha256sum -c`.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POLICY, ManualClock, draftOf, signingKeyStream } from '@signet/domain';
import { moduleSigBody } from '@signet/client';
import { SnapshotService, TrustProjection } from '@signet/service';
import { openLog } from '@signet/store';
import { CLI_BIN } from '../test/support/app.js';
import { newBackend } from '../test/support/backends.js';
import { Gpg } from '../test/support/gpg.js';
import { median } from './stats.js';

const DAY = 86_400_000;

/** Median milliseconds of each run, the runs taken in turn each round so drift hits them alike. */
function timeInTurn(runs: readonly (() => void)[], rounds: number): number[] {
  const times = runs.map((): number[] => []);
  for (let i = 0; i < rounds; i++) {
    runs.forEach((run, k) => {
      const started = performance.now();
      run();
      times[k]!.push(performance.now() - started);
    });
  }
  return times.map(median);
}

const RAW = `
const { createHash } = await import('node:crypto');
const { readFileSync } = await import('node:fs');
const openpgp = await import('openpgp');
const [dir, keyFile] = process.argv.slice(1);
const armored = readFileSync(dir + '/module.sig', 'utf8');
const message = await openpgp.readCleartextMessage({ cleartextMessage: armored });
const key = await openpgp.readKey({ armoredKey: readFileSync(keyFile, 'utf8') });
const result = await openpgp.verify({ message, verificationKeys: [key], expectSigned: true });
await result.signatures[0].verified;
let bad = 0;
for (const line of message.getText().split('\\n')) {
  const m = /^(\\S+) = ([0-9a-f]{64})$/.exec(line);
  if (m && createHash('sha256').update(readFileSync(dir + '/' + m[1])).digest('hex') !== m[2]) bad++;
}
if (bad) process.exit(1);
`;

export async function benchModule(
  line: (what: string, figure: string, baseline: string, ratio: number, target?: string, label?: string) => void,
  quick: boolean,
): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'signet-bench-module-'));
  const gpg = new Gpg();
  const backend = await newBackend('pglite');
  try {
    // A log whose snapshot holds one usable signing key: added, authorized and announced 20 days ago.
    const fpr = gpg.genKey('Bench (CODE SIGNING KEY) <bench@example.org>', 'rsa4096', new Date(Date.now() - 30 * DAY));
    const armored = gpg.exportKey(fpr);
    const clock = new ManualClock(new Date(Date.now() - 20 * DAY));
    const log = await openLog(backend.config, {
      init: true,
      clock,
      policy: { ...DEFAULT_POLICY, rootKeys: [] },
      inMemory: true,
    });
    const leader = 'A'.repeat(40);
    const stream = signingKeyStream(fpr);
    await log.writer.append([
      draftOf(
        { type: 'MemberAdded', v: 1, data: { fingerprint: leader, username: 'Alice', role: 'leader', key: 'k' } },
        `member/${leader}`,
        leader,
        null,
      ),
      draftOf(
        {
          type: 'SigningKeyAdded',
          v: 1,
          data: {
            fingerprint: fpr,
            owner: leader,
            username: 'bench',
            key: armored,
            algorithm: 'rsa',
            bits: 4096,
            userIds: ['Bench (CODE SIGNING KEY) <bench@example.org>'],
          },
        },
        stream,
        leader,
        null,
      ),
      draftOf(
        { type: 'SigningKeyAuthorized', v: 1, data: { fingerprint: fpr, authorizedBy: [leader] } },
        stream,
        'log',
        null,
      ),
    ]);
    const text = `ADDING Package Signing Key of ~bench (${fpr}).`;
    await log.writer.append([
      draftOf(
        {
          type: 'AnnouncementPosted',
          v: 1,
          data: { fingerprint: fpr, kind: 'ADDING', channel: 'atom', url: 'https://keys.example/a/3', text, cause: 3 },
        },
        stream,
        'log',
        null,
      ),
    ]);
    clock.set(new Date());
    const projection = new TrustProjection(log.reader);
    await projection.catchUp();
    const served = await new SnapshotService(log, projection, clock, { ttlMs: 7 * DAY, refreshMs: DAY }).current();
    const state = join(work, 'state');
    mkdirSync(state);
    writeFileSync(join(state, 'vkey'), `${log.identity.verifierKey}\n`);
    writeFileSync(join(state, 'snapshot.json'), served.body);
    await log.close();

    // The module: 1,000 files of 10 KB in 10 directories, signed as FreePBX modules are.
    const dir = join(work, 'module');
    for (let d = 0; d < 10; d++) {
      mkdirSync(join(dir, `dir${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(dir, `dir${d}`, `file${f}.php`), randomBytes(10 * 1024));
    }
    const body = await moduleSigBody(dir);
    writeFileSync(join(dir, 'module.sig'), gpg.clearSign(fpr, body, new Date()));
    writeFileSync(join(work, 'key.asc'), armored);
    const sums = body
      .split('\n')
      .map((l) => /^(\S+) = ([0-9a-f]{64})$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => `${m[2]}  ${m[1]}`)
      .join('\n');
    writeFileSync(join(work, 'SHA256SUMS'), `${sums}\n`);

    const rounds = quick ? 5 : 11;
    const env = { ...process.env, SIGNET_CLIENT_DIR: state };
    const ours = () => {
      const r = spawnSync(
        process.execPath,
        [
          ...(process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : []),
          CLI_BIN,
          'verify',
          'module',
          dir,
        ],
        { env, encoding: 'utf8' },
      );
      if (r.status !== 0) throw new Error(`signet verify module failed: ${r.stdout}${r.stderr}`);
    };
    const raw = () =>
      execFileSync(process.execPath, ['--input-type=module', '-e', RAW, dir, join(work, 'key.asc')], {
        cwd: process.cwd(),
      });
    const freepbx = () => {
      execFileSync('gpg', ['--homedir', gpg.home, '--batch', '--quiet', '--verify', join(dir, 'module.sig')], {
        stdio: 'ignore',
      });
      execFileSync('sha256sum', ['--quiet', '-c', join(work, 'SHA256SUMS')], { cwd: dir, stdio: 'ignore' });
    };
    ours();
    raw();
    freepbx(); // warm the page cache
    const [a, b, c] = timeInTurn([ours, raw, freepbx], rounds) as [number, number, number];
    line(
      'signet verify module, 1,000 files / 10 MB',
      `${a.toFixed(0)} ms`,
      `${b.toFixed(0)} ms`,
      a / b,
      '<= 1.3',
      'raw hash+verify',
    );
    line(
      'signet verify module, 1,000 files / 10 MB',
      `${a.toFixed(0)} ms`,
      `${c.toFixed(0)} ms`,
      a / c,
      undefined,
      'gpg --verify+sha256sum',
    );
  } finally {
    await backend.cleanup();
    gpg.remove();
    if (process.env.BENCH_KEEP) console.log(`  (kept the module and state in ${work})`);
    else rmSync(work, { recursive: true, force: true });
  }
}
