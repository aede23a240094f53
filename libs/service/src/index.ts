// The services of a process serving or following the log, one folder per feature.
export * from './services.js';
export * from './sequencer/sequencer.js';
export * from './sequencer/projection.js';
export * from './commands/commands.js';
export * from './packages/packages.js';
export * from './snapshots/snapshot.js';
export * from './snapshots/archive.js';
export * from './witnesses/witnesses.js';
export * from './keyring.js';
export * from './policy.js';
export * from './shutdown.js';
