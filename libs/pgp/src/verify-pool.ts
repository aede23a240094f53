import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InfrastructureError } from '@signet/domain/core';

/** A key a signature is checked with: parsed once per thread, by fingerprint. */
export interface KeyRef {
  readonly fingerprint: string;
  readonly armored: string;
}

export type VerifyRequest =
  | {
      readonly kind: 'detached';
      readonly data: Uint8Array;
      readonly signature: string;
      readonly keys: readonly KeyRef[];
      readonly requireDigest?: 'SHA512';
    }
  | { readonly kind: 'cleartext'; readonly armored: string; readonly keys: readonly KeyRef[] };

/** A request as a thread receives it: its keys by fingerprint, each key's text sent to a thread once. */
export type VerifyTask = DistributeTask<VerifyRequest>;
type DistributeTask<T> = T extends unknown
  ? Omit<T, 'keys'> & { readonly id: number; readonly keys: readonly string[] }
  : never;

/**
 * What the pool sends a thread at a time, in order: a key's text where the thread has not seen it
 * (or holds another text for that fingerprint), then the task that names it. A task is checked
 * with the texts sent before it, so one whose key changed later in the same batch still gets its own.
 */
export type VerifyBatch = readonly BatchItem[];
type BatchItem = { readonly key: KeyRef } | { readonly task: VerifyTask } | { readonly forget: string };

/** Keys a thread holds parsed at most, the least recently used forgotten first (an audit meets every key of the log). */
const KEYS_PER_THREAD = 1000;

export type VerifyReply =
  | {
      readonly id: number;
      readonly ok: true;
      readonly signer: string;
      readonly created: string;
      readonly digest: string;
      readonly text: string | null;
    }
  | { readonly id: number; readonly ok: false; readonly code: string; readonly message: string };

export type VerifyResult =
  | Omit<Extract<VerifyReply, { ok: true }>, 'id'>
  | Omit<Extract<VerifyReply, { ok: false }>, 'id'>;

/**
 * OpenPGP verification on worker threads, one per core: an audit's signatures are independent of
 * each other, so they are checked in parallel while the replay goes on in order.
 */
export class VerifyPool {
  private workers: Worker[] = [];
  private readonly waiting = new Map<
    number,
    { worker: number; done: (reply: VerifyReply) => void; fail: (error: Error) => void }
  >();
  private load: number[] = [];
  /** Per thread: the text of each key it holds, by fingerprint, least recently used first. */
  private sent: Map<string, string>[] = [];
  /** Per thread: what goes out at the next flush (one message per thread per turn of the event loop). */
  private outbox: BatchItem[][] = [];
  private flushing = false;
  private next = 0;
  private closed = false;
  private readonly size: number;

  /** The threads start at the first verification: a process that never verifies has none. */
  constructor(
    threads = availableParallelism(),
    private readonly keysPerThread = KEYS_PER_THREAD,
  ) {
    this.size = Math.max(1, threads);
  }

  /** How many keys each thread holds parsed (tests). */
  keysHeld(): number[] {
    return this.sent.map((held) => held.size);
  }

  get threads(): number {
    return this.size;
  }

  /** Thread `index`; one that stops (an error, a heap exhausted) fails its tasks and is replaced. */
  private spawn(index: number): Worker {
    // A key or signature so large it exhausts a thread's heap fails that thread, not the process.
    const worker = new Worker(workerScript(), { resourceLimits: { maxOldGenerationSizeMb: 512 } });
    this.sent[index] = new Map();
    this.outbox[index] = [];
    worker.on('message', (replies: readonly VerifyReply[]) => {
      for (const reply of replies) {
        const task = this.waiting.get(reply.id);
        this.waiting.delete(reply.id);
        task?.done(reply);
      }
    });
    const lost = (why: string) => {
      if (this.workers[index] !== worker) return; // already replaced ('error' is followed by 'exit')
      this.fail((task) => task.worker === index, new Error(`a verification thread stopped (${why})`));
      this.load[index] = 0;
      if (!this.closed) this.workers[index] = this.spawn(index);
    };
    worker.on('error', (error) => lost(error.message));
    worker.on('exit', (code) => lost(`exit ${code}`));
    return worker;
  }

  private fail(which: (task: { worker: number }) => boolean, error: Error): void {
    for (const [id, task] of this.waiting) {
      if (!which(task)) continue;
      this.waiting.delete(id);
      task.fail(error);
    }
  }

  verify(request: VerifyRequest): Promise<VerifyResult> {
    if (this.closed)
      return Promise.reject(
        new InfrastructureError(
          'LOG_CLOSED',
          'the server is shutting down and verifies no more signatures; send the request again',
        ),
      );
    if (this.workers.length === 0) {
      this.workers = Array.from({ length: this.size }, (_, index) => this.spawn(index));
      this.load = this.workers.map(() => 0);
    }
    const id = this.next++;
    // The least busy thread: tasks differ a lot in cost (an RSA-4096 key parse, a large artifact).
    let w = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[w]!) w = i;
    this.load[w]!++;
    const sent = this.sent[w]!;
    const outbox = this.outbox[w]!;
    for (const key of request.keys) {
      const held = sent.get(key.fingerprint);
      sent.delete(key.fingerprint); // (re)inserted last: the most recently used
      sent.set(key.fingerprint, key.armored);
      if (held !== key.armored) outbox.push({ key });
    }
    outbox.push({ task: { ...request, id, keys: request.keys.map((k) => k.fingerprint) } as VerifyTask });
    // The thread forgets in the same order: tasks before this point took their keys already, and
    // a later task naming a forgotten key sends it again.
    for (const fingerprint of sent.keys()) {
      if (sent.size <= this.keysPerThread) break;
      if (request.keys.some((k) => k.fingerprint === fingerprint)) continue;
      sent.delete(fingerprint);
      outbox.push({ forget: fingerprint });
    }
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
    return new Promise((resolve, reject) => {
      this.waiting.set(id, {
        worker: w,
        done: (reply) => {
          this.load[w] = Math.max(0, this.load[w]! - 1);
          const { id: _, ...result } = reply;
          resolve(result as VerifyResult);
        },
        fail: reject,
      });
    });
  }

  /** Sends each thread what was asked of it since the last flush, as one message. */
  private flush(): void {
    this.flushing = false;
    for (let w = 0; w < this.workers.length; w++) {
      const outbox = this.outbox[w]!;
      if (outbox.length === 0) continue;
      this.outbox[w] = [];
      this.workers[w]!.postMessage(outbox satisfies VerifyBatch);
    }
  }

  /** Stops the threads; verifications not answered yet fail (LOG_CLOSED), later ones are refused. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers;
    this.workers = [];
    this.fail(
      () => true,
      new InfrastructureError(
        'LOG_CLOSED',
        'the server is shutting down and verifies no more signatures; send the request again',
      ),
    );
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The compiled worker beside this file; from the TypeScript sources (tests), the built one. */
function workerScript(): URL {
  const here = new URL('./verify-worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  return new URL(import.meta.url.replace(/\/libs\/pgp\/src\/verify-pool\.ts$/, '/dist/libs/pgp/src/verify-worker.js'));
}
