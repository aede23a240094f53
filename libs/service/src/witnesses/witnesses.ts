import { type Clock, DomainError, InfrastructureError } from '@signet/domain';
import { CosignatureStore, type SignetLog, type StoredCosignature } from '@signet/store';
import {
  type Checkpoint,
  type Cosignature,
  type NoteSignature,
  type NoteVerifier,
  TlogError,
  type WitnessVerifier,
  checkCosignatures,
  hash8,
  hashesEqual,
  openCheckpoint,
  parseCheckpointText,
  parseNote,
  parseVerifierKey,
  parseWitnessVerifierKey,
  signatureLine,
} from '@signet/tlog';

/** Largest cosigned note accepted: a checkpoint with a hundred signature lines is about 15 kB. */
export const MAX_COSIGNED_NOTE_BYTES = 64 * 1024;

/** What a submission stored: each verified cosignature, `stored: false` when the log already had it (or a later one). */
export interface CosignaturesRecorded {
  readonly treeSize: number;
  /** True when at least one cosignature was written. */
  readonly created: boolean;
  readonly cosignatures: readonly { witness: string; keyHash: string; timestamp: number; stored: boolean }[];
}

const describeLine = (sig: NoteSignature) => `${sig.name}+${hash8(sig.keyHash)}`;

/**
 * Witness cosignatures (C2SP tlog-cosignature) of this log's checkpoints: accepted from the
 * configured witnesses only, for checkpoints the log signed with the root it has at that size;
 * served back on the checkpoints they cosign.
 */
export class CosignatureService {
  private readonly store: CosignatureStore;
  private readonly logKey: NoteVerifier;
  private readonly witnesses: readonly WitnessVerifier[];

  constructor(
    private readonly log: SignetLog,
    witnessKeys: readonly string[],
    private readonly clock: Clock,
  ) {
    this.store = new CosignatureStore(log.db.db);
    this.logKey = parseVerifierKey(log.identity.verifierKey);
    this.witnesses = witnessKeys.map(parseWitnessVerifierKey);
  }

  /**
   * Takes a checkpoint note carrying witness cosignature lines (attacker-controlled: anyone may
   * post). Everything is checked before anything is written; a refusal writes nothing.
   */
  async submit(body: string): Promise<CosignaturesRecorded> {
    const { cp, text, logLines } = this.openLogCheckpoint(body);
    const cosignatures = this.verifiedCosignatures(body);
    await this.checkRoot(cp);
    // Kept as the log signed it: the same bytes whichever witness's copy came first.
    const note = `${text}\n${logLines.join('')}`;
    const rows: StoredCosignature[] = cosignatures
      .map((c) => ({ witness: c.witness.name, keyHash: c.witness.keyHash, timestamp: c.timestamp, line: c.line }))
      .sort((x, y) => (x.witness < y.witness ? -1 : 1));
    // The store hands back the very row objects it wrote.
    const written = new Set(await this.store.record(cp.size, note, rows, this.clock.now()));
    return {
      treeSize: cp.size,
      created: written.size > 0,
      cosignatures: rows.map((r) => ({
        witness: r.witness,
        keyHash: hash8(r.keyHash),
        timestamp: r.timestamp,
        stored: written.has(r),
      })),
    };
  }

  /** The head's checkpoint with the cosignatures stored for it. */
  async checkpoint(): Promise<string> {
    const head = await this.log.reader.head();
    if (!head) throw new InfrastructureError('NOT_INITIALIZED', 'the log has no checkpoint yet');
    return head.note + (await this.store.lines(head.size, head.note)).join('');
  }

  /** The largest checkpoint any witness cosigned, with all its stored cosignatures. */
  async latestCosigned(): Promise<string> {
    const latest = await this.store.latest();
    if (!latest) throw new DomainError('NOT_COSIGNED', 'no witness has cosigned a checkpoint of this log yet');
    return latest.note + latest.lines.join('');
  }

  /** The checkpoint as the log signed it, and the log's signature lines; BAD_CHECKPOINT or NOT_THIS_LOG. */
  private openLogCheckpoint(body: string): { cp: Checkpoint; text: string; logLines: string[] } {
    if (Buffer.byteLength(body, 'utf8') > MAX_COSIGNED_NOTE_BYTES)
      throw new DomainError('TOO_LARGE', `a cosigned checkpoint is at most ${MAX_COSIGNED_NOTE_BYTES} bytes`);
    let parsed: { text: string; signatures: NoteSignature[] };
    try {
      parsed = parseNote(body);
      parseCheckpointText(parsed.text);
    } catch (error) {
      if (error instanceof TlogError)
        throw new DomainError('BAD_CHECKPOINT', `not a checkpoint note: ${error.message}`);
      throw error;
    }
    let cp: Checkpoint;
    try {
      cp = openCheckpoint(body, this.logKey);
    } catch (error) {
      if (error instanceof TlogError)
        throw new DomainError('NOT_THIS_LOG', `not a checkpoint of this log (${this.logKey.name}): ${error.message}`);
      throw error;
    }
    const logLines = [...new Set(parsed.signatures.filter((s) => this.isLogKey(s)).map(signatureLine))];
    return { cp, text: parsed.text, logLines };
  }

  /** The cosignatures by configured witnesses; BAD_COSIGNATURE if one claiming such a witness fails, UNKNOWN_WITNESS if there are none. */
  private verifiedCosignatures(body: string): Cosignature[] {
    const { valid, invalid } = checkCosignatures(body, this.witnesses);
    if (invalid.length > 0)
      throw new DomainError(
        'BAD_COSIGNATURE',
        `the cosignature by ${invalid.map(describeLine).join(', ')} does not verify over this checkpoint`,
      );
    if (valid.length === 0) {
      const others = parseNote(body).signatures.filter((s) => !this.isLogKey(s));
      const seen =
        others.length > 0 ? `it carries ${others.map(describeLine).join(', ')}` : 'it carries no cosignature';
      const known =
        this.witnesses.length > 0
          ? `this log accepts ${this.witnesses.map((w) => w.verifierKey).join(', ')}`
          : 'this log has no witnesses configured (SIGNET_WITNESSES)';
      throw new DomainError('UNKNOWN_WITNESS', `no cosignature by a witness of this log: ${seen}; ${known}`);
    }
    return valid;
  }

  private isLogKey(sig: NoteSignature): boolean {
    return sig.name === this.logKey.name && sig.keyHash === this.logKey.keyHash;
  }

  /** CHECKPOINT_MISMATCH unless the log has the checkpoint's size and root. */
  private async checkRoot(cp: Checkpoint): Promise<void> {
    const head = await this.log.reader.head();
    if (!head) throw new InfrastructureError('NOT_INITIALIZED', 'the log has no checkpoint yet');
    if (cp.size > head.size)
      throw new DomainError('CHECKPOINT_MISMATCH', `the checkpoint has size ${cp.size}; the log has ${head.size}`);
    const root = cp.size === head.size ? head.root : await this.log.reader.rootAt(cp.size);
    if (!hashesEqual(root, cp.root))
      throw new DomainError('CHECKPOINT_MISMATCH', `the checkpoint's root is not the log's root at size ${cp.size}`);
  }
}
