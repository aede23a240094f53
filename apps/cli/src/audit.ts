import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type AuditProgress,
  AuditError,
  type Finding,
  type LogSource,
  type MonitorState,
  type WitnessQuorum,
  auditLog,
  decodeAuditCheckpoint,
  decodeTreeState,
  encodeAuditCheckpoint,
  encodeTreeState,
  isAlert,
  mirrorLog,
  mirrorSource,
  monitorOnce,
  serverSource,
} from '@signet/audit';
import { writeAtomically } from './files.js';

// `signet audit` and `signet mirror`: exit 0 when the log checks out, 1 at the first discrepancy
// (named by seq and reason), 2 for a usage error or a source that cannot be read.

function usage(message: string): never {
  throw Object.assign(new Error(message), { code: 'USAGE' });
}

function sourceOf(values: { server?: string; mirror?: string }): LogSource {
  if ((values.server === undefined) === (values.mirror === undefined))
    usage('give the log as --server URL or as --mirror DIR');
  return values.server !== undefined ? serverSource(values.server) : mirrorSource(values.mirror!);
}

const WITNESS_OPTIONS = {
  witness: { type: 'string' as const, multiple: true as const },
  quorum: { type: 'string' as const },
};

/** `--witness KEY`… and `--quorum N` (default: every witness named). */
function witnessesOf(values: { witness?: string[]; quorum?: string }): WitnessQuorum | undefined {
  const keys = values.witness ?? [];
  if (keys.length === 0) {
    if (values.quorum !== undefined) usage('--quorum needs --witness KEY (one per witness)');
    return undefined;
  }
  const quorum = values.quorum === undefined ? keys.length : Number(values.quorum);
  if (!(Number.isInteger(quorum) && quorum >= 1 && quorum <= keys.length))
    usage(`--quorum is a number of witnesses from 1 to ${keys.length}`);
  return { keys, quorum };
}

function verifierKeyOf(vkey: string | undefined): string {
  if (!vkey)
    usage(
      "--vkey KEY is required: the log's verifier key (name+hash+base64), from its operator, never taken from the server",
    );
  return vkey.trim();
}

/** A progress line on a terminal: bar, events/s, ETA. Nothing when stderr is not a TTY. */
function progressBar(): ((p: AuditProgress) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return ({ done, total, seconds }) => {
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const rate = done / Math.max(seconds, 1e-3);
    const eta = rate > 0 ? Math.ceil((total - done) / rate) : 0;
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} events  ${rate.toFixed(0)} ev/s  ETA ${eta}s `,
    );
    if (done === total) process.stderr.write('\n');
  };
}

/**
 * A refusal with a code (a discrepancy, a bad checkpoint, a missing quorum, a source that answers
 * wrongly) is the command's answer: `FAILED: CODE: …` or JSON, exit 1. A source that cannot be
 * reached at all, and usage errors, exit 2; anything else is a bug and propagates.
 */
function failed(error: unknown, json: boolean | undefined): number {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || code === 'USAGE' || code.startsWith('ERR_')) throw error;
  const seq = error instanceof AuditError ? error.seq : null;
  process.stdout.write(
    json
      ? `${JSON.stringify({ ok: false, seq, code, message: (error as Error).message })}\n`
      : `FAILED: ${code}: ${(error as Error).message}\n`,
  );
  return code === 'SOURCE_UNREACHABLE' ? 2 : 1;
}

export async function auditCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      server: { type: 'string' },
      mirror: { type: 'string' },
      vkey: { type: 'string' },
      'from-checkpoint': { type: 'string' },
      save: { type: 'string' },
      threads: { type: 'string' },
      json: { type: 'boolean' },
      'require-artifacts': { type: 'boolean' },
      'allow-no-snapshot': { type: 'boolean' },
      ...WITNESS_OPTIONS,
    },
    strict: true,
  });
  const source = sourceOf(values);
  const witnesses = witnessesOf(values);
  const verifierKey = verifierKeyOf(values.vkey);
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= 256))
    usage('--threads is a number of threads from 1 to 256');
  let text: string | undefined;
  if (values['from-checkpoint']) {
    try {
      text = readFileSync(values['from-checkpoint'], 'utf8');
    } catch (error) {
      usage(`cannot read ${values['from-checkpoint']}: ${(error as Error).message}`);
    }
  }
  try {
    const from = text === undefined ? undefined : decodeAuditCheckpoint(text);
    const report = await auditLog({
      source,
      verifierKey,
      from,
      threads,
      witnesses,
      requireArtifacts: values['require-artifacts'],
      allowNoSnapshot: values['allow-no-snapshot'],
      onCheckpoint: values.save
        ? (checkpoint) => writeAtomically(values.save!, encodeAuditCheckpoint(checkpoint))
        : undefined,
      onProgress: values.json ? undefined : progressBar(),
    });
    if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      const counts = Object.entries(report.counts)
        .sort()
        .map(([type, n]) => `${type} ${n}`)
        .join(', ');
      process.stdout.write(
        `OK: ${report.origin} at size ${report.size} (root ${report.root}) checks out` +
          `${report.from > 0 ? `, events ${report.from}..${report.size - 1} audited after the earlier audit` : ''}\n` +
          `${report.events} events in ${report.seconds.toFixed(1)} s (${report.eventsPerSecond.toFixed(0)} ev/s), ${report.signaturesVerified} signatures verified, ${report.tiles} tiles\n` +
          `trust snapshot: ${report.snapshot}\n` +
          (report.packageSignaturesNotReverified.length
            ? `package signatures not re-verified (artifact not available): seq ${report.packageSignaturesNotReverified.join(', ')}\n`
            : '') +
          (report.archiveSnapshotsNotReRendered
            ? `archive snapshots: ${report.archiveSnapshotsNotReRendered} checked by the rules, pages not re-rendered\n`
            : '') +
          `events: ${counts}\n`,
      );
    }
    return 0;
  } catch (error) {
    return failed(error, values.json);
  }
}

export async function mirrorCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      server: { type: 'string' },
      vkey: { type: 'string' },
      artifacts: { type: 'boolean' },
      json: { type: 'boolean' },
      ...WITNESS_OPTIONS,
    },
    strict: true,
    allowPositionals: true,
  });
  if (!values.server || positionals.length !== 1)
    usage('usage: signet mirror --server URL --vkey KEY [--artifacts] [--json] DIR');
  try {
    const report = await mirrorLog(serverSource(values.server), positionals[0]!, verifierKeyOf(values.vkey), {
      artifacts: values.artifacts,
      witnesses: witnessesOf(values),
    });
    process.stdout.write(
      values.json
        ? `${JSON.stringify(report)}\n`
        : `mirrored ${report.origin} at size ${report.size} into ${positionals[0]} (was ${report.from}; ${report.tilesFetched} tiles, ${report.artifactsFetched} artifacts fetched)\n`,
    );
    return 0;
  } catch (error) {
    return failed(error, values.json);
  }
}

function monitorStateFile(dir: string | undefined): string {
  const base = dir ?? join(process.env.SIGNET_CLIENT_DIR || join(homedir(), '.signet'), 'monitor');
  mkdirSync(base, { recursive: true });
  return join(base, 'monitor.json');
}

function describe(finding: Finding): string {
  switch (finding.kind) {
    case 'event':
      return `seq ${finding.seq} ${finding.recordedAt} ${finding.summary} [watching ${finding.matched.join(', ')}]`;
    case 'equivocation':
      return `ALERT equivocation: ${finding.summary}\n--- ${finding.peer === '' ? 'earlier' : 'ours'}:\n${finding.ours}--- ${finding.peer}:\n${finding.theirs}`;
    case 'inconsistent':
    case 'rollback':
      return `ALERT ${finding.kind}: ${finding.summary}\n--- previously accepted:\n${finding.previous}--- now served:\n${finding.current}`;
    case 'peer-error':
      return `WARNING ${finding.peer}: ${finding.summary}`;
  }
}

async function alert(webhook: string | undefined, finding: Finding): Promise<void> {
  if (!webhook) return;
  try {
    const response = await fetch(webhook, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(finding),
      signal: AbortSignal.timeout(30_000),
    });
    if (!response.ok) process.stderr.write(`signet monitor: the webhook answered HTTP ${response.status}\n`);
  } catch (error) {
    process.stderr.write(`signet monitor: the webhook cannot be reached: ${(error as Error).message}\n`);
  }
}

/** `signet monitor`: poll, check, report; exit 1 (with --once) when an alert was raised. */
export async function monitorCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      server: { type: 'string' },
      vkey: { type: 'string' },
      watch: { type: 'string', multiple: true },
      peer: { type: 'string', multiple: true },
      'peer-mirror': { type: 'string', multiple: true },
      webhook: { type: 'string' },
      state: { type: 'string' },
      interval: { type: 'string' },
      once: { type: 'boolean' },
      json: { type: 'boolean' },
      ...WITNESS_OPTIONS,
    },
    strict: true,
  });
  if (!values.server)
    usage(
      'usage: signet monitor --server URL --vkey KEY --watch <fingerprint|username|package>... [--peer URL]... [--webhook URL] [--state DIR] [--interval SECONDS] [--once] [--json]',
    );
  const verifierKey = verifierKeyOf(values.vkey);
  const interval = Number(values.interval ?? 60);
  if (!(interval >= 1 && interval <= 86_400)) usage('--interval is a number of seconds from 1 to 86400');
  const source = serverSource(values.server);
  const peers = [...(values.peer ?? []).map(serverSource), ...(values['peer-mirror'] ?? []).map(mirrorSource)];
  const file = monitorStateFile(values.state);
  const witnesses = witnessesOf(values);
  let alerted = false;
  for (;;) {
    let state: MonitorState | null = null;
    try {
      const stored = JSON.parse(readFileSync(file, 'utf8')) as MonitorState & {
        tree: ReturnType<typeof encodeTreeState>;
      };
      state = { ...stored, tree: decodeTreeState(stored.tree) };
    } catch {
      state = null;
    }
    if (state && state.verifierKey !== verifierKey)
      usage(`${file} is the state of a monitor of another log; use another --state`);
    let polled;
    try {
      polled = await monitorOnce({ source, verifierKey, watch: values.watch ?? [], state, peers, witnesses });
    } catch (error) {
      // Once: the answer. On a timer: a warning, and the next poll.
      if (values.once) return failed(error, values.json);
      process.stderr.write(
        `signet monitor: ${(error as { code?: string }).code ?? 'ERROR'}: ${(error as Error).message}\n`,
      );
      await new Promise((r) => setTimeout(r, interval * 1000));
      continue;
    }
    const { state: next, findings } = polled;
    for (const finding of findings) {
      process.stdout.write(values.json ? `${JSON.stringify(finding)}\n` : `${describe(finding)}\n`);
      if (isAlert(finding)) alerted = true;
      await alert(values.webhook, finding);
    }
    if (next && next !== state) {
      writeAtomically(file, JSON.stringify({ ...next, tree: encodeTreeState(next.tree) }));
    }
    if (values.once) return alerted ? 1 : 0;
    await new Promise((r) => setTimeout(r, interval * 1000));
  }
}
