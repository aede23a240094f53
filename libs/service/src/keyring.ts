export { Keyring } from '@signet/pgp';
