// The part of the domain an offline verifier needs (`@signet/domain/core`): no command parsing,
// so a client command does not load the schema library at start-up.
export * from './errors.js';
export * from './canonical-json.js';
export * from './snapshot.js';
export * from './module-sig.js';
export * from './fingerprint.js';
export { activeMember, type TrustState } from './state.js';
export type { KeyInput, RevocationFacts, RevocationReason } from './decide.js';
