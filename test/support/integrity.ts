import { expect } from 'vitest';
import { type SignetLog, toBytes, toNumber } from '@signet/store';
import { appendLeaves, leafHash, toHex } from '@signet/tlog';

/** Everything an auditor would check, from the database alone. */
export async function checkLogIntegrity(log: SignetLog): Promise<number> {
  const head = (await log.reader.head())!;
  const rows = await log.db.db.selectFrom('events').select(['seq', 'entry', 'leaf_hash']).orderBy('seq').execute();
  rows.forEach((r, i) => expect(toNumber(r.seq)).toBe(i));
  expect(rows.length).toBe(head.size);
  const leaves = rows.map((r) => leafHash(toBytes(r.entry)));
  rows.forEach((r, i) => expect(toHex(toBytes(r.leaf_hash))).toBe(toHex(leaves[i]!)));
  const rebuilt = appendLeaves(0, [], leaves);
  const inner = rebuilt.newNodes.filter((n) => n.level > 0);
  expect(toHex(rebuilt.root)).toBe(toHex(head.root));
  const stored = await log.db.db.selectFrom('tree_nodes').select(['level', 'idx', 'hash']).execute();
  expect(stored.length).toBe(inner.length);
  const byId = new Map(stored.map((n) => [`${n.level}/${toNumber(n.idx)}`, toHex(toBytes(n.hash))]));
  for (const n of inner) expect(byId.get(`${n.level}/${n.index}`)).toBe(toHex(n.hash));
  return head.size;
}
