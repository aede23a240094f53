export * from './html.js';
export * from './atom.js';
export * from './search.js';
