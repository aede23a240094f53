export * from './html.js';
export * from './atom.js';
