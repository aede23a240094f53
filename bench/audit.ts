// `signet audit`: the replay rate (events/s) of a log of realistic events — module signatures
// (RSA-4096 clear signatures, as FreePBX modules are signed) and one signed command in ten —
// against openpgp.js verifying the same signatures on all cores in the same run; and the audit's
// peak RSS at two sizes.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import * as openpgp from 'openpgp';
import {
  DEFAULT_POLICY,
  type EventDraft,
  ManualClock,
  decideCommand,
  decideModuleSignature,
  evolve,
  parseCommand,
} from '@signet/domain';
import { readPublicKey } from '@signet/pgp';
import { type SignetServices, createServices } from '@signet/service';
import { openLog } from '@signet/store';
import { CLI_BIN, startApp } from '../test/support/app.js';
import { newBackend } from '../test/support/backends.js';
import { Gpg } from '../test/support/gpg.js';
import { type Sample, verifyRateAllCores } from './verify-rate.js';

type Line = (what: string, figure: string, baseline: string, ratio: number, target?: string, label?: string) => void;

const DAY = 86_400_000;
const DISTINCT_MODULE_SIGS = 200;

/** Builds a log of `total` events through the pure decisions (what the services would append), and audits it. */
async function auditOf(
  total: number,
  gpg: Gpg,
  keys: { root: string; leader: string; owner: string; sign: string },
): Promise<{ rate: number; rssMiB: number; samples: Sample[]; publicKeys: string[] }> {
  const t0 = new Date(Date.now() - 30 * DAY);
  const clock = new ManualClock(t0);
  const backend = await newBackend('postgres');
  const armored = (fpr: string) => gpg.exportKey(fpr);
  const secret = async (fpr: string) =>
    openpgp.readPrivateKey({ armoredKey: gpg.run(['--armor', '--export-secret-keys', fpr]) });
  const rootKey = await secret(keys.root);
  const signKey = await secret(keys.sign);
  const log = await openLog(backend.config, {
    init: true,
    clock,
    policy: {
      ...DEFAULT_POLICY,
      allowEd25519: true,
      rootKeys: [{ fingerprint: keys.root, key: (await readPublicKey(armored(keys.root))).facts.armored }],
    },
  });
  const origin = log.identity.origin;
  let n = 0;
  const signCommand = async (body: Record<string, unknown>, at: Date) => {
    const bytes = JSON.stringify({ origin, id: `bench-${++n}`, issuedAt: at.toISOString(), ...body });
    const signature = (await openpgp.sign({
      message: await openpgp.createMessage({ binary: new TextEncoder().encode(bytes) }),
      signingKeys: rootKey,
      detached: true,
      format: 'armored',
      date: at,
      config: { preferredHashAlgorithm: openpgp.enums.hash.sha512 },
    })) as string;
    return { bytes, signature };
  };
  let wired: SignetServices;
  wired = await createServices(log, backend.config, clock);
  const { projection, commands: service } = wired;
  const submit = async (body: Record<string, unknown>) => {
    const c = await signCommand(body, clock.now());
    await service.submit(c.bytes, c.signature);
  };
  const samples: Sample[] = [];
  let app;
  try {
    // The team and an authorized, announced signing key, as the services decide them.
    await submit({ type: 'AddMember', key: armored(keys.leader), username: 'leader', role: 'leader' });
    await submit({ type: 'AddMember', key: armored(keys.owner), username: 'owner', role: 'member' });
    gpg.certify(keys.leader, keys.sign, t0);
    const c = await signCommand({ type: 'AddSigningKey', key: armored(keys.sign) }, clock.now());
    const ownerSig = (await openpgp.sign({
      message: await openpgp.createMessage({ binary: new TextEncoder().encode(c.bytes) }),
      signingKeys: await secret(keys.owner),
      detached: true,
      format: 'armored',
      date: clock.now(),
      config: { preferredHashAlgorithm: openpgp.enums.hash.sha512 },
    })) as string;
    await service.submit(c.bytes, ownerSig);
    await submit({
      type: 'RecordAnnouncement',
      fingerprint: keys.sign,
      kind: 'ADDING',
      url: 'https://bench.example/adding',
    });
    clock.set(new Date(t0.getTime() + 15 * DAY));

    // Module signatures: distinct clear-signed module.sig files, cycled over many versions.
    const moduleSigs: { armored: string; text: string; created: string }[] = [];
    for (let i = 0; i < DISTINCT_MODULE_SIGS; i++) {
      const text = `[config]\nversion=1\nhash=sha256\nsignedwith=${keys.sign}\n[hashes]\nmodule.xml = ${(i + 1).toString(16).padStart(64, '0')}\n`;
      const created = clock.now();
      const signed = (await openpgp.sign({
        message: await openpgp.createCleartextMessage({ text }),
        signingKeys: signKey,
        date: created,
        config: { preferredHashAlgorithm: openpgp.enums.hash.sha512 },
      })) as string;
      const message = await openpgp.readCleartextMessage({ cleartextMessage: signed });
      moduleSigs.push({
        armored: signed,
        text: message.getText(),
        created: new Date(Math.floor(created.getTime() / 1000) * 1000).toISOString(),
      });
      samples.push({ kind: 'cleartext', text: '', signature: signed });
    }
    const state = await projection.catchUp();
    let roleIsLeader = false;
    while (state.size < total) {
      const now = new Date(clock.now().getTime() + 1000);
      clock.set(now);
      const drafts: EventDraft[] = [];
      for (let k = 0; k < 1000 && state.size < total; k++) {
        let decided: EventDraft[];
        if (state.size % 10 === 0) {
          roleIsLeader = !roleIsLeader;
          const cmd = await signCommand(
            { type: 'ChangeMemberRole', member: keys.owner, role: roleIsLeader ? 'security' : 'member' },
            now,
          );
          if (samples.length < DISTINCT_MODULE_SIGS * 1.1)
            samples.push({ kind: 'detached', text: cmd.bytes, signature: cmd.signature });
          decided = decideCommand(
            state,
            {
              command: parseCommand(cmd.bytes),
              signer: keys.root,
              evidence: { command: cmd.bytes, signature: cmd.signature },
            },
            now,
          );
        } else {
          const sig = moduleSigs[state.size % moduleSigs.length]!;
          decided = decideModuleSignature(
            state,
            {
              module: `module${state.size % 97}`,
              version: `1.0.${state.size}`,
              signer: keys.sign,
              signatureCreated: sig.created,
              text: sig.text,
              moduleSig: sig.armored,
            },
            now,
          );
        }
        for (const d of decided) evolve(state, { ...d, seq: state.size, recordedAt: now.toISOString() });
        drafts.push(...decided);
      }
      await log.writer.append(drafts, { recordedAt: now });
    }
    await wired?.close();
    await log.close();
    app = await startApp({
      SIGNET_DATA_DIR: backend.config.dataDir,
      DATABASE_URL: backend.config.databaseUrl,
      SIGNET_WORKERS: 'off',
    });
    await fetch(`${app.url}/trust/snapshot?size=${total}`); // computed once, as for any auditor
    const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : [];
    const heap = process.env.BENCH_AUDIT_HEAP_MB ? [`--max-old-space-size=${process.env.BENCH_AUDIT_HEAP_MB}`] : [];
    const run = spawnSync(
      '/usr/bin/time',
      [
        '-f',
        '%M',
        process.execPath,
        ...heap,
        ...profile,
        CLI_BIN,
        'audit',
        '--server',
        app.url,
        '--vkey',
        log.identity.verifierKey,
        '--json',
      ],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    if (run.status !== 0) throw new Error(`audit failed: ${run.stdout}${run.stderr}`);
    const report = JSON.parse(run.stdout) as { eventsPerSecond: number; size: number };
    if (report.size !== total) throw new Error(`audited ${report.size} events, not ${total}`);
    const rssKiB = Number(run.stderr.trim().split('\n').pop());
    return {
      rate: report.eventsPerSecond,
      rssMiB: rssKiB / 1024,
      samples,
      publicKeys: [armored(keys.root), armored(keys.sign)],
    };
  } finally {
    await app?.stop();
    await log.close().catch(() => undefined);
    await backend.cleanup();
  }
}

export async function benchAudit(line: Line, quick: boolean, million: boolean): Promise<void> {
  const gpg = new Gpg();
  try {
    const made = new Date(Date.now() - 60 * DAY);
    const keys = {
      root: gpg.genKey('Root <root@bench.example>', 'ed25519', made),
      leader: gpg.genKey('Leader <leader@bench.example>', 'ed25519', made),
      owner: gpg.genKey('Owner <owner@bench.example>', 'ed25519', made),
      sign: gpg.genKey('Owner (CODE SIGNING KEY) <owner@mybb.example>', 'rsa4096', made),
    };
    const sizes = quick ? [10_000, 30_000] : million ? [100_000, 1_000_000] : [30_000, 100_000];
    const runs = [];
    for (const size of sizes) runs.push({ size, ...(await auditOf(size, gpg, keys)) });
    const { samples, publicKeys } = runs[0]!;
    const raw = await verifyRateAllCores(samples, publicKeys, quick ? 3 : 6);
    for (const r of runs) {
      line(
        `audit replay, ${r.size.toLocaleString('en')} events (1 in 10 a command)`,
        `${r.rate.toFixed(0)} ev/s`,
        `${raw.toFixed(0)} /s`,
        r.rate / raw,
        '>= 0.8',
        `openpgp verify, ${availableParallelism()} cores`,
      );
    }
    const [a, b] = runs;
    line(
      `audit peak RSS, ${b!.size.toLocaleString('en')} vs ${a!.size.toLocaleString('en')} events`,
      `${b!.rssMiB.toFixed(0)} MiB`,
      `${a!.rssMiB.toFixed(0)} MiB`,
      b!.rssMiB / a!.rssMiB,
      undefined,
      `at ${a!.size.toLocaleString('en')}`,
    );
  } finally {
    gpg.remove();
  }
}
