import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLog } from '@signet/store';
import {
  type NoteSigner,
  type WitnessVerifier,
  cosignCheckpoint,
  encodeSignerKey,
  encodeVerifierKey,
  openCheckpoint,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  parseWitnessSignerKey,
  parseWitnessVerifierKey,
  requireQuorum,
  sha256,
  signCheckpoint,
  signatureLine,
} from '@signet/tlog';
import { type RunningApp, CLI_BIN, TEST_PUBLIC_URL, startApp } from '../support/app.js';
import { type Backend, newBackend } from '../support/backends.js';
import { inertDraft } from '../support/drafts.js';
import { verifyCheckpointNote } from '../support/c2sp-client.js';

// Witnesses (C2SP tlog-cosignature) over HTTP: two configured witnesses run `signet witness
// cosign` against the built server; the log serves their cosignatures on its checkpoint; every
// refusal is a 4xx {code, message} that leaves what the log serves unchanged.

const ORIGIN = 'e2e.signet.test/witness';

const draft = (i: number) => inertDraft(i, { stream: `test/${i % 7}` });

interface Witness {
  readonly name: string;
  readonly keyFile: string;
  readonly vkey: string;
  readonly state: string;
}

describe('witness cosignatures', () => {
  const work = mkdtempSync(join(tmpdir(), 'signet-witness-e2e-'));
  let backend: Backend;
  let app: RunningApp;
  let vkey = '';
  let logSigner: NoteSigner;
  let size = 0;
  const w: Record<'one' | 'two' | 'stranger', Witness> = {} as never;
  let verifiers: WitnessVerifier[];
  const env = () => ({
    SIGNET_DATA_DIR: backend.config.dataDir,
    DATABASE_URL: backend.config.databaseUrl ?? '',
    SIGNET_PUBLIC_URL: TEST_PUBLIC_URL,
    SIGNET_WORKERS: 'off',
  });

  /** Runs `signet …` as a witness's cron job would. */
  function signet(...args: string[]): { code: number; out: string; err: string } {
    const r = spawnSync(process.execPath, [CLI_BIN, ...args], { encoding: 'utf8' });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }

  const cosign = (who: Witness, state = who.state, key = vkey) =>
    signet('witness', 'cosign', '--server', app.url, '--vkey', key, '--key', who.keyFile, '--state', state);

  function keygen(name: string): Witness {
    const r = signet('witness', 'keygen', '--name', name);
    expect(r.code, r.err).toBe(0);
    const keyFile = join(work, `${name.replace(/\W/g, '_')}.key`);
    writeFileSync(keyFile, r.out, { mode: 0o600 });
    return {
      name,
      keyFile,
      vkey: /verifier key: (\S+)/.exec(r.out)![1]!,
      state: join(work, `state-${name.replace(/\W/g, '_')}`),
    };
  }

  /** Appends from this process while the server runs (Postgres takes a second sequencer). */
  async function growTo(target: number): Promise<void> {
    const log = await openLog(backend.config);
    try {
      await log.writer.append(Array.from({ length: target - size }, (_, j) => draft(size + j)));
    } finally {
      await log.close();
    }
    size = target;
  }

  async function get(path: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`${app.url}${path}`);
    return { status: res.status, text: await res.text() };
  }

  async function post(
    body: string,
    contentType = 'text/plain',
  ): Promise<{ status: number; body: Record<string, any> }> {
    const res = await fetch(`${app.url}/log/cosignature`, {
      method: 'POST',
      body,
      headers: { 'content-type': contentType },
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  /** What the log serves: both checkpoints, to show a refusal changed neither. */
  const served = async () => [(await get('/log/checkpoint')).text, (await get('/log/checkpoint/cosigned')).text];

  /** The log's own note for its head, as a witness gets it (without others' cosignatures). */
  async function headNote(): Promise<string> {
    const note = (await get('/log/checkpoint')).text;
    const logKey = parseVerifierKey(vkey);
    const { text, signatures } = parseNote(note);
    return `${text}\n${signatures
      .filter((s) => s.name === logKey.name && s.keyHash === logKey.keyHash)
      .map(signatureLine)
      .join('')}`;
  }

  const witnessSigner = (who: Witness) =>
    parseWitnessSignerKey(readFileSync(who.keyFile, 'utf8').match(/PRIVATE\+KEY\+\S+/)![0]).signer;
  const namesIn = (note: string) => parseNote(note).signatures.map((s) => s.name);

  beforeAll(async () => {
    backend = await newBackend('postgres');
    const out = execFileSync(process.execPath, [CLI_BIN, 'init', '--origin', ORIGIN], {
      env: { ...process.env, ...env() },
      encoding: 'utf8',
    });
    vkey = /verifier key: (\S+)/.exec(out)![1]!;
    logSigner = parseSignerKey(readFileSync(join(backend.config.dataDir, 'log.key'), 'utf8').trim()).signer;
    size = 1;
    await growTo(10);
    w.one = keygen('w1.witness.test');
    w.two = keygen('w2.witness.test');
    w.stranger = keygen('w3.witness.test');
    verifiers = [w.one, w.two].map((x) => parseWitnessVerifierKey(x.vkey));
    // Both separators SIGNET_WITNESSES takes; listed in the order opposite to the served one.
    app = await startApp({ ...env(), SIGNET_WITNESSES: `${w.two.vkey},\n${w.one.vkey}\n` });
  });

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await backend?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('serves the bare checkpoint, and no cosigned checkpoint, before any witness cosigns', async () => {
    expect(namesIn((await get('/log/checkpoint')).text)).toEqual([ORIGIN]);
    const none = await get('/log/checkpoint/cosigned');
    expect(none.status).toBe(404);
    expect(JSON.parse(none.text).code).toBe('NOT_COSIGNED');
  });

  it('takes each witness’s cosignature: the checkpoint carries both, for the log key alone and for a quorum of two', async () => {
    for (const who of [w.two, w.one]) {
      const r = cosign(who);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(
        new RegExp(`cosigned ${ORIGIN} at size 10 as ${who.name.replace(/\./g, '\\.')} .*stored by the log`),
      );
    }
    const note = (await get('/log/checkpoint')).text;
    expect(namesIn(note)).toEqual([ORIGIN, 'w1.witness.test', 'w2.witness.test']);
    expect(openCheckpoint(note, parseVerifierKey(vkey)).size).toBe(10);
    expect(verifyCheckpointNote(note, vkey).size).toBe(10);
    expect(requireQuorum(note, verifiers, 2).map((c) => c.witness.name)).toEqual([
      'w1.witness.test',
      'w2.witness.test',
    ]);
    expect((await get('/log/checkpoint/cosigned')).text).toBe(note);
  });

  it('stores nothing again for a cosignature it has (200)', async () => {
    const before = await served();
    const again = await post(before[0]!);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ treeSize: 10, created: false });
    expect(again.body.cosignatures.map((c: { witness: string; stored: boolean }) => [c.witness, c.stored])).toEqual([
      ['w1.witness.test', false],
      ['w2.witness.test', false],
    ]);
    expect(await served()).toEqual(before);
  });

  it('serves a witness’s later line for the same size (the earlier one is kept: cosignatures are append-only), never an earlier one', async () => {
    const note = await headNote();
    const signer = witnessSigner(w.one);
    const later = await post(note + cosignCheckpoint(note, signer, Math.floor(Date.now() / 1000) + 60));
    expect(later.status).toBe(201);
    const after = (await get('/log/checkpoint')).text;
    const earlier = await post(note + cosignCheckpoint(note, signer, 1_000));
    expect(earlier.status).toBe(200);
    expect(earlier.body.cosignatures[0].stored).toBe(false);
    expect((await get('/log/checkpoint')).text).toBe(after);
    expect(requireQuorum(after, verifiers).length).toBe(2);
  });

  it('follows the log as it grows, each witness checking a consistency proof', async () => {
    await growTo(25);
    const bare = (await get('/log/checkpoint')).text;
    expect(namesIn(bare)).toEqual([ORIGIN]);
    expect(openCheckpoint((await get('/log/checkpoint/cosigned')).text, parseVerifierKey(vkey)).size).toBe(10);

    expect(cosign(w.one).code).toBe(0);
    const one = (await get('/log/checkpoint')).text;
    expect(namesIn(one)).toEqual([ORIGIN, 'w1.witness.test']);
    expect(() => requireQuorum(one, verifiers, 2)).toThrow(/missing: w2\.witness\.test/);
    expect((await get('/log/checkpoint/cosigned')).text).toBe(one);

    expect(cosign(w.two).code).toBe(0);
    const both = (await get('/log/checkpoint')).text;
    expect(openCheckpoint(both, parseVerifierKey(vkey)).size).toBe(25);
    expect(requireQuorum(both, verifiers, 2)).toHaveLength(2);
    expect((await get('/log/checkpoint/cosigned')).text).toBe(both);
  });

  describe('refusals: 4xx {code, message}, nothing stored', () => {
    const cases: [string, () => Promise<string> | string, number, string, string?][] = [
      ['garbage', () => 'hello, log\n', 400, 'BAD_CHECKPOINT'],
      ['a note that is not a checkpoint', () => `hello\n\n— ${ORIGIN} AAAAAAAA\n`, 400, 'BAD_CHECKPOINT'],
      ['JSON', () => JSON.stringify({ note: 'x' }), 400, 'BAD_CHECKPOINT', 'application/json'],
      ['a body too large', () => `${'x'.repeat(70 * 1024)}\n`, 413, 'TOO_LARGE'],
      ['no cosignature', () => headNote(), 403, 'UNKNOWN_WITNESS'],
      [
        'an unknown witness',
        async () => {
          const n = await headNote();
          return n + cosignCheckpoint(n, witnessSigner(w.stranger), 1_800_000_000);
        },
        403,
        'UNKNOWN_WITNESS',
      ],
      [
        'a bad signature by a configured witness',
        async () => {
          const n = await headNote();
          const sig = parseNote(n + cosignCheckpoint(n, witnessSigner(w.one), 1_800_000_000)).signatures.at(-1)!;
          const bytes = Buffer.from(sig.signature);
          bytes[40] = bytes[40]! ^ 0x01;
          return n + signatureLine({ ...sig, signature: bytes });
        },
        422,
        'BAD_COSIGNATURE',
      ],
      [
        'a tampered timestamp',
        async () => {
          const n = await headNote();
          const sig = parseNote(n + cosignCheckpoint(n, witnessSigner(w.two), 1_800_000_000)).signatures.at(-1)!;
          const bytes = Buffer.from(sig.signature);
          bytes[7] = bytes[7]! ^ 0x01;
          return n + signatureLine({ ...sig, signature: bytes });
        },
        422,
        'BAD_COSIGNATURE',
      ],
      [
        'a wrong root, signed by the log key',
        () =>
          cosigned(
            signCheckpoint({ origin: ORIGIN, size: 10, root: sha256('not the root'), extensions: [] }, logSigner),
          ),
        409,
        'CHECKPOINT_MISMATCH',
      ],
      [
        'a size beyond the log',
        () =>
          cosigned(signCheckpoint({ origin: ORIGIN, size: 1000, root: sha256('future'), extensions: [] }, logSigner)),
        409,
        'CHECKPOINT_MISMATCH',
      ],
      [
        'another log of the same name',
        () =>
          cosigned(signCheckpoint({ origin: ORIGIN, size: 10, root: sha256('x'), extensions: [] }, otherLog(ORIGIN))),
        422,
        'NOT_THIS_LOG',
      ],
      [
        'another log',
        () =>
          cosigned(
            signCheckpoint(
              { origin: 'elsewhere.test/log', size: 3, root: sha256('y'), extensions: [] },
              otherLog('elsewhere.test/log'),
            ),
          ),
        422,
        'NOT_THIS_LOG',
      ],
    ];

    function otherLog(origin: string): NoteSigner {
      return parseSignerKey(encodeSignerKey(origin, sha256(`another log ${origin}`))).signer;
    }

    /** A note cosigned by a configured witness (which would refuse to, but its key can be misused). */
    const cosigned = (note: string) => note + cosignCheckpoint(note, witnessSigner(w.one), 1_800_000_000);

    for (const [what, body, status, code, contentType] of cases) {
      it(`refuses ${what} with ${status} ${code}`, async () => {
        const before = await served();
        const answer = await post(await body(), contentType);
        expect(answer.status).toBe(status);
        expect(answer.body.code).toBe(code);
        expect(typeof answer.body.message).toBe('string');
        expect(await served()).toEqual(before);
      });
    }
  });

  describe('the witness refuses (exit 1) and posts nothing', () => {
    /** A state directory for witness one as if it had cosigned `note` last. */
    function stateWith(note: string | null, pinned = vkey): string {
      const dir = mkdtempSync(join(work, 'state-'));
      cpSync(w.one.state, dir, { recursive: true });
      writeFileSync(join(dir, 'vkey'), `${pinned}\n`);
      if (note !== null) writeFileSync(join(dir, 'checkpoint'), note);
      return dir;
    }

    const cases: [string, () => string, RegExp, string?][] = [
      [
        'a checkpoint smaller than one it cosigned',
        () => stateWith(signCheckpoint({ origin: ORIGIN, size: 1000, root: sha256('r'), extensions: [] }, logSigner)),
        /CHECKPOINT_ROLLBACK/,
      ],
      [
        'a checkpoint inconsistent with the last one',
        () => stateWith(signCheckpoint({ origin: ORIGIN, size: 5, root: sha256('r'), extensions: [] }, logSigner)),
        /CHECKPOINT_FORK: .*not consistent/,
      ],
      [
        'another root for the same size',
        () => stateWith(signCheckpoint({ origin: ORIGIN, size: 25, root: sha256('r'), extensions: [] }, logSigner)),
        /CHECKPOINT_FORK: two roots/,
      ],
      [
        'a state not signed by the log',
        () =>
          stateWith(
            signCheckpoint(
              { origin: ORIGIN, size: 5, root: sha256('r'), extensions: [] },
              parseSignerKey(encodeSignerKey(ORIGIN, sha256('forger'))).signer,
            ),
          ),
        /WITNESS_STATE/,
      ],
      ['a state pinned to another log', () => stateWith(null, 'other.test+00000000+AAAA'), /WITNESS_WRONG_LOG/],
    ];

    for (const [what, state, message] of cases) {
      it(`refuses ${what}`, async () => {
        const before = await served();
        const r = cosign(w.one, state());
        expect(r.code).toBe(1);
        expect(r.err).toMatch(message);
        expect(await served()).toEqual(before);
      });
    }

    it('refuses a checkpoint that does not verify with the pinned log key', async () => {
      const before = await served();
      const other = parseSignerKey(encodeSignerKey(ORIGIN, sha256('impostor')));
      const r = cosign(w.one, mkdtempSync(join(work, 'state-')), encodeVerifierKey(ORIGIN, other.publicKey));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/NOT_THIS_LOG/);
      expect(await served()).toEqual(before);
    });

    it('answers usage errors with exit 2', () => {
      expect(signet('witness', 'cosign', '--server', app.url).code).toBe(2);
      expect(signet('witness', 'keygen').code).toBe(2);
      expect(signet('witness').code).toBe(2);
    });
  });

  it('signet monitor, mirror and audit take only a checkpoint cosigned by a quorum of the named witnesses', async () => {
    const cosigned = openCheckpoint((await get('/log/checkpoint/cosigned')).text, parseVerifierKey(vkey));
    await growTo(size + 5); // the head moves on, not cosigned yet
    const quorum = ['--witness', w.one.vkey, '--witness', w.two.vkey];
    const state = join(work, 'monitor-state');
    const watched = signet(
      'monitor',
      '--server',
      app.url,
      '--vkey',
      vkey,
      ...quorum,
      '--once',
      '--watch',
      'nobody',
      '--state',
      state,
    );
    expect([watched.code, watched.err]).toEqual([0, '']);
    const accepted = JSON.parse(readFileSync(join(state, 'monitor.json'), 'utf8')) as { checkpoint: string };
    expect(openCheckpoint(accepted.checkpoint, parseVerifierKey(vkey)).size).toBe(cosigned.size);
    const mirrored = signet('mirror', '--server', app.url, '--vkey', vkey, ...quorum, '--json', join(work, 'mirror'));
    expect([mirrored.code, (JSON.parse(mirrored.out) as { size: number }).size]).toEqual([0, cosigned.size]);
    expect(requireQuorum(readFileSync(join(work, 'mirror', 'checkpoint'), 'utf8'), verifiers, 2)).toHaveLength(2);
    // A witness that has not cosigned: the quorum is not met, and nothing is audited.
    const strict = signet(
      'audit',
      '--server',
      app.url,
      '--vkey',
      vkey,
      '--witness',
      w.one.vkey,
      '--witness',
      w.stranger.vkey,
      '--json',
    );
    expect(strict.code).toBe(1);
    expect(JSON.parse(strict.out)).toMatchObject({ ok: false, seq: null, code: 'QUORUM_NOT_MET' });
    expect((JSON.parse(strict.out) as { message: string }).message).toMatch(/missing: w3\.witness\.test/);
    const loose = signet(
      'monitor',
      '--server',
      app.url,
      '--vkey',
      vkey,
      '--witness',
      w.one.vkey,
      '--witness',
      w.stranger.vkey,
      '--quorum',
      '1',
      '--once',
      '--watch',
      'nobody',
      '--state',
      join(work, 'monitor-loose'),
    );
    expect(loose.code).toBe(0);
    expect(signet('audit', '--server', app.url, '--vkey', vkey, '--witness', w.one.vkey, '--quorum', '2').code).toBe(2);
  });
});
