export * from './errors.js';
export * from './hash.js';
export * from './tree.js';
export * from './proof.js';
export * from './tiles.js';
export * from './note.js';
export * from './checkpoint.js';
