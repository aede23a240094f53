import { type EventEnvelope, fingerprintOf, parseEntry } from '@signet/domain';
import {
  type Checkpoint,
  TILE_WIDTH,
  TreeCheck,
  type TreeCheckState,
  decodeEntryBundle,
  foldRange,
  hashesEqual,
  leafHash,
  openCheckpoint,
  parseVerifierKey,
  rootNodes,
  tileWidthAt,
  toBase64,
} from '@signet/tlog';
import { checkConsistencyFromTiles, nodesFromTiles } from './proofs.js';
import { type LogSource, type WitnessQuorum, checkpointFrom } from './source.js';

/** What a monitor keeps between polls: the last checkpoint it accepted, the tree's frontier, who is who. */
export interface MonitorState {
  readonly origin: string;
  readonly verifierKey: string;
  readonly checkpoint: string;
  readonly tree: TreeCheckState;
  /** Usernames of member and signing keys, by fingerprint (to match `--watch <username>`). */
  readonly names: Record<string, string>;
}

export type Finding =
  | {
      readonly kind: 'event';
      readonly seq: number;
      readonly type: string;
      readonly recordedAt: string;
      readonly matched: string[];
      readonly summary: string;
    }
  /** Two signed checkpoints that cannot both be true: the proof is the two notes. */
  | {
      readonly kind: 'equivocation';
      readonly summary: string;
      readonly ours: string;
      readonly theirs: string;
      readonly peer: string;
    }
  | {
      readonly kind: 'inconsistent' | 'rollback';
      readonly summary: string;
      readonly previous: string;
      readonly current: string;
    }
  | { readonly kind: 'peer-error'; readonly peer: string; readonly summary: string };

/** Alerts (not plain events): a log that rolled back, forked or equivocated. */
export const isAlert = (f: Finding) => f.kind === 'equivocation' || f.kind === 'inconsistent' || f.kind === 'rollback';

export interface MonitorOptions {
  readonly source: LogSource;
  readonly verifierKey: string;
  /** Fingerprints, usernames, package or module names. */
  readonly watch: readonly string[];
  readonly state: MonitorState | null;
  readonly peers?: readonly LogSource[];
  /** Witnesses that must have cosigned the checkpoints the monitor accepts. */
  readonly witnesses?: WitnessQuorum;
}

const upperIfFingerprint = (w: string) => fingerprintOf(w) ?? w;

const SUBJECT_FIELDS: ReadonlySet<string> = new Set([
  'fingerprint',
  'owner',
  'signer',
  'certifier',
  'username',
  'package',
  'module',
]);

/** The fingerprints, usernames and package names an event is about. */
function subjects(event: EventEnvelope, names: Record<string, string>): Set<string> {
  const out = new Set<string>([event.actor]);
  for (const [field, value] of Object.entries(event.data)) {
    if (SUBJECT_FIELDS.has(field) && typeof value === 'string') out.add(value);
  }
  if (event.type === 'SigningKeyAuthorized') for (const f of event.data.authorizedBy) out.add(f);
  for (const s of [...out]) if (names[s]) out.add(names[s]!);
  return out;
}

function summarize(event: EventEnvelope, names: Record<string, string>): string {
  const who = (f: string) => `${names[f] ? `~${names[f]} ` : ''}${f}`;
  let about = '';
  let signer: string | null = null;
  if (event.type === 'PackageSignaturePublished' || event.type === 'ModuleSignaturePublished') {
    signer = event.data.signer;
    const name = event.type === 'PackageSignaturePublished' ? event.data.package : event.data.module;
    about = `${name} ${event.data.version} signed by ${who(signer)}`;
  } else if ('fingerprint' in event.data) {
    about = who(event.data.fingerprint);
  }
  const by = event.actor !== 'log' && event.actor !== signer ? ` (by ${who(event.actor)})` : '';
  return `${event.type}${about ? ` ${about}` : ''}${by}`;
}

/**
 * One poll of a monitor: the checkpoint verified with the pinned key; the new entries read from
 * the entry bundles and hashed onto the last accepted tree's frontier, which must give the new
 * root (so the new tree contains the old one, and the entries are the log's); each new event about
 * a watched key, user or package reported. Against peers (mirrors, witnesses' logs), checkpoints
 * of equal size must have equal roots and unequal sizes must be consistent (a proof from tiles),
 * else the two notes are reported as proof of equivocation. A state is returned only when the new
 * checkpoint was accepted.
 */
export async function monitorOnce(
  options: MonitorOptions,
): Promise<{ state: MonitorState | null; findings: Finding[]; checkpoint: Checkpoint }> {
  const { source, verifierKey, state } = options;
  const verifier = parseVerifierKey(verifierKey);
  const note = await checkpointFrom(source, options.witnesses);
  const cp = openCheckpoint(note, verifier);
  const findings: Finding[] = [];
  const watch = new Set(options.watch.map(upperIfFingerprint));
  let next: MonitorState | null = null;
  const previous = state && openCheckpoint(state.checkpoint, verifier);
  if (previous && cp.size < previous.size) {
    findings.push({
      kind: 'rollback',
      summary: `${source.name} serves a checkpoint of ${cp.size} events; it signed ${previous.size} before`,
      previous: state!.checkpoint,
      current: note,
    });
  } else if (previous && cp.size === previous.size) {
    if (!hashesEqual(cp.root, previous.root))
      findings.push({
        kind: 'equivocation',
        summary: `two checkpoints of size ${cp.size} with different roots`,
        ours: state!.checkpoint,
        theirs: note,
        peer: source.name,
      });
    else next = state;
  } else {
    const tree = new TreeCheck(state?.tree);
    const names = { ...(state?.names ?? {}) };
    // Only what will be reported is kept while reading (a first run may read millions of events);
    // none of it is reported unless the entries lead to the signed root.
    const matches: Finding[] = [];
    let forked: string | null = null;
    for (let t = Math.floor(tree.treeSize / TILE_WIDTH); t * TILE_WIDTH < cp.size && !forked; t++) {
      const width = tileWidthAt('entries', t, cp.size);
      let entries: Uint8Array[];
      try {
        entries = decodeEntryBundle(await source.tile({ level: 'entries', index: t, width }));
      } catch (error) {
        if (/^SOURCE_/.test((error as { code?: string }).code ?? '')) throw error;
        entries = [];
      }
      if (entries.length !== width) {
        forked = `entry bundle ${t} holds ${entries.length} entries, the checkpoint implies ${width}`;
        break;
      }
      for (let j = tree.treeSize - t * TILE_WIDTH; j < entries.length; j++) {
        tree.addLeaves([leafHash(entries[j]!)]);
        let event: EventEnvelope;
        try {
          event = parseEntry(entries[j]!, t * TILE_WIDTH + j);
        } catch (error) {
          forked = `entry ${t * TILE_WIDTH + j} is not an event: ${(error as Error).message}`;
          break;
        }
        if (event.type === 'MemberAdded' || event.type === 'SigningKeyAdded') {
          names[event.data.fingerprint] = event.data.username;
        }
        const about = subjects(event, names);
        const matched = [...watch].filter((w) => about.has(w));
        if (matched.length > 0)
          matches.push({
            kind: 'event',
            seq: event.seq,
            type: event.type,
            recordedAt: event.recordedAt,
            matched,
            summary: summarize(event, names),
          });
      }
    }
    if (forked || !hashesEqual(tree.root(), cp.root)) {
      const why =
        forked ??
        `the entries after ${previous?.size ?? 0} do not lead from the last accepted tree to the root ${toBase64(cp.root)}: the log forked its history`;
      findings.push({ kind: 'inconsistent', summary: why, previous: state?.checkpoint ?? '', current: note });
    } else {
      findings.push(...matches);
      next = { origin: cp.origin, verifierKey, checkpoint: note, tree: tree.state(), names };
    }
  }
  for (const peer of options.peers ?? []) findings.push(...(await comparePeer(peer, verifier, source, cp, note)));
  return { state: next, findings, checkpoint: cp };
}

/** A peer's checkpoint against ours: equal sizes, equal roots; otherwise a consistency proof from the larger one's tiles. */
async function comparePeer(
  peer: LogSource,
  verifier: ReturnType<typeof parseVerifierKey>,
  ours: LogSource,
  cp: Checkpoint,
  note: string,
): Promise<Finding[]> {
  let theirs: string;
  let their: Checkpoint;
  try {
    theirs = await peer.checkpoint();
    their = openCheckpoint(theirs, verifier);
  } catch (error) {
    return [
      {
        kind: 'peer-error',
        peer: peer.name,
        summary: `the peer's checkpoint cannot be read or does not verify with the pinned key: ${(error as Error).message}`,
      },
    ];
  }
  const equivocation = (summary: string): Finding[] => [
    { kind: 'equivocation', summary, ours: note, theirs, peer: peer.name },
  ];
  if (their.size === cp.size)
    return hashesEqual(their.root, cp.root)
      ? []
      : equivocation(`${ours.name} and ${peer.name} serve checkpoints of size ${cp.size} with different roots`);
  const [small, large, largeSource] = their.size < cp.size ? [their, cp, ours] : [cp, their, peer];
  try {
    await checkConsistencyFromTiles(largeSource, small.size, large.size, small.root, large.root);
    return [];
  } catch (error) {
    const peerError = (summary: string): Finding[] => [{ kind: 'peer-error', peer: largeSource.name, summary }];
    if (/^SOURCE_/.test((error as { code?: string }).code ?? ''))
      return peerError(`cannot read the tiles for a consistency proof: ${(error as Error).message}`);
    // Only tiles that give the larger checkpoint's own root make a failed proof evidence of a fork.
    try {
      const ids = rootNodes(large.size);
      const nodes = await nodesFromTiles(largeSource, large.size, ids);
      if (!hashesEqual(foldRange(ids.map((id) => nodes.get(`${id.level}/${id.index}`)!)), large.root))
        return peerError(`its tiles do not give its own checkpoint's root`);
    } catch (tileError) {
      return peerError(`its tiles cannot be read: ${(tileError as Error).message}`);
    }
    return equivocation(
      `the checkpoints of size ${small.size} and ${large.size} are not consistent (${(error as Error).message})`,
    );
  }
}
