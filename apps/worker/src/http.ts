import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the worker's readiness depends on: each check's problem, or null when it is fine. */
export interface ReadinessChecks {
  readonly database: () => Promise<string | null>;
  readonly queue: () => Promise<string | null>;
}

export interface WorkerHttpOptions {
  readonly port: number;
  readonly host: string;
  /** Null until the worker has started (its log open and its workers running). */
  readonly checks: () => ReadinessChecks | null;
  /** The Prometheus text and its content type. */
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
  readonly onError?: (error: unknown) => void;
  /** Told of every answered request (the worker logs them at debug: probes and scrapes are frequent). */
  readonly onAnswer?: (method: string, url: string, status: number, ms: number) => void;
}

export interface WorkerHttp {
  /** A URL to reach it from this machine. */
  readonly url: string;
  close(): Promise<void>;
}

/** A check's problem, never waiting more than `ms` (a database that does not answer is not ready). */
async function problemOf(check: () => Promise<string | null>, ms: number): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${ms / 1000} s`), ms);
  });
  try {
    return await Promise.race([check(), timeout]);
  } catch (error) {
    return (error as Error).message;
  } finally {
    clearTimeout(timer);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));

/**
 * The worker's own small HTTP server (node:http, no framework): `/healthz` (the process runs),
 * `/readyz` (its database answers and its queue is connected; 503 with what is not, otherwise)
 * and `/metrics` (its Prometheus registry). Nothing else, and only GET and HEAD.
 */
export async function startWorkerHttp(options: WorkerHttpOptions): Promise<WorkerHttp> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return json(res, 405, { code: 'METHOD_NOT_ALLOWED', message: 'only GET and HEAD' });
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/healthz':
        return json(res, 200, { status: 'ok' });
      case '/readyz': {
        const checks = options.checks();
        if (!checks) return json(res, 503, { status: 'starting' });
        const [database, queue] = await Promise.all([problemOf(checks.database, 3000), problemOf(checks.queue, 3000)]);
        const state = (problem: string | null) => (problem === null ? { ok: true } : { ok: false, error: problem });
        const ready = database === null && queue === null;
        return json(res, ready ? 200 : 503, {
          status: ready ? 'ok' : 'not ready',
          database: state(database),
          queue: state(queue),
        });
      }
      case '/metrics': {
        const { contentType, body } = await options.metrics();
        return send(res, 200, contentType, body);
      }
      default:
        return json(res, 404, { code: 'NOT_FOUND', message: 'this port serves /healthz, /readyz and /metrics' });
    }
  };
  const server: Server = createServer((req, res) => {
    const started = performance.now();
    res.once('finish', () =>
      options.onAnswer?.(req.method ?? '', req.url ?? '', res.statusCode, performance.now() - started),
    );
    handle(req, res).catch((error: unknown) => {
      options.onError?.(error);
      if (!res.headersSent) json(res, 500, { code: 'INTERNAL', message: 'internal error; it has been logged' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        error.message = `SIGNET_WORKER_PORT ${options.port} is in use on ${options.host}: give each worker on a host its own port (0: any free port; off: none)`;
      reject(error);
    });
    server.listen(options.port, options.host, () => {
      server.removeAllListeners('error');
      server.on('error', (error) => options.onError?.(error));
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host =
    address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
