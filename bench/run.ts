// `npm run bench`: each figure beside a raw baseline measured in the same run, and the ratio.
//   node dist/bench/run.js [append] [proof] [tiles] [commands] [outbox] [snapshot] [module] [--10m] [--quick]
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import pg from 'pg';
import postgres from 'postgres';
import { sealEvent, systemClock } from '@signet/domain';
import { createServices } from '@signet/service';
import { type SignetConfig, type SignetLog, openLog } from '@signet/store';
import { TILE_WIDTH } from '@signet/tlog';
import { type BackendName, newBackend } from '../test/support/backends.js';
import { startApp } from '../test/support/app.js';
import { keyDrafts } from '../test/support/workers.js';
import { inertDraft } from '../test/support/drafts.js';
import { benchCommands } from './commands.js';
import { benchOutbox } from './outbox.js';
import { benchAudit } from './audit.js';
import { benchModule } from './module.js';
import { median } from './stats.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const wanted = ['append', 'proof', 'tiles', 'commands', 'outbox', 'snapshot', 'module', 'audit'].filter((b) =>
  args.has(b),
);
const run = (name: string) => wanted.length === 0 || wanted.includes(name);

function line(
  what: string,
  figure: string,
  baseline: string,
  ratio: number,
  target?: string,
  baselineLabel = 'raw',
): void {
  console.log(
    `${what.padEnd(50)} ${figure.padStart(14)}   ${baselineLabel}: ${baseline.padStart(14)}   ratio ${ratio.toFixed(2)}${target ? `  (target ${target})` : ''}`,
  );
}

// A realistic event: an evidence-carrying command of ~1.5 KB, like a signed authorization.
// (An event the server folds to nothing, so the app can serve the filled log.)
const draft = (i: number) =>
  inertDraft(i, {
    stream: `signing-key/${(i % 1000).toString(16).padStart(40, '0')}`,
    actor: 'FEEDDEAFABBABEADBABEFACEDEADBEEFCEDECAFE',
    text: `example 1.0.${i}`,
    evidence: {
      command: JSON.stringify({ id: `cmd-${i}`, type: 'AuthorizeSigningKey', pad: 'x'.repeat(600) }),
      signature: `-----BEGIN PGP SIGNATURE-----\n\n${'A'.repeat(700)}\n-----END PGP SIGNATURE-----\n`,
    },
  });

/** `appenders` callers each appending one event at a time through the log's one sequencer, as commands do. */
async function appendConcurrently(
  log: SignetLog,
  config: SignetConfig,
  total: number,
  appenders: number,
): Promise<{ seconds: number }> {
  const services = await createServices(log, config, systemClock);
  // Made before the clock starts, as the raw baseline's rows are.
  const drafts = Array.from({ length: total }, (_, i) => draft(i));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: appenders }, async () => {
      while (next < total) {
        const i = next++;
        await services.sequencer.append([drafts[i]!]);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await services.close();
  return { seconds };
}

/** The same rows, sealed the same way, inserted raw into a plain table in batches of `batch`. */
async function rawInsert(
  name: BackendName,
  url: string | undefined,
  total: number,
  batch: number,
  table = 'plain_events',
): Promise<number> {
  const rows = Array.from({ length: total }, (_, i) => {
    const { envelope, entry } = sealEvent(draft(i), i, new Date());
    return {
      seq: i,
      type: envelope.type,
      stream: envelope.stream,
      actor: envelope.actor,
      recorded_at: new Date(envelope.recordedAt),
      entry,
    };
  });
  const ddl = `CREATE TABLE ${table} (seq bigint PRIMARY KEY, type text NOT NULL, stream text NOT NULL, actor text NOT NULL, recorded_at timestamptz NOT NULL, entry bytea NOT NULL)`;
  if (name === 'postgres') {
    const sql = postgres(url!, { max: 1, onnotice: () => {} });
    await sql.unsafe(ddl);
    const started = performance.now();
    for (let i = 0; i < total; i += batch) {
      const chunk = rows.slice(i, i + batch).map((r) => ({ ...r, entry: Buffer.from(r.entry) }));
      await sql.begin((tx) => tx`INSERT INTO ${tx(table)} ${tx(chunk)}`);
    }
    const seconds = (performance.now() - started) / 1000;
    await sql.end();
    return total / seconds;
  }
  const pg = await PGlite.create();
  await pg.query(ddl);
  const started = performance.now();
  for (let i = 0; i < total; i += batch) {
    const chunk = rows.slice(i, i + batch);
    const params: unknown[] = [];
    const values = chunk.map((r) => {
      params.push(r.seq, r.type, r.stream, r.actor, r.recorded_at, r.entry);
      const b = params.length - 6;
      return `($${b + 1},$${b + 2},$${b + 3},$${b + 4},$${b + 5},$${b + 6})`;
    });
    await pg.transaction((tx) => tx.query(`INSERT INTO ${table} VALUES ${values.join(',')}`, params));
  }
  const seconds = (performance.now() - started) / 1000;
  await pg.close();
  return total / seconds;
}

/**
 * The same rows inserted as our append sends them (node-postgres, byte strings packed into one
 * binary bytea and split by the server): the floor of the encoding, beside the plain insert above.
 */
async function rawPackedInsert(url: string, total: number, batch: number): Promise<number> {
  const rows = Array.from({ length: total }, (_, i) => sealEvent(draft(i), i, new Date()));
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  await pool.query(
    'CREATE TABLE packed_events (seq bigint PRIMARY KEY, type text NOT NULL, stream text NOT NULL, actor text NOT NULL, recorded_at timestamptz NOT NULL, entry bytea NOT NULL)',
  );
  const started = performance.now();
  for (let i = 0; i < total; i += batch) {
    const chunk = rows.slice(i, i + batch);
    await pool.query(
      `INSERT INTO packed_events
         SELECT u.seq, u.type, u.stream, u.actor, u.at, substring($6::bytea FROM (u.ends - u.len + 1)::integer FOR u.len)
         FROM (SELECT v.*, sum(v.len) OVER (ORDER BY v.ord) AS ends
               FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $7::integer[])
                 WITH ORDINALITY AS v(seq, type, stream, actor, at, len, ord)) AS u`,
      [
        chunk.map((r) => r.envelope.seq),
        chunk.map((r) => r.envelope.type),
        chunk.map((r) => r.envelope.stream),
        chunk.map((r) => r.envelope.actor),
        chunk.map((r) => r.envelope.recordedAt),
        Buffer.concat(chunk.map((r) => r.entry)),
        chunk.map((r) => r.entry.length),
      ],
    );
  }
  const seconds = (performance.now() - started) / 1000;
  await pool.end();
  return total / seconds;
}

/** One round of ours, then raw in batches of 32, at our mean batch, and packed, on a new database. */
async function appendRound(name: BackendName, total: number): Promise<AppendRound> {
  const backend = await newBackend(name);
  let batches = 0;
  let events = 0;
  const log = await openLog(backend.config, {
    init: true,
    onBatch: (s) => {
      batches += 1;
      events += s.events;
    },
  });
  try {
    const { seconds } = await appendConcurrently(log, backend.config, total, 32);
    const mean = Math.max(1, Math.round(events / batches));
    // Our batches are smaller than the appenders' number when groups go behind one another
    // (Postgres): the raw insert in batches of 32 too, which a smaller batch does not flatter.
    const raw32 = mean === 32 ? 0 : await rawInsert(name, backend.config.databaseUrl, total, 32, 'plain_events_32');
    const raw = await rawInsert(name, backend.config.databaseUrl, total, mean);
    const packed = name === 'postgres' ? await rawPackedInsert(backend.config.databaseUrl!, total, mean) : 0;
    return { ours: total / seconds, raw, raw32: raw32 || raw, packed, mean };
  } finally {
    await log.close();
    await backend.cleanup();
  }
}

interface AppendRound {
  readonly ours: number;
  readonly raw: number;
  readonly raw32: number;
  readonly packed: number;
  readonly mean: number;
}

/**
 * Rounds of ours-then-raw, so drift on a shared machine hits both; each ratio is the median of
 * the rounds' own. A first, shorter round warms up both sides (the JIT, the drivers, the server's
 * caches) and is not counted: a cold first round flattered neither side the same way.
 */
async function benchAppend(name: BackendName): Promise<void> {
  const total = name === 'postgres' ? (quick ? 3_000 : 10_000) : quick ? 1_000 : 3_000;
  const rounds = quick ? 1 : 5;
  if (!quick) await appendRound(name, Math.round(total / 5));
  const results: AppendRound[] = [];
  for (let round = 0; round < rounds; round++) results.push(await appendRound(name, total));
  const ratios = (of: (r: AppendRound) => number) => results.map((r) => r.ours / of(r));
  const ours = median(results.map((r) => r.ours));
  const mean = Math.round(median(results.map((r) => r.mean)));
  const shown = (values: number[]) => values.map((v) => v.toFixed(2)).join(', ');
  const againstMean = ratios((r) => r.raw);
  line(
    `append, 32 appenders, ${name} (mean batch ${mean})`,
    `${ours.toFixed(0)} ev/s`,
    `${median(results.map((r) => r.raw)).toFixed(0)} ev/s`,
    median(againstMean),
    name === 'postgres' ? '>= 0.7' : undefined,
  );
  if (rounds > 1) console.log(`  (medians of ${rounds} rounds after a warm-up; ratios in order ${shown(againstMean)})`);
  if (results.some((r) => r.mean !== 32)) {
    const against32 = ratios((r) => r.raw32);
    line(
      `append, 32 appenders, ${name}, beside raw batches of 32`,
      `${ours.toFixed(0)} ev/s`,
      `${median(results.map((r) => r.raw32)).toFixed(0)} ev/s`,
      median(against32),
      name === 'postgres' ? '>= 0.7' : undefined,
      'raw, 32',
    );
    if (rounds > 1) console.log(`  (ratios in order ${shown(against32)})`);
  }
  if (name === 'postgres')
    line(
      `append, 32 appenders, ${name}, beside a packed insert`,
      `${ours.toFixed(0)} ev/s`,
      `${median(results.map((r) => r.packed)).toFixed(0)} ev/s`,
      median(ratios((r) => r.packed)),
      undefined,
      'raw packed',
    );
}

async function fill(log: SignetLog, total: number): Promise<void> {
  let at = await log.reader.size();
  const inflight: Promise<unknown>[] = [];
  while (at < total) {
    const n = Math.min(1000, total - at);
    const from = at;
    inflight.push(log.writer.append(Array.from({ length: n }, (_, j) => draft(from + j))));
    at += n;
    if (inflight.length >= 4) await Promise.all(inflight.splice(0));
  }
  await Promise.all(inflight);
}

/** The time of each of `samples` inclusion proofs of random leaves, in ms. */
async function proofTimes(log: SignetLog, size: number, samples: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const seq = Math.floor(Math.random() * size);
    const t = performance.now();
    await log.reader.inclusionProof(seq, size);
    times.push(performance.now() - t);
  }
  return times;
}

/**
 * Proof p50 in a log of 1M events against one of 10k, both kept on the same server and measured
 * in alternating rounds, so drift on the machine lands on both. Both tables are vacuumed and
 * analyzed first, as autovacuum leaves a table that grew: a proof measured in the minute after a
 * bulk load also pays for hint bits and plans made without statistics.
 */
async function benchProof(): Promise<void> {
  const big = args.has('--10m') ? 10_000_000 : quick ? 100_000 : 1_000_000;
  const backends = [await newBackend('postgres'), await newBackend('postgres')];
  const logs: SignetLog[] = [];
  try {
    for (const backend of backends) logs.push(await openLog(backend.config, { init: true }));
    const [smallLog, bigLog] = logs as [SignetLog, SignetLog];
    await fill(smallLog, 10_000);
    const t = performance.now();
    await fill(bigLog, big);
    const fillSeconds = (performance.now() - t) / 1000;
    for (const log of logs)
      for (const table of ['events', 'tree_nodes']) await sql.raw(`VACUUM (ANALYZE) ${table}`).execute(log.db.db);
    await proofTimes(smallLog, 10_000, 2000);
    await proofTimes(bigLog, big, 2000);
    const small: number[] = [];
    const large: number[] = [];
    for (let round = 0; round < 5; round++) {
      small.push(...(await proofTimes(smallLog, 10_000, 400)));
      large.push(...(await proofTimes(bigLog, big, 400)));
    }
    line(
      `inclusion proof p50, postgres, ${big / 1e6}M leaves`,
      `${median(large).toFixed(3)} ms`,
      `${median(small).toFixed(3)} ms`,
      median(large) / median(small),
      '<= 1.5',
      'at 10k',
    );
    console.log(
      `  (filled to ${big} events in ${fillSeconds.toFixed(1)} s: ${(big / fillSeconds).toFixed(0)} ev/s in batches of 1000; 2000 warm-up proofs each, then 5 alternating rounds of 400)`,
    );
  } finally {
    for (const log of logs) await log.close();
    for (const backend of backends) await backend.cleanup();
  }
}

interface LoadOptions {
  connections?: number;
  headers?: Record<string, string>;
  status?: 200 | 304;
}

async function load(url: string, seconds: number, options: LoadOptions = {}): Promise<number> {
  const result = await autocannon({
    url,
    connections: options.connections ?? 32,
    pipelining: 1,
    duration: seconds,
    headers: options.headers,
  });
  const wrong = options.status === 304 ? result['2xx'] + result['4xx'] + result['5xx'] : result.non2xx;
  if (wrong > 0 || result.errors > 0)
    throw new Error(`${url}: ${wrong} answers other than ${options.status ?? 200}, ${result.errors} errors`);
  return result.requests.average;
}

/**
 * Requests per second of our server and of the raw baseline under the same load: after a warm-up
 * of each (the JIT), rounds that alternate which goes first, each figure the median of its rounds,
 * so a burst of noise from elsewhere on the machine does not land on one side only.
 */
async function compareServers(
  oursUrl: string,
  rawUrl: string,
  options: LoadOptions,
): Promise<{ ours: number; baseline: number }> {
  const seconds = quick ? 2 : 4;
  const rounds = quick ? 3 : 5;
  await load(oursUrl, 2, options);
  await load(rawUrl, 2, options);
  const ours: number[] = [];
  const baseline: number[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      ours.push(await load(oursUrl, seconds, options));
      baseline.push(await load(rawUrl, seconds, options));
    } else {
      baseline.push(await load(rawUrl, seconds, options));
      ours.push(await load(oursUrl, seconds, options));
    }
  }
  return { ours: median(ours), baseline: median(baseline) };
}

/** GET /trust/snapshot (200, and 304 on If-None-Match) with 64 connections against raw node:http serving the same bytes. */
async function benchSnapshot(): Promise<void> {
  const backend = await newBackend('postgres');
  const log = await openLog(backend.config, { init: true });
  await log.writer.append(keyDrafts(0, 60, true));
  await log.close();
  const app = await startApp(
    { SIGNET_DATA_DIR: backend.config.dataDir, DATABASE_URL: backend.config.databaseUrl, SIGNET_WORKERS: 'off' },
    // The server logs every request, as in production; the benchmark keeps only the tail of it.
    { keepOutput: 64 * 1024 },
  );
  const response = await fetch(`${app.url}/trust/snapshot`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const etag = response.headers.get('etag')!;
  const raw = await rawTileServer(bytes, 'application/json');
  try {
    for (const status of [200, 304] as const) {
      const options = { connections: 64, status, headers: status === 304 ? { 'if-none-match': etag } : undefined };
      const { ours, baseline } = await compareServers(
        `${app.url}/trust/snapshot`,
        `${raw.url}/trust/snapshot`,
        options,
      );
      line(
        `GET /trust/snapshot ${status} (${(bytes.length / 1024).toFixed(0)} KiB), 64 connections`,
        `${ours.toFixed(0)} req/s`,
        `${baseline.toFixed(0)} req/s`,
        ours / baseline,
        '>= 0.8',
      );
    }
  } finally {
    raw.child.kill();
    await app.stop();
    await backend.cleanup();
  }
}

async function benchTiles(): Promise<void> {
  const backend = await newBackend('postgres');
  const log = await openLog(backend.config, { init: true });
  await fill(log, 2 * TILE_WIDTH + 10);
  await log.close();
  const app = await startApp(
    { SIGNET_DATA_DIR: backend.config.dataDir, DATABASE_URL: backend.config.databaseUrl },
    { keepOutput: 64 * 1024 },
  );
  const tilePath = '/log/tile/0/001';
  const bytes = Buffer.from(await (await fetch(`${app.url}${tilePath}`)).arrayBuffer());
  // The raw baseline runs in its own process too, so both servers get a core of their own
  // and the load generator the other.
  const raw = await rawTileServer(bytes);
  try {
    const { ours, baseline } = await compareServers(`${app.url}${tilePath}`, `${raw.url}${tilePath}`, {});
    line(
      'tile GET (full tile, 8 KiB), 32 connections',
      `${ours.toFixed(0)} req/s`,
      `${baseline.toFixed(0)} req/s`,
      ours / baseline,
      '>= 0.8',
    );
  } finally {
    raw.child.kill();
    await app.stop();
    await backend.cleanup();
  }
}

/** Raw node:http in its own process, serving `bytes` for every path (with an ETag, answering If-None-Match with 304). */
function rawTileServer(
  bytes: Buffer,
  type = 'application/octet-stream',
): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--raw-tile-server'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (port) => resolve({ url: `http://127.0.0.1:${port}`, child }));
    child.once('error', reject);
    child.send(JSON.stringify({ body: bytes.toString('base64'), type }));
  });
}

if (args.has('--raw-tile-server')) {
  process.once('message', (message) => {
    const { body: b64, type } = JSON.parse(String(message)) as { body: string; type: string };
    const body = Buffer.from(b64, 'base64');
    const etag = `"${createHash('sha256').update(body).digest('hex')}"`;
    const server = createServer((req, res) => {
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag, 'cache-control': 'public, max-age=60' });
        return res.end();
      }
      res.writeHead(200, {
        'content-type': type,
        etag,
        'cache-control': 'public, max-age=31536000, immutable',
        'content-length': body.length,
      });
      res.end(body);
    });
    server.listen(0, '127.0.0.1', () => process.send!((server.address() as { port: number }).port));
  });
} else {
  console.log(`signet bench — node ${process.version}, ${new Date().toISOString()}${quick ? ' (quick)' : ''}`);
  if (run('append')) {
    await benchAppend('postgres');
    await benchAppend('pglite');
  }
  if (run('proof')) await benchProof();
  if (run('tiles')) await benchTiles();
  if (run('commands')) await benchCommands(line, quick);
  if (run('outbox')) await benchOutbox(line, quick);
  if (run('snapshot')) await benchSnapshot();
  if (run('module')) await benchModule(line, quick);
  if (run('audit')) await benchAudit(line, quick, args.has('--1m'));
  process.exit(0);
}
