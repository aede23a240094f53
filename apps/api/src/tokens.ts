/** Injection tokens for what main.ts opens before Nest starts. */
export const SIGNET_LOG = Symbol('SIGNET_LOG');
export const SIGNET_CONFIG = Symbol('SIGNET_CONFIG');
export const SIGNET_CLOCK = Symbol('SIGNET_CLOCK');
export const SIGNET_ARCHIVE = Symbol('SIGNET_ARCHIVE');
