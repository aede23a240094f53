import { existsSync, readFileSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InfrastructureError } from '@signet/domain';
import { databaseUnavailable, isConnectionLoss } from './unavailable.js';
import { type Hash, type NoteVerifier, hashesEqual, openCheckpoint } from '@signet/tlog';

/** How long a raised mark may wait to be written when nothing that is served needs it yet. */
const BACKGROUND_WRITE_MS = 50;

/** The file, in the data directory, that holds the largest checkpoint the log signed or served. */
export const CHECKPOINT_FILE = 'checkpoint';

/** A signed tree head: its size, root and the log's signed note of them. */
export interface SignedTree {
  readonly size: number;
  readonly root: Hash;
  readonly note: string;
}

function rolledBack(message: string): InfrastructureError {
  return new InfrastructureError(
    'LOG_ROLLED_BACK',
    `${message}. The database was rolled back or its tail rewritten (a restored backup, rows deleted by a superuser); this log refuses to serve or extend it. Restore the database to at least that checkpoint, or find out what happened (signet audit --from-checkpoint) before removing the checkpoint file`,
  );
}

/** The checkpoint in `file`, or null when there is none; BAD_CHECKPOINT_FILE when it is not this log's. */
function readMark(file: string, verifier: NoteVerifier): SignedTree | null {
  if (!existsSync(file)) return null;
  const note = readFileSync(file, 'utf8');
  try {
    return openCheckpointText(note, verifier);
  } catch (error) {
    throw new InfrastructureError(
      'BAD_CHECKPOINT_FILE',
      `${file} does not hold a checkpoint of this log signed by its key (${(error as Error).message}); the server writes it itself. If this data directory belonged to another log, move the file away`,
    );
  }
}

/**
 * The largest checkpoint this log has signed or served, kept outside the database
 * (`<dataDir>/checkpoint`, the signed note). Clients and witnesses may hold any checkpoint the
 * log ever served; a database that comes back with a smaller tree, or another tree of that size
 * (a restored backup, a tail deleted by a superuser, then regrown), would make the log sign a
 * fork of its own history. So every head is checked against it (LOG_ROLLED_BACK), and it only
 * grows: written atomically (temporary file, fsync, rename, fsync of the directory) shortly after
 * the head grows (at most one write per BACKGROUND_WRITE_MS), and always on disk before a larger
 * checkpoint is served (`durable`). The sequencer does not wait for it: a process that dies
 * before the file is written loses from the mark what it committed since the last write (no one
 * was served those checkpoints), and never adds to it.
 *
 * Several processes sharing a data directory each keep their own mark and write the file; a
 * write never replaces a larger checkpoint found in the file, though two racing writes may leave
 * the smaller of them (never a checkpoint the database lacks).
 */
export class CheckpointWatermark {
  private static instances = 0;
  /** This mark's temporary file: one per process and mark, so a killed process leaves at most one behind per log it had open. */
  private readonly tmp: string | null;
  private mark: SignedTree | null;
  private written: number;
  private flushing: Promise<void> | null = null;
  private background: NodeJS.Timeout | null = null;

  /** `file` null: kept in memory only (a database in memory, which cannot outlive the process). */
  constructor(
    private readonly file: string | null,
    private readonly verifier: NoteVerifier,
  ) {
    this.mark = file ? readMark(file, verifier) : null;
    this.written = this.mark?.size ?? 0;
    this.tmp = file ? `${file}.${process.pid}-${++CheckpointWatermark.instances}.tmp` : null;
  }

  /** The largest tree size signed or served so far (0 before any). */
  get size(): number {
    return this.mark?.size ?? 0;
  }

  /**
   * The mark as it stands now. Take it *before* reading the head the mark is to be checked
   * against: this process raises the mark as soon as its own appends commit, so a head read that
   * was already on its way (an older snapshot) may well be smaller than the mark at its return,
   * without any rollback.
   */
  current(): SignedTree | null {
    return this.mark;
  }

  /**
   * Checks that the database's head contains `mark` (the largest tree signed when the head was
   * read, see `current`) — a smaller head, the same size with another root, or a larger tree
   * whose root at the mark's size differs is LOG_ROLLED_BACK — then raises the mark to the head
   * if it is larger. `rootAt(n)` is the stored tree's root at size n (n ≤ the head's size). A
   * database that cannot be reached while checking is that (DATABASE_UNAVAILABLE), never a
   * rollback. Does not wait for the file: `durable` does.
   */
  async check(
    head: SignedTree | null,
    rootAt: (size: number) => Promise<Hash>,
    mark: SignedTree | null,
  ): Promise<void> {
    if (mark) {
      if (!head || head.size < mark.size)
        throw rolledBack(
          `the database holds a tree of ${head?.size ?? 0} events, smaller than the tree of ${mark.size} this log already signed`,
        );
      let root: Hash;
      if (head.size === mark.size) {
        root = head.root;
      } else {
        try {
          root = await rootAt(mark.size);
        } catch (error) {
          if (isConnectionLoss(error)) throw databaseUnavailable(error);
          throw rolledBack(
            `the database's tree no longer has the nodes of the tree of ${mark.size} this log already signed (${(error as Error).message})`,
          );
        }
      }
      if (!hashesEqual(root, mark.root))
        throw rolledBack(
          `the database's tree at size ${mark.size} has another root than the checkpoint of that size this log already signed`,
        );
    }
    if (head) this.raise(head);
  }

  /**
   * Makes `head` the mark if it is larger — the caller knows it extends the mark (the sequencer,
   * which just wrote it on the head it checked) — and starts writing it out. A failure to write
   * is reported by the next `durable`, which tries again.
   */
  raise(head: SignedTree): void {
    if (this.mark && head.size <= this.mark.size) return;
    this.mark = head;
    // In the background, at most one write per BACKGROUND_WRITE_MS: under a stream of appends a
    // write per commit would fsync as often as the database does, on the same disk. Serving a
    // checkpoint does not wait for this: it calls `durable`, which writes at once.
    this.background ??= setTimeout(() => {
      this.background = null;
      if (this.mark) this.durable(this.mark.size).catch(() => undefined);
    }, BACKGROUND_WRITE_MS);
    this.background.unref();
  }

  /** Resolves once a mark of at least `size` is on disk: before a checkpoint of that size leaves the process. */
  async durable(size: number): Promise<void> {
    while (this.written < size) {
      this.flushing ??= this.writeOut().finally(() => (this.flushing = null));
      await this.flushing;
    }
  }

  /** Resolves once the current mark is on disk (at shutdown). */
  async flush(): Promise<void> {
    if (this.background) clearTimeout(this.background);
    this.background = null;
    await this.durable(this.size);
  }

  private async writeOut(): Promise<void> {
    const mark = this.mark!;
    if (!this.file || !this.tmp) {
      this.written = mark.size;
      return;
    }
    try {
      await writeMark(this.file, this.tmp, mark, this.verifier);
    } catch (error) {
      throw new InfrastructureError(
        'CHECKPOINT_FILE_UNWRITABLE',
        `cannot record the checkpoint of size ${mark.size} in ${this.file} (${(error as Error).message}); the log serves no larger tree until it can`,
      );
    }
    this.written = mark.size;
  }
}

/** Writes `mark` to `file` atomically and durably, unless the file already holds a larger checkpoint of this log. */
async function writeMark(file: string, tmp: string, mark: SignedTree, verifier: NoteVerifier): Promise<void> {
  const handle = await open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(mark.note, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  let current: SignedTree | null;
  try {
    current = openCheckpointText(await readFile(file, 'utf8'), verifier);
  } catch {
    current = null; // none yet (or unreadable: ours replaces it)
  }
  if (current && current.size > mark.size) {
    await unlink(tmp);
    return;
  }
  await rename(tmp, file);
  // The rename is durable once the directory is.
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function openCheckpointText(note: string, verifier: NoteVerifier): SignedTree {
  const cp = openCheckpoint(note, verifier);
  return { size: cp.size, root: cp.root, note };
}
