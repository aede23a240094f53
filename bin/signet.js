#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The bundle (scripts/build.js); a release copied without dist/cli runs the modules it came from.
const main = ['../dist/cli/signet.js', '../dist/apps/cli/src/main.js']
  .map((path) => fileURLToPath(new URL(path, import.meta.url)))
  .find((path) => existsSync(path));
if (!main) {
  console.error('signet: not built yet. Run `npm ci` (or `npm run build`) in the checkout first.');
  process.exit(2);
}
await import(main);
