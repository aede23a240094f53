import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519PublicKey, encodeVerifierKey } from '@signet/tlog';
import { buildProgram } from '../../apps/cli/src/program.js';
import { CLI_BIN } from '../support/app.js';
import { Gpg } from '../support/gpg.js';
import { freePort } from '../support/workers.js';

// The manners of the `signet` command, table-driven over its whole command tree: help for every
// command (on stdout when asked for), --version, shell completion generated from the tree, and
// the one exit-code contract — 0 good, 1 verdict failed, 2 usage error, bad local input or a
// source that cannot be reached (naming its cause). No server: a dead port stands for one.

const VKEY = encodeVerifierKey('contract.example/log', ed25519PublicKey(randomBytes(32)));

function signet(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI_BIN, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

/** Every command path below the program: ["init"], ["snapshot"], ["snapshot", "fetch"], … */
function commandPaths(command: Command, prefix: string[] = []): string[][] {
  return command.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

describe('the signet command: help, version, completion and exit codes', () => {
  const work = mkdtempSync(join(tmpdir(), 'signet-contract-'));
  const state = join(work, 'state');
  const gpg = new Gpg();
  const program = buildProgram({ server: true });
  const paths = commandPaths(program);
  let keyFile = '';
  let unsigned = '';
  let master = '';
  /** A port nothing listens on (not port 1: fetch refuses it as a "bad port" before connecting). */
  let DEAD = '';

  beforeAll(async () => {
    DEAD = `http://127.0.0.1:${await freePort()}`;
    mkdirSync(state);
    unsigned = join(work, 'unsigned');
    mkdirSync(unsigned);
    writeFileSync(join(unsigned, 'module.xml'), '<module><rawname>unsigned</rawname></module>\n');
    master = join(work, 'master.asc');
    const fpr = gpg.genKey('Master <master@example.org>', 'ed25519', new Date(Date.now() - 86_400_000));
    writeFileSync(master, gpg.exportKey(fpr));
    writeFileSync(join(work, 'bad-policy.json'), JSON.stringify({ waitingDays: 3 }));
    keyFile = join(work, 'witness.key');
    writeFileSync(keyFile, signet(['witness', 'keygen', '--name', 'w.contract.example/witness']).out, { mode: 0o600 });
  });
  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
    gpg.remove();
  });

  it('knows every command the README documents', () => {
    expect(paths.map((p) => p.join(' '))).toEqual([
      'init',
      'snapshot',
      'snapshot fetch',
      'verify',
      'verify package',
      'verify module',
      'verify modules',
      'module-sig',
      'audit',
      'mirror',
      'monitor',
      'witness',
      'witness keygen',
      'witness cosign',
      'command',
      'completion',
      'help',
    ]);
    // The client-only build has the same tree without the server's init.
    expect(commandPaths(buildProgram({ server: false })).map((p) => p.join(' '))).toEqual(
      paths.map((p) => p.join(' ')).filter((p) => p !== 'init'),
    );
  });

  it('prints help for every command on stdout, exit 0: `<cmd> --help` and `help <cmd>` alike', () => {
    for (const path of [[], ...paths]) {
      const asked = signet([...path, '--help']);
      const name = ['signet', ...path].join(' ');
      expect([name, asked.code, asked.err]).toEqual([name, 0, '']);
      expect(asked.out).toMatch(new RegExp(`^Usage: ${name} `));
      const viaHelp = signet(['help', ...path]);
      expect([name, viaHelp.code, viaHelp.out]).toEqual([name, 0, asked.out]);
    }
  }, 300_000);

  it('prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) expect(signet([flag])).toMatchObject({ code: 0, out: `${version}\n` });
  });

  it('generates bash and zsh completion from the command tree: every command and option is in it', () => {
    const bash = signet(['completion', 'bash']);
    expect([bash.code, bash.err]).toEqual([0, '']);
    const script = join(work, 'signet.bash');
    writeFileSync(script, bash.out);
    expect(spawnSync('bash', ['-n', script]).status).toBe(0);
    const complete = (words: string[]) =>
      spawnSync(
        'bash',
        [
          '-c',
          `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _signet_complete; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: 'utf8' },
      ).stdout.trim();
    expect(complete(['signet', 'ver'])).toBe('verify');
    expect(complete(['signet', 'verify', 'mod'])).toBe('module modules');
    expect(complete(['signet', 'snapshot', 'fetch', '--ser'])).toBe('--server');
    // An option's value is not taken for a command.
    expect(complete(['signet', 'audit', '--server', 'verify', '--vk'])).toBe('--vkey');
    for (const path of paths) {
      let command: Command = program;
      for (const name of path) command = command.commands.find((c) => c.name() === name)!;
      for (const option of command.options) expect(bash.out).toContain(option.long!);
      expect(bash.out).toContain(`'${path.join(' ')}')`);
    }
    const zsh = signet(['completion', 'zsh']);
    expect([zsh.code, zsh.out]).toEqual([0, expect.stringMatching(/^#compdef signet\n/)]);
    expect(zsh.out).toContain("'verify module')");
    const hasZsh = spawnSync('zsh', ['-c', 'true']).status === 0;
    if (hasZsh) {
      writeFileSync(join(work, '_signet'), zsh.out);
      expect(spawnSync('zsh', ['-n', join(work, '_signet')], { encoding: 'utf8' }).stderr).toBe('');
      // Outside a completion widget: _describe and _files stubbed to print what they were given.
      const zcomplete = (words: string[]) =>
        spawnSync(
          'zsh',
          [
            '-c',
            `compdef() { }; _describe() { local n=\${@[-1]}; print -r -- \${(j: :)\${(@)\${(P)n}%%:*}} }; _files() { print FILES }
source ${join(work, '_signet')}; words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; before=$PATH; _signet_complete; [[ $PATH == "$before" ]] && print PATH kept`,
          ],
          { encoding: 'utf8' },
        ).stdout.split('\n');
      expect(zcomplete(['signet', 'verify', 'mod'])[0]).toBe('package module modules');
      expect(zcomplete(['signet', 'audit', '--server', 'verify', '--vk'])[0]).toMatch(/^--server --mirror --vkey /);
      expect(zcomplete(['signet', 'verify', 'module', '']).slice(0, 2)).toEqual(['FILES', 'PATH kept']);
    }
  });

  it('answers each command with the exit-code contract, and says why on stderr', () => {
    const env = { SIGNET_CLIENT_DIR: state };
    const unreachable = new RegExp(
      `SOURCE_UNREACHABLE: .*ECONNREFUSED ${DEAD.slice('http://'.length).replace(/\./g, '\\.')}\n`,
    );
    // [arguments, exit code, what stderr says (stdout stays empty for usage errors)]
    const table: [string[], 0 | 1 | 2, RegExp][] = [
      // the program
      [[], 2, /^Usage: signet /],
      [['frobnicate'], 2, /unknown command 'frobnicate'/],
      [['audti'], 2, /Did you mean audit\?/],
      [['help', 'nope'], 2, /no command "signet nope"/],
      [['completion'], 2, /missing required argument 'shell'/],
      [['completion', 'fish'], 2, /Allowed choices are bash, zsh/],
      // init
      [['init', '--no-such-option'], 2, /unknown option '--no-such-option'/],
      [['init', '--wait-days', 'abc'], 2, /option '--wait-days <days>' argument 'abc' is invalid/],
      [['init', '--authorizations', '0'], 2, /--authorizations <n>' argument '0' is invalid/],
      [['init', '--policy', join(work, 'bad-policy.json')], 2, /BAD_POLICY: unknown policy field "waitingDays"/],
      [['init', '--policy', join(work, 'none.json')], 2, /BAD_POLICY: cannot read the policy file/],
      // snapshot fetch
      [['snapshot'], 2, /^Usage: signet snapshot /],
      [['snapshot', 'fetch'], 2, /needs --server URL/],
      [['snapshot', 'fetch', '--server', DEAD], 2, /the first fetch needs --vkey/],
      [['snapshot', 'fetch', '--server', DEAD, '--vkey', 'garbage'], 2, /--vkey is not a verifier key/],
      [['snapshot', 'fetch', '--server', DEAD, '--vkey', VKEY, '--retries', '0'], 2, unreachable],
      [['snapshot', 'fetch', '--server', DEAD, '--vkey', VKEY, '--retries', 'many'], 2, /'--retries <n>'/],
      [['snapshot', 'fetch', '--server', DEAD, '--vkey', VKEY, '--timeout', '0'], 2, /'--timeout <seconds>'/],
      // verify
      [['verify'], 2, /^Usage: signet verify /],
      [['verify', 'package', 'a.zip'], 2, /missing required argument 'signature'/],
      [['verify', 'package', 'a.zip', 'a.zip.asc'], 2, /NO_SNAPSHOT: no trust snapshot in /],
      [['verify', 'module', '/nonexistent'], 2, /the module directory \/nonexistent does not exist/],
      [['verify', 'module', unsigned, '--trust-root', master], 2, /needs both --trust-root FILE .* and --keyring/],
      [['verify', 'module', unsigned, '--trust-root', master, '--keyring', '/nonexistent.asc'], 2, /cannot read/],
      [['verify', 'module', unsigned, '--trust-root', master, '--keyring', master], 1, /^$/],
      [['verify', 'module', unsigned], 2, /NO_SNAPSHOT/],
      [['verify', 'modules', '/nonexistent'], 2, /the modules directory \/nonexistent does not exist/],
      [['verify', 'modules', work, '--trust-root', master, '--keyring', master], 1, /^$/],
      [['verify', 'modules', state, '--trust-root', master, '--keyring', master], 2, /holds no module/],
      [['module-sig'], 2, /missing required argument 'dir'/],
      [['module-sig', '/nonexistent'], 2, /does not exist/],
      [['module-sig', unsigned], 0, /^$/],
      // audit, mirror, monitor
      [['audit', '--vkey', VKEY], 2, /give the log as --server URL or as --mirror DIR/],
      [['audit', '--sever', DEAD], 2, /Did you mean --server\?/],
      [['audit', '--server', DEAD], 2, /--vkey KEY is required/],
      [['audit', '--server', DEAD, '--vkey', 'garbage'], 2, /--vkey is not a verifier key/],
      [['audit', '--server', DEAD, '--vkey', VKEY, '--threads', '0'], 2, /'--threads <n>' argument '0'/],
      [['audit', '--server', DEAD, '--vkey', VKEY, '--witness', 'garbage'], 2, /--witness garbage is not/],
      [['audit', '--server', DEAD, '--vkey', VKEY, '--quorum', '1'], 2, /--quorum needs --witness/],
      [['audit', '--mirror', '/nonexistent', '--vkey', VKEY], 2, /mirror directory \/nonexistent does not exist/],
      [['audit', '--server', DEAD, '--vkey', VKEY, '--retries', '0'], 2, unreachable],
      [['mirror', '--server', DEAD, '--vkey', VKEY], 2, /missing required argument 'dir'/],
      [['mirror', '--server', DEAD, '--vkey', VKEY, '--retries', '0', join(work, 'm')], 2, unreachable],
      [['monitor', '--server', DEAD], 2, /--vkey KEY is required/],
      // without --once, a malformed key ends the monitor at once rather than at every poll
      [['monitor', '--server', DEAD, '--vkey', 'garbage', '--watch', 'x'], 2, /--vkey is not a verifier key/],
      [['monitor', '--server', DEAD, '--vkey', VKEY, '--interval', '0'], 2, /'--interval <seconds>'/],
      [['monitor', '--server', DEAD, '--vkey', VKEY, '--once', '--retries', '0'], 2, unreachable],
      // witness
      [['witness'], 2, /^Usage: signet witness /],
      [['witness', 'keygen'], 2, /required option '--name <name>' not specified/],
      [['witness', 'keygen', '--name', 'bad name'], 2, /--name bad name/],
      [['witness', 'cosign', '--server', DEAD], 2, /required option '--vkey <key>'/],
      [['witness', 'cosign', '--server', DEAD, '--vkey', 'garbage', '--key', keyFile], 2, /--vkey is not/],
      [['witness', 'cosign', '--server', DEAD, '--vkey', VKEY, '--key', '/nonexistent'], 2, /cannot read the witness/],
      [
        ['witness', 'cosign', '--server', DEAD, '--vkey', VKEY, '--key', keyFile, '--state', state, '--retries', '0'],
        2,
        unreachable,
      ],
    ];
    const wrong: unknown[] = [];
    for (const [args, code, err] of table) {
      const r = signet(args, env);
      if (r.code !== code || !err.test(r.err) || r.signal !== null)
        wrong.push({ args, expected: [code, String(err)], got: [r.code, r.signal, r.err] });
      // A usage error or refusal says so on stderr, once, with no stack trace.
      if (code === 2) expect([args, r.out, r.err]).toEqual([args, '', expect.not.stringMatching(/^\s+at /m)]);
      if (code === 2 && /^signet: (unknown|missing|option|required)/.test(r.err))
        expect(r.err).toMatch(/\n\(see signet [a-z -]*--help\)\n$/);
    }
    expect(wrong).toEqual([]);
  }, 600_000);
});
