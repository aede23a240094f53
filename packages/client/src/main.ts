import { buildProgram, run } from '../../../apps/cli/src/program.js';

// The `signet` command of the client package (signet-client): the same command tree as the full
// `signet`, without the server's commands, so no Nest and no database driver reach the bundle
// (scripts/build-client.js refuses them).

process.exit(await run(buildProgram({ server: false }), process.argv.slice(2)));
