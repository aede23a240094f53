import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';
import { InfrastructureError } from '@signet/domain';

/** Seconds a client is told to wait before sending a request the database could not take. */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

// What a lost or refused connection looks like, whatever the driver: a socket error, a SQLSTATE
// saying the server is going or gone, or a driver's own message for a connection that ended.

/** Node's socket errors. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);
/** postgres.js (porsager/postgres) codes for a connection that closed, ended or never opened. */
const DRIVER_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);
/**
 * SQLSTATEs (PostgreSQL appendix A) of a server that cannot serve now: admin_shutdown,
 * crash_shutdown, cannot_connect_now, idle_session_timeout, too_many_connections. The whole class
 * 08 (connection exception) is added below.
 */
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '57P05', '53300']);
/** node-postgres (pg, pg-pool) and kysely's messages for the same, which carry no code. */
const MESSAGES = [
  /^Connection terminated/,
  /^Client has encountered a connection error and is not queryable/,
  /^Client was closed and is not queryable/,
  /^timeout exceeded when trying to connect/,
  /^Cannot use a pool after calling end on the pool/,
  /^Postgres connection has been discarded/,
];

/** True when `error` says the database is unreachable (not that it refused the statement). */
export function isConnectionLoss(error: unknown): boolean {
  if (error instanceof InfrastructureError) return error.code === 'DATABASE_UNAVAILABLE';
  if (!(error instanceof Error)) return false;
  const e = error as Error & { code?: unknown; syscall?: unknown; errors?: unknown };
  // Several addresses tried (IPv6 and IPv4 for localhost): each failed.
  if (
    error instanceof AggregateError &&
    Array.isArray(e.errors) &&
    e.errors.length > 0 &&
    e.errors.every(isConnectionLoss)
  )
    return true;
  if (typeof e.code === 'string') {
    if (SOCKET_CODES.has(e.code) || DRIVER_CODES.has(e.code) || SQLSTATES.has(e.code) || /^08[0-9A-Z]{3}$/.test(e.code))
      return true;
    if (e.syscall === 'connect') return true; // e.g. ENOENT: no Unix socket (the server is down)
  }
  return MESSAGES.some((m) => m.test(error.message));
}

/** The one error a lost database becomes: 503 DATABASE_UNAVAILABLE with Retry-After over HTTP. */
export function databaseUnavailable(cause: unknown): InfrastructureError {
  if (cause instanceof InfrastructureError && cause.code === 'DATABASE_UNAVAILABLE') return cause;
  return new InfrastructureError(
    'DATABASE_UNAVAILABLE',
    `the log's database cannot be reached right now, so nothing was decided; send the same request again in ${DATABASE_RETRY_AFTER_SECONDS} seconds (a command with the same id is never applied twice)`,
    DATABASE_RETRY_AFTER_SECONDS,
    cause,
  );
}

async function guard<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw isConnectionLoss(error) ? databaseUnavailable(error) : error;
  }
}

/** A connection whose failures from a lost database come out as DATABASE_UNAVAILABLE. */
class GuardedConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return guard(() => this.inner.executeQuery<R>(query));
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(query, chunkSize);
    } catch (error) {
      throw isConnectionLoss(error) ? databaseUnavailable(error) : error;
    }
  }
}

/**
 * Kysely's driver with every way of reaching the database (connecting, each query, each
 * transaction statement) guarded: the rest of the code sees one error for a lost database. The
 * wrapped driver is handed its own connections back, as it expects.
 */
class GuardedDriver implements Driver {
  private readonly guarded = new WeakMap<DatabaseConnection, GuardedConnection>();

  constructor(private readonly driver: Driver) {}

  init(): Promise<void> {
    return guard(() => this.driver.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await guard(() => this.driver.acquireConnection());
    let outer = this.guarded.get(inner);
    if (!outer) this.guarded.set(inner, (outer = new GuardedConnection(inner)));
    return outer;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return guard(() => this.driver.beginTransaction(innerOf(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return guard(() => this.driver.commitTransaction(innerOf(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return guard(() => this.driver.rollbackTransaction(innerOf(connection)));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.driver.releaseConnection(innerOf(connection));
  }

  destroy(): Promise<void> {
    return this.driver.destroy();
  }
}

function innerOf(connection: DatabaseConnection): DatabaseConnection {
  return connection instanceof GuardedConnection ? connection.inner : connection;
}

/** `dialect`, its driver guarded (see GuardedDriver). */
export function guardDialect(dialect: Dialect): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new GuardedDriver(dialect.createDriver()),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}
