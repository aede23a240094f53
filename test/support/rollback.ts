import { APPEND_ONLY_TABLES } from '@signet/store';

/**
 * What a database superuser (or a restored backup) does to cut the log back to `size` events:
 * the append-only triggers disabled, the events, tree nodes and checkpoints beyond `size`
 * deleted, the triggers enabled again — a consistent, smaller tree whose checkpoints verify.
 * One statement each, to run in order in one transaction.
 */
export function rollBackStatements(size: number): string[] {
  const triggers = (state: 'DISABLE' | 'ENABLE') =>
    APPEND_ONLY_TABLES.map((t) => `ALTER TABLE ${t} ${state} TRIGGER USER`);
  return [
    ...triggers('DISABLE'),
    `DELETE FROM events WHERE seq >= ${size}`,
    // A node at (level, idx) covers leaves [idx·2^level, (idx+1)·2^level).
    `DELETE FROM tree_nodes WHERE (idx + 1) * (1::bigint << level) > ${size}`,
    `DELETE FROM checkpoints WHERE tree_size > ${size}`,
    ...triggers('ENABLE'),
  ];
}
