// Logs and metrics of the Signet processes (the API and the worker): pino, Prometheus.
export * from './logger.js';
export * from './metrics.js';
export * from './build-info.js';
export * from './line-writer.js';
export * from './hot-histogram.js';
