import { type Kysely, sql } from 'kysely';
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
const byWitness = (a: { witness: string }, b: { witness: string }) =>
  a.witness < b.witness ? -1 : a.witness > b.witness ? 1 : 0;

/**
 * Witness cosignatures (migrations/0003_cosignatures.ts, append-only since 0004). Only verified
 * cosignatures come here: checking them is the caller's work.
 */
export class CosignatureStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Records cosignatures of `note` (the log's signed checkpoint at `size`, without cosignatures)
   * in one transaction. A witness's line is added when it has none for the size or carries a
   * later timestamp than its newest; earlier lines stay (the table is append-only, 0004). The
   * cosignatures written are returned. Refused (CHECKPOINT_MISMATCH), with nothing written, when
   * another note is already kept for the size.
   */
  async record(
    size: number,
    note: string,
    cosignatures: readonly StoredCosignature[],
    recordedAt: Date,
  ): Promise<StoredCosignature[]> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('cosigned_checkpoints')
        .values({ tree_size: size, note })
        .onConflict((oc) => oc.column('tree_size').doNothing())
        .execute();
      const kept = await trx
        .selectFrom('cosigned_checkpoints')
        .select('note')
        .where('tree_size', '=', size)
        .executeTakeFirstOrThrow();
      if (kept.note !== note)
        throw new DomainError('CHECKPOINT_MISMATCH', `another checkpoint text is already cosigned for size ${size}`);
      const written: StoredCosignature[] = [];
      for (const c of cosignatures) {
        // Only a line newer than the witness's newest for the size is added (in one statement,
        // so it is judged against what is committed); an equal timestamp is the same line.
        const result = await sql<{ witness: string }>`
          INSERT INTO cosignatures (tree_size, witness, key_hash, signed_at, line, recorded_at)
          SELECT ${size}::bigint, ${c.witness}::text, ${c.keyHash}::bigint, ${c.timestamp}::bigint, ${c.line}::text, ${recordedAt}::timestamptz
          WHERE NOT EXISTS (SELECT 1 FROM cosignatures WHERE tree_size = ${size}::bigint AND witness = ${c.witness}::text AND signed_at >= ${c.timestamp}::bigint)
          ON CONFLICT DO NOTHING
          RETURNING witness`.execute(trx);
        if (result.rows.length > 0) written.push(c);
      }
      return written;
    });
  }

  /** The newest line of each witness stored for `size` over exactly `note`, sorted by witness name. */
  async lines(size: number, note: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('cosignatures')
      .innerJoin('cosigned_checkpoints', 'cosigned_checkpoints.tree_size', 'cosignatures.tree_size')
      .distinctOn('cosignatures.witness')
      .select(['cosignatures.witness', 'cosignatures.line'])
      .where('cosignatures.tree_size', '=', size)
      .where('cosigned_checkpoints.note', '=', note)
      .orderBy('cosignatures.witness')
      .orderBy('cosignatures.signed_at', 'desc')
      .execute();
    return rows.sort(byWitness).map((r) => r.line);
  }

  /** The largest cosigned checkpoint with its lines, or null when no witness has cosigned yet. */
  async latest(): Promise<CosignedNote | null> {
    const top = await this.db
      .selectFrom('cosigned_checkpoints')
      .selectAll()
      .orderBy('tree_size', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!top) return null;
    const size = toNumber(top.tree_size);
    return { size, note: top.note, lines: await this.lines(size, top.note) };
  }
}
