import { parentPort } from 'node:worker_threads';
import { DomainError } from '@signet/domain/core';
import { type PublicKey, readPublicKey, verifyCleartext, verifyDetached } from './keys.js';
import type { VerifyBatch, VerifyReply, VerifyTask } from './verify-pool.js';

// A verification thread: OpenPGP signature checks for the server and the audit, keys parsed once per thread.

/** Each key this thread was sent, parsed once; a key sent again with another text replaces it, and the pool says which to forget. */
const keys = new Map<string, Promise<PublicKey>>();

function key(fingerprint: string): Promise<PublicKey> {
  const parsed = keys.get(fingerprint);
  // The pool sends a key's text before the first task that names it: a missing key is a pool bug.
  if (!parsed) return Promise.reject(new Error(`key ${fingerprint} was not sent to this verification thread`));
  return parsed;
}

/** `task` checked with `signerKeys`, the texts its batch sent before it (taken when the task was read). */
async function run(task: VerifyTask, signerKeys: readonly Promise<PublicKey>[]): Promise<VerifyReply> {
  try {
    const signers = await Promise.all(signerKeys);
    if (task.kind === 'cleartext') {
      const facts = await verifyCleartext(task.armored, signers);
      return {
        id: task.id,
        ok: true,
        signer: facts.signer,
        created: facts.created,
        digest: facts.digest,
        text: facts.text,
      };
    }
    const facts = await verifyDetached(task.data, task.signature, signers, task.requireDigest);
    return { id: task.id, ok: true, signer: facts.signer, created: facts.created, digest: facts.digest, text: null };
  } catch (error) {
    return {
      id: task.id,
      ok: false,
      code: error instanceof DomainError ? error.code : 'BAD_SIGNATURE',
      message: (error as Error).message,
    };
  }
}

// Replies that are ready in the same turn of the event loop go back as one message.
let replies: VerifyReply[] = [];
function reply(answer: VerifyReply): void {
  if (replies.length === 0)
    setImmediate(() => {
      const ready = replies;
      replies = [];
      parentPort!.postMessage(ready);
    });
  replies.push(answer);
}

parentPort!.on('message', (batch: VerifyBatch) => {
  for (const item of batch) {
    if ('forget' in item) keys.delete(item.forget);
    else if ('key' in item) {
      const parsed = readPublicKey(item.key.armored).then((read) => read.key);
      parsed.catch(() => undefined); // reported by each task that names it
      keys.set(item.key.fingerprint, parsed);
    } else {
      // Taken now, before a later item replaces or forgets them.
      void run(item.task, item.task.keys.map(key)).then(reply);
    }
  }
});
