import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './workers.js';

const BIN = process.env.SIGNET_TEST_PG_BIN || '/usr/lib/postgresql/15/bin';

/**
 * A Postgres cluster of the test's own (initdb in a temp directory, a free port), that a test may
 * stop, restart and start again without touching the machine's shared server. Postgres refuses to
 * run as root, so as root its commands run as the `postgres` user. Each command runs without
 * blocking, so the test's own clients keep sending while the server goes down and comes back.
 */
export class PrivatePostgres {
  private running = false;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async create(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'signet-pg-'));
    if (process.getuid?.() === 0) {
      const [uid, gid] = ['-u', '-g'].map((flag) =>
        Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim()),
      );
      chownSync(dir, uid!, gid!);
    }
    const cluster = new PrivatePostgres(dir, await freePort());
    // --no-sync and fsync=off: a test's cluster need not survive a power cut, and both save seconds.
    await cluster.run('initdb', [
      '-D',
      cluster.data,
      '-U',
      'postgres',
      '-A',
      'trust',
      '--no-sync',
      '-E',
      'UTF8',
      '--locale',
      'C',
    ]);
    await cluster.start();
    return cluster;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private get data(): string {
    return join(this.dir, 'data');
  }

  private get options(): string {
    return `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.dir} -c fsync=off`;
  }

  async start(): Promise<void> {
    await this.run('pg_ctl', [
      'start',
      '-w',
      '-t',
      '60',
      '-D',
      this.data,
      '-l',
      join(this.dir, 'log'),
      '-o',
      this.options,
    ]);
    this.running = true;
  }

  /** A fast shutdown: sessions are ended (57P01), what was committed stays. */
  async stop(): Promise<void> {
    await this.run('pg_ctl', ['stop', '-w', '-t', '60', '-m', 'fast', '-D', this.data]);
    this.running = false;
  }

  /** `pg_ctl restart` (fast): the server stops and starts again with the same options. */
  async restart(): Promise<void> {
    // -l again: without it the new server would write to (and hold open) pg_ctl's stdout.
    await this.run('pg_ctl', [
      'restart',
      '-w',
      '-t',
      '60',
      '-m',
      'fast',
      '-D',
      this.data,
      '-l',
      join(this.dir, 'log'),
      '-o',
      this.options,
    ]);
    this.running = true;
  }

  async remove(): Promise<void> {
    if (this.running) {
      try {
        await this.run('pg_ctl', ['stop', '-w', '-m', 'immediate', '-D', this.data]);
      } catch {
        // already down
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async run(command: string, args: string[]): Promise<void> {
    const path = join(BIN, command);
    const [file, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
    await promisify(execFile)(file, argv, { cwd: this.dir });
  }
}
