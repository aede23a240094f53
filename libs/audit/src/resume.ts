import { GrowList, GrowMap, KeySet, type TrustState } from '@signet/domain';
import { type TreeCheckState, fromBase64, toBase64 } from '@signet/tlog';
import { AuditError, type ReplayMemory } from './replay.js';

/**
 * What an audit leaves to resume from (`--save`, then `--from-checkpoint`): the checkpoint it
 * verified, the tree check's frontier and pending tiles, and the trust state it replayed to. It
 * is the auditor's own work, kept on the auditor's disk; a resumed audit first checks that the
 * log's new tree contains the old one.
 */
export interface AuditCheckpoint {
  readonly origin: string;
  readonly verifierKey: string;
  /** The signed checkpoint note the audit reached. */
  readonly checkpoint: string;
  readonly size: number;
  readonly tree: TreeCheckState;
  readonly state: TrustState;
  readonly memory: ReplayMemory;
}

const FORMAT = 'signet-audit-checkpoint/v1';
/** Marks a collection in the file: a key no event's data can hold (the domain never writes NUL in a key). */
const TAG = '\u0000signet';

/** A tree check's state with its hashes in base64 (JSON-safe). */
export function encodeTreeState(tree: TreeCheckState) {
  return {
    size: tree.size,
    frontier: tree.frontier.map((h) => toBase64(h)),
    pending: tree.pending.map((p) => p.map((h) => toBase64(h))),
  };
}

export function decodeTreeState(stored: ReturnType<typeof encodeTreeState>): TreeCheckState {
  return {
    size: stored.size,
    frontier: stored.frontier.map((h) => fromBase64(h)),
    pending: stored.pending.map((p) => p.map((h) => fromBase64(h))),
  };
}

/** JSON with Maps, Sets and hashes tagged, so the trust state comes back exactly. */
export function encodeAuditCheckpoint(cp: AuditCheckpoint): string {
  const tree = encodeTreeState(cp.tree);
  // The replacer looks at the original value (`this[key]`): the grow-only collections turn
  // themselves into plain arrays (toJSON) before a replacer sees `value`.
  return JSON.stringify(
    { format: FORMAT, ...cp, tree },
    function (this: Record<string, unknown>, key: string, value: unknown) {
      const original = this[key];
      if (original instanceof GrowList) return { [TAG]: 'list', items: original.toArray() };
      if (original instanceof GrowMap) return { [TAG]: 'growmap', items: [...original] };
      if (original instanceof KeySet) return { [TAG]: 'keys', items: [...original] };
      if (value instanceof Map) return { [TAG]: 'map', items: [...value] };
      if (value instanceof Set) return { [TAG]: 'set', items: [...value] };
      return value;
    },
  );
}

export function decodeAuditCheckpoint(text: string): AuditCheckpoint {
  let parsed: AuditCheckpoint & { format?: string };
  try {
    parsed = JSON.parse(text, (_key, value: unknown) => {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        const tagged = value as { [TAG]?: string; items?: unknown };
        const items = tagged.items as never;
        switch (Array.isArray(items) ? tagged[TAG] : undefined) {
          case 'map':
            return new Map(items);
          case 'set':
            return new Set(items);
          case 'keys':
            return new KeySet(null, items);
          case 'list':
            return new GrowList(null, items);
          case 'growmap':
            return new GrowMap(null, items);
        }
      }
      return value;
    });
  } catch (error) {
    throw new AuditError(
      null,
      'BAD_AUDIT_CHECKPOINT',
      `the audit checkpoint file is not JSON: ${(error as Error).message}`,
    );
  }
  if (parsed?.format !== FORMAT)
    throw new AuditError(null, 'BAD_AUDIT_CHECKPOINT', `the file is not a ${FORMAT} (written by signet audit --save)`);
  const { format: _, tree, ...rest } = parsed;
  const decoded = { ...rest, tree: decodeTreeState(tree as unknown as ReturnType<typeof encodeTreeState>) };
  // A file saved before 2026-12-05 holds the members and signing keys as plain maps; the state
  // keeps them as grow-only maps now (decisions layer them), with the same entries in the same order.
  const state = decoded.state as unknown as Partial<Record<'members' | 'signingKeys', unknown>> | undefined;
  for (const field of ['members', 'signingKeys'] as const) {
    const stored = state?.[field];
    if (stored instanceof Map) state![field] = new GrowMap(null, stored);
  }
  if (decoded.tree.size !== decoded.size || decoded.state?.size !== decoded.size)
    throw new AuditError(
      null,
      'BAD_AUDIT_CHECKPOINT',
      `the audit checkpoint file is inconsistent: size ${decoded.size}, tree ${decoded.tree.size}, state ${decoded.state?.size}`,
    );
  return decoded;
}
