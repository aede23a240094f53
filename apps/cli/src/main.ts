import { buildProgram, run } from './program.js';

// The `signet` command with the server's commands (`init`). The client-only package builds the
// same tree with `buildProgram({ server: false })`.

process.exit(await run(buildProgram({ server: true }), process.argv.slice(2)));
