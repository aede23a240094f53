import { parentPort } from 'node:worker_threads';
import { DomainError } from '@signet/domain/core';
import { type PublicKey, readPublicKey, verifyCleartext, verifyDetached } from './keys.js';
import type { VerifyReply, VerifyTask } from './verify-pool.js';

// A verification thread: OpenPGP signature checks for the server and the audit, keys parsed once per thread.

const keys = new Map<string, Promise<PublicKey>>();

function key(fingerprint: string, armored: string): Promise<PublicKey> {
  let parsed = keys.get(fingerprint);
  if (!parsed) {
    parsed = readPublicKey(armored).then((k) => k.key);
    keys.set(fingerprint, parsed);
  }
  return parsed;
}

async function run(task: VerifyTask): Promise<VerifyReply> {
  try {
    const signers = await Promise.all(task.keys.map((k) => key(k.fingerprint, k.armored)));
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

parentPort!.on('message', (task: VerifyTask) => {
  void run(task).then((reply) => parentPort!.postMessage(reply));
});
