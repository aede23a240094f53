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

// The `signet` command (bin/signet.js) runs from one bundle, dist/cli/: a CLI run is a new process
// each time, and Node loading some forty small modules, commander's among them, cost it more
// than its work on a small module. Our code and commander are bundled (split, so each command
// still loads only what it runs); every other package stays in node_modules. openpgp.js is taken
// through `require`, which its package maps to its minified build: the same code, parsed faster.
const { build } = await import('esbuild');
const BUNDLED_PACKAGES = new Set(['commander']);
const cliPlugin = {
  name: 'signet-cli',
  setup(b) {
    b.onResolve({ filter: /^openpgp$/ }, (args) =>
      args.namespace === 'openpgp-require'
        ? { path: 'openpgp', external: true }
        : { path: 'openpgp', namespace: 'openpgp-require' },
    );
    b.onLoad({ filter: /.*/, namespace: 'openpgp-require' }, () => ({
      contents: "module.exports = require('openpgp');",
      loader: 'js',
    }));
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
      if (args.path.startsWith('node:') || BUNDLED_PACKAGES.has(name)) return undefined;
      return { path: args.path, external: true };
    });
  },
};
await build({
  absWorkingDir: root,
  entryPoints: {
    signet: 'dist/apps/cli/src/main.js',
    // Started by path beside the bundle (libs/pgp's verify pool).
    'verify-worker': 'dist/libs/pgp/src/verify-worker.js',
  },
  outdir: join(root, 'dist', 'cli'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.18',
  plugins: [cliPlugin],
  banner: {
    js: "import { createRequire as __signetRequire } from 'node:module'; const require = __signetRequire(import.meta.url);",
  },
  // Class names stay as written: commander tells its errors by `error.name` (CommanderError).
  keepNames: true,
  logLevel: 'warning',
});
