import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  /** Signet's version (package.json). */
  readonly version: string;
  /** Node's version, e.g. v20.20.2. */
  readonly node: string;
}

/** The version of the checkout this code runs from: the nearest package.json up from here (src/ or dist/). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'signet' && typeof pkg.version === 'string') return pkg.version;
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

let cached: BuildInfo | null = null;

export function buildInfo(): BuildInfo {
  cached ??= { version: packageVersion(), node: process.version };
  return cached;
}
