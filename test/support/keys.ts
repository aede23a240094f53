import * as openpgp from 'openpgp';
import { readPublicKey } from '@signet/pgp';

/** A fresh Ed25519 OpenPGP key made by openpgp.js (fast): its private key, armored public key and fingerprint. */
export async function ed25519(name: string) {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'curve25519',
    userIDs: [{ name, email: `${name}@example.org` }],
    format: 'armored',
  });
  return {
    priv: await openpgp.readPrivateKey({ armoredKey: privateKey }),
    pub: publicKey,
    fpr: (await readPublicKey(publicKey)).facts.fingerprint,
  };
}
