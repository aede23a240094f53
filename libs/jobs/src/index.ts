export * from './queue.js';
export * from './in-process.js';
export * from './bullmq.js';
export * from './dispatcher.js';
export * from './channels.js';
export * from './workers.js';
export * from './start.js';
