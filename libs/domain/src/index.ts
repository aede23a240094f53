export * from './canonical-json.js';
export * from './clock.js';
export * from './envelope.js';
export * from './errors.js';
export * from './events.js';
export * from './genesis.js';
