import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
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
import { type NetworkFlags, exitCodeOf, networkOf, usage, verifierKeyOf } from './kit.js';

// `signet audit`, `mirror` and `monitor`: exit 0 when the log checks out, 1 at the first
// discrepancy (named by seq and reason) or alert, 2 for a usage error, bad local input or a source
// that cannot be reached.

function sourceOf(values: { server?: string; mirror?: string } & NetworkFlags): LogSource {
  if ((values.server === undefined) === (values.mirror === undefined))
    usage('give the log as --server URL or as --mirror DIR');
  if (values.mirror !== undefined) {
    if (!existsSync(values.mirror)) usage(`the mirror directory ${values.mirror} does not exist`, 'NO_SUCH_FILE');
    return mirrorSource(values.mirror);
  }
  return serverSource(values.server!, networkOf(values));
}

interface WitnessFlags {
  witness?: string[];
  quorum?: number;
}

/** `--witness KEY`… and `--quorum N` (default: every witness named); a malformed key is a usage error. */
async function witnessesOf(values: WitnessFlags): Promise<WitnessQuorum | undefined> {
  const keys = values.witness ?? [];
  if (keys.length === 0) {
    if (values.quorum !== undefined) usage('--quorum needs --witness KEY (one per witness)');
    return undefined;
  }
  const quorum = values.quorum ?? keys.length;
  if (quorum > keys.length) usage(`--quorum is a number of witnesses from 1 to ${keys.length}`);
  const { parseWitnessVerifierKey } = await import('@signet/tlog');
  for (const key of keys) {
    try {
      parseWitnessVerifierKey(key);
    } catch (error) {
      usage(`--witness ${key} is not a witness verifier key: ${(error as Error).message}`);
    }
  }
  return { keys, quorum };
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
 * reached at all and usage errors propagate (stderr, exit 2), and so does anything else (a bug).
 */
function failed(error: unknown, json: boolean | undefined): number {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || code.startsWith('ERR_') || exitCodeOf(error) === 2) throw error;
  const seq = error instanceof AuditError ? error.seq : null;
  process.stdout.write(
    json
      ? `${JSON.stringify({ ok: false, seq, code, message: (error as Error).message })}\n`
      : `FAILED: ${code}: ${(error as Error).message}\n`,
  );
  return 1;
}

interface AuditFlags extends WitnessFlags, NetworkFlags {
  server?: string;
  mirror?: string;
  vkey?: string;
  fromCheckpoint?: string;
  save?: string;
  threads?: number;
  json?: boolean;
  requireArtifacts?: boolean;
  allowNoSnapshot?: boolean;
}

export async function auditCommand(values: AuditFlags): Promise<number> {
  const source = sourceOf(values);
  const witnesses = await witnessesOf(values);
  const verifierKey = await verifierKeyOf(values.vkey);
  const threads = values.threads;
  let text: string | undefined;
  if (values.fromCheckpoint) {
    try {
      text = readFileSync(values.fromCheckpoint, 'utf8');
    } catch (error) {
      usage(`cannot read ${values.fromCheckpoint}: ${(error as Error).message}`, 'NO_SUCH_FILE');
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
      requireArtifacts: values.requireArtifacts,
      allowNoSnapshot: values.allowNoSnapshot,
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

interface MirrorFlags extends WitnessFlags, NetworkFlags {
  server?: string;
  vkey?: string;
  artifacts?: boolean;
  json?: boolean;
}

export async function mirrorCommand([dir]: string[], values: MirrorFlags): Promise<number> {
  if (!values.server) usage('signet mirror needs --server URL');
  const verifierKey = await verifierKeyOf(values.vkey);
  const witnesses = await witnessesOf(values);
  try {
    const report = await mirrorLog(serverSource(values.server, networkOf(values)), dir!, verifierKey, {
      artifacts: values.artifacts,
      witnesses,
    });
    process.stdout.write(
      values.json
        ? `${JSON.stringify(report)}\n`
        : `mirrored ${report.origin} at size ${report.size} into ${dir} (was ${report.from}; ${report.tilesFetched} tiles, ${report.artifactsFetched} artifacts fetched)\n`,
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
interface MonitorFlags extends WitnessFlags, NetworkFlags {
  server?: string;
  vkey?: string;
  watch?: string[];
  peer?: string[];
  peerMirror?: string[];
  webhook?: string;
  state?: string;
  interval?: number;
  once?: boolean;
  json?: boolean;
}

export async function monitorCommand(values: MonitorFlags): Promise<number> {
  if (!values.server) usage('signet monitor needs --server URL');
  // Everything that can be wrong with the command line is refused now, not at each poll.
  const verifierKey = await verifierKeyOf(values.vkey);
  const interval = values.interval ?? 60;
  const network = networkOf(values);
  const source = serverSource(values.server, network);
  for (const dir of values.peerMirror ?? [])
    if (!existsSync(dir)) usage(`the peer mirror directory ${dir} does not exist`, 'NO_SUCH_FILE');
  const peers = [
    ...(values.peer ?? []).map((url) => serverSource(url, network)),
    ...(values.peerMirror ?? []).map(mirrorSource),
  ];
  const file = monitorStateFile(values.state);
  const witnesses = await witnessesOf(values);
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
