import type { Kysely } from 'kysely';
import { DomainError } from '@signet/domain';
import { type Database, toNumber } from './database.js';

/** One witness's cosignature of a checkpoint, as stored. */
export interface StoredCosignature {
  readonly witness: string;
  readonly keyHash: number;
  /** The cosignature's timestamp, POSIX seconds. */
  readonly timestamp: number;
  /** "— <witness> <base64>\n" */
  readonly line: string;
}

/** A checkpoint note with the cosignature lines stored for it, sorted by witness name. */
export interface CosignedNote {
  readonly size: number;
  readonly note: string;
  readonly lines: readonly string[];
}

/** Code-unit order, the same in every process and database collation. */
const byWitness = (a: { witness: string }, b: { witness: string }) => (a.witness < b.witness ? -1 : a.witness > b.witness ? 1 : 0);

/**
 * Witness cosignatures (migrations/0003_cosignatures.ts). Only verified cosignatures come
 * here: checking them is the caller's work.
 */
export class CosignatureStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Records cosignatures of `note` (the log's signed checkpoint at `size`, without cosignatures)
   * in one transaction. A witness's line is written when it has none for the size or carries a
   * later timestamp; the cosignatures written are returned. Refused (CHECKPOINT_MISMATCH), with
   * nothing written, when another note is already kept for the size.
   */
  async record(size: number, note: string, cosignatures: readonly StoredCosignature[], recordedAt: Date): Promise<StoredCosignature[]> {
    return this.db.transaction().execute(async (trx) => {
      await trx.insertInto('cosigned_checkpoints').values({ tree_size: size, note }).onConflict((oc) => oc.column('tree_size').doNothing()).execute();
      const kept = await trx.selectFrom('cosigned_checkpoints').select('note').where('tree_size', '=', size).executeTakeFirstOrThrow();
      if (kept.note !== note) throw new DomainError('CHECKPOINT_MISMATCH', `another checkpoint text is already cosigned for size ${size}`);
      const written: StoredCosignature[] = [];
      for (const c of cosignatures) {
        const row = { tree_size: size, witness: c.witness, key_hash: c.keyHash, signed_at: c.timestamp, line: c.line, recorded_at: recordedAt };
        const result = await trx
          .insertInto('cosignatures')
          .values(row)
          .onConflict((oc) =>
            oc
              .columns(['tree_size', 'witness'])
              .doUpdateSet((eb) => ({ key_hash: eb.ref('excluded.key_hash'), signed_at: eb.ref('excluded.signed_at'), line: eb.ref('excluded.line'), recorded_at: eb.ref('excluded.recorded_at') }))
              .where((eb) => eb('cosignatures.signed_at', '<', eb.ref('excluded.signed_at'))),
          )
          .returning('witness')
          .executeTakeFirst();
        if (result) written.push(c);
      }
      return written;
    });
  }

  /** The lines stored for `size` over exactly `note`, sorted by witness name. */
  async lines(size: number, note: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('cosignatures')
      .innerJoin('cosigned_checkpoints', 'cosigned_checkpoints.tree_size', 'cosignatures.tree_size')
      .select(['cosignatures.witness', 'cosignatures.line'])
      .where('cosignatures.tree_size', '=', size)
      .where('cosigned_checkpoints.note', '=', note)
      .execute();
    return rows.sort(byWitness).map((r) => r.line);
  }

  /** The largest cosigned checkpoint with its lines, or null when no witness has cosigned yet. */
  async latest(): Promise<CosignedNote | null> {
    const top = await this.db.selectFrom('cosigned_checkpoints').selectAll().orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
    if (!top) return null;
    const size = toNumber(top.tree_size);
    return { size, note: top.note, lines: await this.lines(size, top.note) };
  }
}
