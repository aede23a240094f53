// @signet/client: verify Signet trust snapshots, package signatures and FreePBX modules offline.
// No Nest, no database: openpgp.js and Node's crypto and fs.
export * from './snapshot.js';
export * from './verify.js';
export * from './fetch.js';
