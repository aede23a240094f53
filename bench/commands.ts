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

    // Throughput: 32 clients at once, each command about another member so that any order works.
    // A first round (every member made a leader) warms the verification threads and the JIT, as
    // the baseline's loop of several seconds is warm; the second (each made a member again) is timed.
    const members = quick ? 64 : 160;
    const warmUp: { bytes: string; signature: string }[] = [];
    const rest: { bytes: string; signature: string }[] = [];
    for (let i = 0; i < members; i++) {
      const fpr = gpg.genKey(`M${i} <m${i}@bench.example>`, 'ed25519', made);
      const [bytes, signature] = Object.values(
        await sign({ type: 'AddMember', key: gpg.exportKey(fpr), username: `m${i}`, role: 'member' }),
      ) as [string, string];
      await service.submit(bytes, signature);
      warmUp.push(await sign({ type: 'ChangeMemberRole', member: fpr, role: 'leader' }));
      rest.push(await sign({ type: 'ChangeMemberRole', member: fpr, role: 'member' }));
    }
    const concurrently = async (list: { bytes: string; signature: string }[]) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < list.length) {
            const c = list[next++]!;
            await service.submit(c.bytes, c.signature);
          }
        }),
      );
    };
    await concurrently(warmUp);
    const t = performance.now();
    await concurrently(rest);
    const rate = rest.length / ((performance.now() - t) / 1000);
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
