export * from './config.js';
export * from './connect.js';
export * from './database.js';
export * from './log-key.js';
export * from './log.js';
export * from './reader.js';
export * from './writer.js';
export * from './clock.js';
