import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './workers.js';

// A real S3-compatible server for the tests: Ceph's RADOS Gateway (Debian's `radosgw`, with
// `ceph-mon` and `ceph-osd`), the S3 API of a one-node Ceph cluster the test starts in a temp
// directory — a monitor, one OSD keeping its objects in memory (memstore), and the gateway on a
// free port of 127.0.0.1. It honours `If-None-Match: *` on PUT (412 PreconditionFailed), which
// the blob store's conditional put rests on; s3rver (npm) ignores that header. `.ci/run` installs
// the packages; about a second to start.

const PACKAGES = 'ceph-mon ceph-osd radosgw';
const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'];

/**
 * Runs a daemon in the foreground under a shell that ends it when its standard input closes: on
 * `stop()`, and also when the test process dies without stopping it (the pipe closes), so no
 * Ceph daemon outlives its test.
 */
const LEASH = '"$@" & pid=$!\ncat >/dev/null\nkill "$pid" 2>/dev/null\nwait "$pid"';

class Daemon {
  private readonly exited: Promise<number | null>;
  private stderr = '';

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    /** Where the daemon writes its pid (ceph.conf's `pid file`): to kill it if it will not stop. */
    private readonly pidFile: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4000)));
  }

  static start(name: string, pidFile: string, command: string, args: string[]): Daemon {
    const child = spawn('sh', ['-c', LEASH, name, command, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
    return new Daemon(name, child, pidFile);
  }

  get output(): string {
    return this.stderr;
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000).unref());
    if ((await Promise.race([this.exited, timeout])) === 'timeout') {
      // The shell waits for the daemon: end the daemon itself, by the pid it wrote.
      const pid = existsSync(this.pidFile) ? Number(readFileSync(this.pidFile, 'utf8').trim()) : 0;
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      await this.exited;
    }
  }
}

export class TestS3Server {
  readonly region = 'us-east-1';
  readonly accessKeyId = 'SIGNETTESTKEY';
  readonly secretAccessKey = `signet-test-${randomBytes(8).toString('hex')}`;
  private mon: Daemon | null = null;
  private osd: Daemon | null = null;
  private gateway: Daemon | null = null;

  private constructor(
    readonly dir: string,
    private readonly monPort: number,
    private readonly port: number,
  ) {}

  /** A new cluster and gateway with one user (the test's credentials); no bucket yet. */
  static async start(): Promise<TestS3Server> {
    const absent = BINARIES.filter((b) => !['/usr/bin', '/usr/sbin'].some((d) => existsSync(join(d, b))));
    if (absent.length > 0)
      throw new Error(`the S3 tests need Ceph's gateway: apt-get install ${PACKAGES} (missing: ${absent.join(', ')})`);
    const server = new TestS3Server(mkdtempSync(join(tmpdir(), 'signet-s3-')), await freePort(), await freePort());
    try {
      await server.boot();
    } catch (error) {
      const logs = server.logs();
      await server.stop();
      throw new Error(`the test S3 server did not start: ${(error as Error).message}\n${logs}`);
    }
    return server;
  }

  /** The S3 endpoint (path-style addressing). */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What a Signet process needs to reach it through the AWS SDK's usual variables. */
  env(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_S3: this.endpoint,
      AWS_REGION: this.region,
      AWS_ACCESS_KEY_ID: this.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.secretAccessKey,
    };
  }

  /** A client of the server outside Signet (to look at, or tamper with, what Signet stored). */
  client(): S3Client {
    return new S3Client({
      endpoint: this.endpoint,
      forcePathStyle: true,
      region: this.region,
      credentials: { accessKeyId: this.accessKeyId, secretAccessKey: this.secretAccessKey },
    });
  }

  /** A new bucket with a unique name. */
  async createBucket(): Promise<string> {
    const bucket = `signet-${randomBytes(6).toString('hex')}`;
    const client = this.client();
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      client.destroy();
    }
    return bucket;
  }

  /** Stops the gateway: the S3 endpoint refuses connections; the objects stay in the cluster. */
  async stopGateway(): Promise<void> {
    await this.gateway?.stop();
    this.gateway = null;
  }

  /** Starts the gateway again on the same port, and waits until it answers. */
  async startGateway(): Promise<void> {
    this.gateway = Daemon.start('radosgw', this.pidFile('client.rgw'), 'radosgw', [
      '-f',
      ...this.conf,
      '-n',
      'client.rgw',
    ]);
    await this.untilAnswering();
  }

  async stop(): Promise<void> {
    for (const daemon of [this.gateway, this.osd, this.mon]) await daemon?.stop();
    this.gateway = this.osd = this.mon = null;
    rmSync(this.dir, { recursive: true, force: true });
  }

  private pidFile(name: string): string {
    return join(this.dir, 'run', `${name}.pid`);
  }

  private get conf(): string[] {
    return ['-c', join(this.dir, 'ceph.conf')];
  }

  private async boot(): Promise<void> {
    const d = this.dir;
    for (const sub of ['mon', 'osd', 'run', 'log', 'rgw']) mkdirSync(join(d, sub));
    const fsid = randomUUID();
    // No cephx (auth none) and plain-CRC sessions: a cluster of one machine's test, on loopback only.
    writeFileSync(
      join(d, 'ceph.conf'),
      [
        '[global]',
        `fsid = ${fsid}`,
        `mon host = v2:127.0.0.1:${this.monPort}`,
        'public addr = 127.0.0.1',
        'cluster addr = 127.0.0.1',
        'ms bind msgr1 = false',
        'ms mon client mode = crc',
        'auth cluster required = none',
        'auth service required = none',
        'auth client required = none',
        'auth allow insecure global id reclaim = true',
        'osd pool default size = 1',
        'osd pool default min size = 1',
        'osd crush chooseleaf type = 0',
        'mon allow pool size one = true',
        'mon warn on pool no redundancy = false',
        'osd objectstore = memstore',
        'memstore device bytes = 2147483648',
        `run dir = ${d}/run`,
        `log file = ${d}/log/$name.log`,
        `admin socket = ${d}/run/$name.asok`,
        `pid file = ${d}/run/$name.pid`,
        '[mon]',
        `mon data = ${d}/mon`,
        // The monitor commits each change (the gateway's pools at its first start, a bucket) at
        // once rather than gathering changes for a second (1.0 by default): about a second to
        // start instead of about 11, and a bucket made in a tenth of a second instead of 2.5.
        'paxos propose interval = 0.01',
        'mon data avail warn = 1',
        'mon data avail crit = 0',
        '[osd]',
        `osd data = ${d}/osd`,
        '[client.rgw]',
        `rgw frontends = beast endpoint=127.0.0.1:${this.port}`,
        `rgw data = ${d}/rgw`,
        '',
      ].join('\n'),
    );
    await run('monmaptool', [
      '--create',
      '--addv',
      'a',
      `[v2:127.0.0.1:${this.monPort}]`,
      '--fsid',
      fsid,
      join(d, 'monmap'),
    ]);
    await run('ceph-mon', [...this.conf, '--id', 'a', '--mkfs', '--monmap', join(d, 'monmap')]);
    this.mon = Daemon.start('ceph-mon', this.pidFile('mon.a'), 'ceph-mon', ['-f', ...this.conf, '--id', 'a']);
    const id = (await run('ceph', [...this.conf, '--connect-timeout', '30', 'osd', 'create'])).trim();
    await run('ceph-osd', [...this.conf, '--id', id, '--mkfs']);
    this.osd = Daemon.start('ceph-osd', this.pidFile(`osd.${id}`), 'ceph-osd', ['-f', ...this.conf, '--id', id]);
    await this.startGateway();
    await run('radosgw-admin', [
      ...this.conf,
      'user',
      'create',
      '--uid=signet-test',
      '--display-name=Signet tests',
      `--access-key=${this.accessKeyId}`,
      `--secret=${this.secretAccessKey}`,
    ]);
  }

  /** Until the gateway answers HTTP (it first creates its pools, which takes a few seconds). */
  private async untilAnswering(timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const res = await fetch(`${this.endpoint}/`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`radosgw did not answer on ${this.endpoint} in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** The daemons' last words, for a start that failed. */
  private logs(): string {
    const lines: string[] = [];
    for (const daemon of [this.mon, this.osd, this.gateway])
      if (daemon?.output) lines.push(`${daemon.name}: ${daemon.output}`);
    for (const name of ['mon.a', 'osd.0', 'client.rgw']) {
      const file = join(this.dir, 'log', `${name}.log`);
      if (existsSync(file)) lines.push(`--- ${name}.log\n${readFileSync(file, 'utf8').slice(-3000)}`);
    }
    return lines.join('\n');
  }
}

async function run(command: string, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(command, args, { timeout: 60_000 });
  return stdout;
}
