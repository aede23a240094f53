// The `signet` command of the client package (signet-client): the client commands only, no
// server command, so no Nest and no database driver end up in the bundle.
// (Interim dispatcher until the CLI's command tree lands; then this calls buildProgram({ server: false }).)
import { readFileSync } from 'node:fs';

const COMMANDS = ['snapshot', 'verify', 'module-sig', 'witness', 'audit', 'mirror', 'monitor'];

async function main([command, ...rest]: string[]): Promise<number> {
  switch (command) {
    case 'snapshot':
      return (await import('../../../apps/cli/src/client.js')).snapshotCommand(rest);
    case 'verify':
      return (await import('../../../apps/cli/src/client.js')).verifyCommand(rest);
    case 'module-sig':
      return (await import('../../../apps/cli/src/client.js')).moduleSigCommand(rest);
    case 'witness':
      return (await import('../../../apps/cli/src/witness.js')).witnessCommand(rest);
    case 'audit':
      return (await import('../../../apps/cli/src/audit.js')).auditCommand(rest);
    case 'mirror':
      return (await import('../../../apps/cli/src/audit.js')).mirrorCommand(rest);
    case 'monitor':
      return (await import('../../../apps/cli/src/audit.js')).monitorCommand(rest);
    case '--version':
    case '-V': {
      const url = new URL('../package.json', import.meta.url);
      process.stdout.write(`${(JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version}\n`);
      return 0;
    }
    default:
      process.stderr.write(`usage: signet <${COMMANDS.join('|')}> [options]\n`);
      return command === undefined || command === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  async (error: unknown) => {
    const e = error as { code?: string; message?: string };
    process.stderr.write(`signet: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}\n`);
    process.exit((await import('../../../apps/cli/src/client.js')).exitCodeOf(error));
  },
);
