export * from './audit.js';
export * from './mirror.js';
export * from './replay.js';
export * from './resume.js';
export * from './source.js';
export * from './proofs.js';
export * from './monitor.js';
export * from './disk.js';
