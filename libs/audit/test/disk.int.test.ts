import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiskKeySet, DiskList, DiskMap, spillToDisk } from '@signet/audit';
import { GrowList, emptyState } from '@signet/domain';

// The audit's on-disk parts of the trust state (real files): they must behave exactly as the
// in-memory GrowList and KeySet they stand in for, layers included.

describe('the audit state on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-disk-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a DiskKeySet answers like a set across table growth, and a layer adds without touching it', () => {
    const set = new DiskKeySet(dir, 'keys');
    const n = 100_000; // past several doublings of the 65,536-slot table
    for (let i = 0; i < n; i++) set.add(`m\u0000module${i % 97}\u00001.0.${i}`);
    set.add('m\u0000module0\u00001.0.0'); // again: no change
    expect(set.size).toBe(n);
    for (const i of [0, 1, 65_535, 65_536, n - 1]) expect(set.has(`m\u0000module${i % 97}\u00001.0.${i}`)).toBe(true);
    expect(set.has('m\u0000module0\u00001.0.100000')).toBe(false);
    const layer = set.layer();
    layer.add('extra');
    expect([layer.has('extra'), set.has('extra'), layer.has('m\u0000module1\u00001.0.1')]).toEqual([true, false, true]);
    expect([...set].length).toBe(n);
    // The files are open but unlinked: nothing is left behind.
    expect(readdirSync(dir)).toEqual([]);
    set.close();
  });

  it('a DiskList keeps order and values, and a layer sees the items as they were', () => {
    const list = new DiskList<{ seq: number; text: string }>(join(dir, 'list'));
    for (let i = 0; i < 30_000; i++) list.push({ seq: i, text: `v${i}\n"quoted"` });
    const layer = list.layer();
    list.push({ seq: 30_000, text: 'after' });
    layer.push({ seq: -1, text: 'layer only' });
    expect(list.length).toBe(30_001);
    expect(list.last()).toEqual({ seq: 30_000, text: 'after' });
    expect(list.at(12_345)).toEqual({ seq: 12_345, text: 'v12345\n"quoted"' });
    expect(list.filter((x) => x.seq % 10_000 === 0).map((x) => x.seq)).toEqual([0, 10_000, 20_000, 30_000]);
    expect([layer.length, layer.last()]).toEqual([30_001, { seq: -1, text: 'layer only' }]);
    expect(layer.some((x) => x.text === 'after')).toBe(false);
    list.close();
  });

  it('a DiskMap keeps the latest value of each key, through a layer too', () => {
    const map = new DiskMap<{ commandSha256: string; seqs: number[] }>(dir, 'commands');
    for (let i = 0; i < 70_000; i++) map.set(`cmd-${i}`, { commandSha256: String(i), seqs: [i] });
    map.set('cmd-5', { commandSha256: '5', seqs: [5, 6] });
    expect([map.get('cmd-5'), map.get('cmd-69999'), map.get('nope'), map.has('cmd-0'), map.size]).toEqual([
      { commandSha256: '5', seqs: [5, 6] },
      { commandSha256: '69999', seqs: [69_999] },
      undefined,
      true,
      70_000,
    ]);
    const layer = map.layer();
    layer.set('new', { commandSha256: 'n', seqs: [] });
    expect([layer.get('cmd-7')?.seqs, layer.has('new'), map.has('new')]).toEqual([[7], true, false]);
    const all = [...map];
    expect([all.length, all.find(([k]) => k === 'cmd-5')![1].seqs]).toEqual([70_000, [5, 6]]);
    map.close();
  });

  it('spills a state with what it holds, and keys added later keep their histories on disk', () => {
    const state = emptyState();
    state.published.add('p\u0000a');
    state.commands.set('c1', { commandSha256: 'x', seqs: [1] });
    const disk = spillToDisk(state, dir);
    expect([state.published.has('p\u0000a'), state.commands.get('c1')]).toEqual([
      true,
      { commandSha256: 'x', seqs: [1] },
    ]);
    state.signingKeys.set('F'.repeat(40), { fingerprint: 'F'.repeat(40), history: new GrowList(null, [3]) } as never);
    disk.adoptKeys(state);
    const history = state.signingKeys.get('F'.repeat(40))!.history;
    history.push(9);
    expect([history.length, history.last(), [...history]]).toEqual([2, 9, [3, 9]]);
    disk.close();
  });
});
