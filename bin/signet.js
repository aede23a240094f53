#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/apps/cli/src/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error('signet: not built yet. Run `npm ci` (or `npm run build`) in the checkout first.');
  process.exit(2);
}
await import(main);
