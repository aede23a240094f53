// OpenPGP behind a small surface that speaks in facts the pure domain decides on.
export * from './keys.js';
export * from './keyring.js';
export * from './revocation.js';
export * from './verify-pool.js';
