export * from './commands.js';
export * from './decider.js';
export * from './keyring.js';
export * from './packages.js';
export * from './policy.js';
export * from './projection.js';
export * from './archive.js';
export * from './shutdown.js';
