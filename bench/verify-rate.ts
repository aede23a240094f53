import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** A signature to verify: detached over `text`, or a clear-signed message (`signature` holds it). */
export interface Sample {
  readonly kind: 'detached' | 'cleartext';
  readonly text: string;
  readonly signature: string;
}

/** openpgp.js parsing and verifying the same signatures, one worker thread per core. */
export async function verifyRateAllCores(samples: Sample[], publicKeys: string[], seconds: number): Promise<number> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const openpgp = await import(workerData.openpgp);
      const keys = await Promise.all(workerData.keys.map((k) => openpgp.readKey({ armoredKey: k })));
      const end = Date.now() + workerData.ms;
      let n = 0;
      while (Date.now() < end) {
        const s = workerData.samples[n % workerData.samples.length];
        const v = s.kind === 'cleartext'
          ? await openpgp.verify({ message: await openpgp.readCleartextMessage({ cleartextMessage: s.signature }), verificationKeys: keys, expectSigned: true })
          : await openpgp.verify({ message: await openpgp.createMessage({ binary: new TextEncoder().encode(s.text) }), signature: await openpgp.readSignature({ armoredSignature: s.signature }), verificationKeys: keys, expectSigned: true, format: 'binary' });
        await v.signatures[0].verified;
        n++;
      }
      parentPort.postMessage(n);
    })();`;
  const openpgpUrl = import.meta.resolve('openpgp');
  const workers = Array.from(
    { length: availableParallelism() },
    () =>
      new Worker(code, {
        eval: true,
        workerData: { openpgp: openpgpUrl, keys: publicKeys, samples, ms: seconds * 1000 },
      }),
  );
  const counts = await Promise.all(
    workers.map((w) => new Promise<number>((resolve, reject) => w.once('message', resolve).once('error', reject))),
  );
  await Promise.all(workers.map((w) => w.terminate()));
  return counts.reduce((a, b) => a + b, 0) / seconds;
}
