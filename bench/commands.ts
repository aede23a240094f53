// Signed commands: latency of one (verify + decide + append) against a raw single-row commit plus
// one openpgp verify of the same signature; throughput with 32 concurrent clients against the
// openpgp verify rate on all cores.
import { availableParallelism } from 'node:os';
import * as openpgp from 'openpgp';
import postgres from 'postgres';
import { type Clock, DEFAULT_POLICY } from '@signet/domain';
import { readPublicKey } from '@signet/pgp';
import { type SignetServices, createServices } from '@signet/service';
import { openLog } from '@signet/store';
import { newBackend } from '../test/support/backends.js';
import { Gpg } from '../test/support/gpg.js';
import { verifyRateAllCores } from './verify-rate.js';

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchCommands(
  line: (what: string, figure: string, baseline: string, ratio: number, target?: string, label?: string) => void,
  quick: boolean,
): Promise<void> {
  const gpg = new Gpg();
  const made = new Date(Date.now() - 86_400_000);
  const rootFpr = gpg.genKey('Root <root@bench.example>', 'rsa4096', made);
  const memberFpr = gpg.genKey('Member <member@bench.example>', 'rsa4096', made);
  const rootPublic = gpg.exportKey(rootFpr);
  const rootPrivate = await openpgp.readPrivateKey({
    armoredKey: gpg.run(['--armor', '--export-secret-keys', rootFpr]),
  });
  const backend = await newBackend('postgres');
  const clock: Clock = { now: () => new Date() };
  const log = await openLog(backend.config, {
    init: true,
    clock,
    policy: {
      ...DEFAULT_POLICY,
      allowEd25519: true,
      rootKeys: [{ fingerprint: rootFpr, key: (await readPublicKey(rootPublic)).facts.armored }],
    },
  });
  const wired: SignetServices = await createServices(log, backend.config, clock);
  const { commands: service } = wired;
  const origin = log.identity.origin;
  let n = 0;
  const sign = async (body: Record<string, unknown>) => {
    const bytes = JSON.stringify({ origin, id: `bench-${++n}`, issuedAt: new Date().toISOString(), ...body });
    const signature = (await openpgp.sign({
      message: await openpgp.createMessage({ binary: new TextEncoder().encode(bytes) }),
      signingKeys: rootPrivate,
      detached: true,
      format: 'armored',
      config: { preferredHashAlgorithm: openpgp.enums.hash.sha512 },
    })) as string;
    return { bytes, signature };
  };
  try {
    await service.submit(
      ...(Object.values(
        await sign({ type: 'AddMember', key: gpg.exportKey(memberFpr), username: 'member', role: 'member' }),
      ) as [string, string]),
    );
    const count = quick ? 100 : 300;
    // Alternate the member's role so every command appends one event.
    const commands = [];
    for (let i = 0; i < count; i++)
      commands.push(
        await sign({ type: 'ChangeMemberRole', member: memberFpr, role: i % 2 === 0 ? 'leader' : 'member' }),
      );

    // Baseline: a raw single-row commit plus one openpgp verify of the same kind of signature.
    const sql = postgres(backend.config.databaseUrl!, { max: 1, onnotice: () => {} });
    await sql`CREATE TABLE plain_commands (id bigserial PRIMARY KEY, body bytea NOT NULL)`;
    const rootKey = await openpgp.readKey({ armoredKey: rootPublic });
    const raw: number[] = [];
    for (const c of commands.slice(0, count)) {
      const t = performance.now();
      const sig = await openpgp.readSignature({ armoredSignature: c.signature });
      const v = await openpgp.verify({
        message: await openpgp.createMessage({ binary: new TextEncoder().encode(c.bytes) }),
        signature: sig,
        verificationKeys: rootKey,
        expectSigned: true,
        format: 'binary',
      });
      await v.signatures[0]!.verified;
      await sql.begin((tx) => tx`INSERT INTO plain_commands (body) VALUES (${Buffer.from(c.bytes)})`);
      raw.push(performance.now() - t);
    }
    await sql.end();

    const ours: number[] = [];
    for (const c of commands.slice(0, count / 2)) {
      const t = performance.now();
      await service.submit(c.bytes, c.signature);
      ours.push(performance.now() - t);
    }
    line(
      'signed command p50 (verify+decide+append)',
      `${p50(ours).toFixed(2)} ms`,
      `${p50(raw).toFixed(2)} ms`,
      p50(ours) / p50(raw),
      '<= 2',
      'commit+verify',
    );

    // Throughput: 32 clients at once, in rounds over `members` members (each round changes every
    // member's role: any order within a round works; a member's next command waits for its last).
    // The first rounds warm the verification threads (they start at the first command that finds
    // another in flight) and the JIT, as a running server's are and as the baseline's loop of
    // several seconds is; the rounds after them are timed together, a steady window of about a
    // second (with no barrier between rounds, so no round's tail is timed alone). Measured: with
    // one warm-up round, V8's compiler threads still took as much CPU as the main thread in the
    // window, and the figure moved by a third from run to run.
    const members = quick ? 64 : 160;
    const warmup = quick ? 1 : 3;
    const rounds = warmup + (quick ? 3 : 12);
    const fprs: string[] = [];
    for (let i = 0; i < members; i++) {
      const fpr = gpg.genKey(`M${i} <m${i}@bench.example>`, 'ed25519', made);
      const [bytes, signature] = Object.values(
        await sign({ type: 'AddMember', key: gpg.exportKey(fpr), username: `m${i}`, role: 'member' }),
      ) as [string, string];
      await service.submit(bytes, signature);
      fprs.push(fpr);
    }
    const plan: { member: number; bytes: string; signature: string }[][] = [];
    for (let r = 0; r < rounds; r++) {
      const round = [];
      for (let m = 0; m < members; m++)
        round.push({
          member: m,
          ...(await sign({ type: 'ChangeMemberRole', member: fprs[m]!, role: r % 2 === 0 ? 'leader' : 'member' })),
        });
      plan.push(round);
    }
    const last: Promise<unknown>[] = fprs.map(() => Promise.resolve());
    const concurrently = async (list: { member: number; bytes: string; signature: string }[]) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < list.length) {
            const c = list[next++]!;
            const before = last[c.member]!;
            const done = before.then(() => service.submit(c.bytes, c.signature));
            last[c.member] = done;
            await done;
          }
        }),
      );
    };
    for (const round of plan.slice(0, warmup)) await concurrently(round);
    const timed = plan.slice(warmup).flat();
    const t = performance.now();
    await concurrently(timed);
    const rate = timed.length / ((performance.now() - t) / 1000);
    const samples = commands
      .slice(0, 50)
      .map((c) => ({ kind: 'detached' as const, text: c.bytes, signature: c.signature }));
    const ceiling = await verifyRateAllCores(samples, [rootPublic], quick ? 2 : 4);
    line(
      'signed commands, 32 concurrent clients',
      `${rate.toFixed(0)} cmd/s`,
      `${ceiling.toFixed(0)} /s`,
      rate / ceiling,
      undefined,
      `verify, ${availableParallelism()} cores`,
    );
  } finally {
    await wired?.close();
    await log.close();
    await backend.cleanup();
    gpg.remove();
  }
}
