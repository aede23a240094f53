#!/usr/bin/env node
// One tsc pass over apps, libs, migrations and bench, then the `@signet/<lib>` path aliases
// in the emitted JavaScript are rewritten to relative paths (tsc leaves them as written,
// and Node would look for them in node_modules).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });

const { compilerOptions } = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8'));
const aliases = Object.entries(compilerOptions.paths).map(([name, [target]]) => [
  name,
  join(root, 'dist', target.replace(/\.ts$/, '.js')),
]);

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.name.endsWith('.js')) yield path;
  }
}

for (const file of walk(join(root, 'dist'))) {
  const source = readFileSync(file, 'utf8');
  let changed = source;
  for (const [name, target] of aliases) {
    let rel = relative(dirname(file), target);
    if (!rel.startsWith('.')) rel = `./${rel}`;
    changed = changed.replaceAll(`from '${name}'`, `from '${rel}'`).replaceAll(`import('${name}')`, `import('${rel}')`);
  }
  if (changed !== source) writeFileSync(file, changed);
}
