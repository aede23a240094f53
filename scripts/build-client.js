#!/usr/bin/env node
// Builds the client package (signet-client): the `signet` client commands bundled by esbuild
// into dist/client-package/, and `npm pack` of it into dist/signet-client-<version>.tgz.
// No runtime dependency: openpgp.js is shipped beside the bundle as its own unmodified file
// (vendor/openpgp/, with its LICENSE: LGPL-3.0+, so it stays a separate, replaceable library);
// everything else the client commands use is bundled. A server-side module (Nest, a database
// driver, the store…) reaching the bundle fails the build.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const out = join(root, 'dist', 'client-package');
const project = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Packages the client must never carry (by import specifier). */
const SERVER_ONLY = [
  /^@nestjs\//,
  /^(pg|pg-.*|postgres|kysely|bullmq|ioredis|fastify|pino|prom-client|reflect-metadata|rxjs)(\/|$)/,
  /^@(fastify|electric-sql|aws-sdk)\//,
  /^@signet\/(store|service|jobs|render|observe|migrations)$/,
];
/** The server's own commands (`init`): the client's command tree never runs them. */
const SERVER_COMMAND = /[/\\]apps[/\\]cli[/\\]src[/\\]init\.js$/;

const OPENPGP = 'vendor/openpgp/openpgp.min.mjs';

const clientOnly = {
  name: 'client-only',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      if (SERVER_ONLY.some((p) => p.test(args.path)))
        return { errors: [{ text: `${args.path} is server-side and must not reach the client package` }] };
      if (args.path === 'openpgp')
        return { path: relative(join(out, 'lib'), join(out, OPENPGP)).replaceAll('\\', '/'), external: true };
      if (SERVER_COMMAND.test(resolve(args.resolveDir, args.path)))
        return { path: 'init', namespace: 'server-command' };
      return undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'server-command' }, () => ({
      contents:
        "export async function init() { throw Object.assign(new Error('`init` is a server command: install the full signet package on the log server'), { code: 'USAGE' }); }",
      loader: 'js',
    }));
  },
};

rmSync(out, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { signet: 'packages/client/src/main.ts', 'verify-worker': 'libs/pgp/src/verify-worker.ts' },
  outdir: join(out, 'lib'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.18',
  tsconfig: join(root, 'tsconfig.json'),
  plugins: [clientOnly],
  // Packages written for CommonJS that the bundle may carry call require(); give ESM one.
  banner: {
    js: "import { createRequire as __signetRequire } from 'node:module'; const require = __signetRequire(import.meta.url);",
  },
  legalComments: 'eof',
  // Class names stay as written: commander tells its errors by `error.name` (CommanderError).
  keepNames: true,
  metafile: true,
  logLevel: 'warning',
});

// Which third-party packages went in, for the record (and the test).
const bundled = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  if (m) bundled.add(m[1]);
}

mkdirSync(join(out, 'bin'), { recursive: true });
writeFileSync(join(out, 'bin', 'signet.js'), "#!/usr/bin/env node\nimport '../lib/signet.js';\n", { mode: 0o755 });
mkdirSync(join(out, dirname(OPENPGP)), { recursive: true });
copyFileSync(join(root, 'node_modules/openpgp/dist/node/openpgp.min.mjs'), join(out, OPENPGP));
copyFileSync(join(root, 'node_modules/openpgp/LICENSE'), join(out, dirname(OPENPGP), 'LICENSE'));
const openpgpVersion = JSON.parse(readFileSync(join(root, 'node_modules/openpgp/package.json'), 'utf8')).version;
copyFileSync(join(root, 'packages/client/README.md'), join(out, 'README.md'));
writeFileSync(
  join(out, 'package.json'),
  `${JSON.stringify(
    {
      name: 'signet-client',
      version: project.version,
      description:
        "Signet's client: verify packages and FreePBX modules against a Signet log, audit, mirror, monitor and witness it",
      type: 'module',
      license: project.license,
      bin: { signet: 'bin/signet.js' },
      engines: project.engines,
      files: ['bin', 'lib', 'vendor', 'README.md'],
      signet: { bundled: [...bundled].sort(), vendored: { openpgp: openpgpVersion } },
    },
    null,
    2,
  )}\n`,
);

const [packed] = JSON.parse(
  execFileSync('npm', ['pack', '--json', '--pack-destination', join(root, 'dist')], { cwd: out, encoding: 'utf8' }),
);
process.stdout.write(
  `client package: dist/${packed.filename} (${(packed.size / 1024).toFixed(0)} kB packed, ${(packed.unpackedSize / 1024).toFixed(0)} kB unpacked, ${packed.entryCount} files)\n` +
    `bundled: ${[...bundled].sort().join(', ') || '(none)'}; vendored: openpgp ${openpgpVersion}\n`,
);
