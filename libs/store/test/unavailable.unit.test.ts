import { describe, expect, it } from 'vitest';
import { InfrastructureError } from '@signet/domain';
import { databaseUnavailable, isConnectionLoss } from '@signet/store';

// Which driver errors mean "the database is away" (and become DATABASE_UNAVAILABLE) and which
// are the database's answer to the statement (and stay what they are).

const coded = (code: string, message = 'x', extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { code, ...extra });

describe('isConnectionLoss', () => {
  it.each([
    ['a refused connection', coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432', { syscall: 'connect' })],
    ['a reset connection', coded('ECONNRESET', 'read ECONNRESET')],
    ['a broken pipe', coded('EPIPE', 'write EPIPE')],
    ['no Unix socket', coded('ENOENT', 'connect ENOENT /run/postgresql/.s.PGSQL.5432', { syscall: 'connect' })],
    ['every address refused', new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')], 'connect failed')],
    [
      'admin_shutdown (pg_terminate_backend, a fast shutdown)',
      coded('57P01', 'terminating connection due to administrator command'),
    ],
    ['crash_shutdown', coded('57P02')],
    ['cannot_connect_now (starting up, shutting down)', coded('57P03', 'the database system is starting up')],
    ['too_many_connections', coded('53300', 'sorry, too many clients already')],
    ['connection_failure (class 08)', coded('08006')],
    ['protocol violation (class 08)', coded('08P01')],
    ['postgres.js CONNECTION_CLOSED', coded('CONNECTION_CLOSED', 'write CONNECTION_CLOSED 127.0.0.1:5432')],
    ['postgres.js CONNECTION_ENDED', coded('CONNECTION_ENDED')],
    ['postgres.js CONNECTION_DESTROYED', coded('CONNECTION_DESTROYED')],
    ['pg: connection terminated unexpectedly', new Error('Connection terminated unexpectedly')],
    ['pg: a client that is not queryable', new Error('Client has encountered a connection error and is not queryable')],
    ['pg-pool: connect timeout', new Error('timeout exceeded when trying to connect')],
    ['already translated', databaseUnavailable(new Error('Connection terminated'))],
  ])('%s is a lost database', (_what, error) => {
    expect(isConnectionLoss(error)).toBe(true);
  });

  it.each([
    ['a unique violation', coded('23505', 'duplicate key value violates unique constraint')],
    ['an undefined table', coded('42P01', 'relation "x" does not exist')],
    ['the append-only trigger', coded('P0001', 'events is append-only')],
    ['a serialization failure', coded('40001')],
    ['a bad password', coded('28P01', 'password authentication failed')],
    ['no such database', coded('3D000', 'database "x" does not exist')],
    ['a file not found elsewhere', coded('ENOENT', "ENOENT: no such file or directory, open 'x'", { syscall: 'open' })],
    ['a plain bug', new TypeError("Cannot read properties of null (reading 'write')")],
    ['one address refused, another error', new AggregateError([coded('ECONNREFUSED'), new Error('bug')])],
    ['not an error', 'Connection terminated'],
    ['another failure of the log (LOG_BUSY)', new InfrastructureError('LOG_BUSY', 'busy')],
    ['a rolled-back log', new InfrastructureError('LOG_ROLLED_BACK', 'smaller')],
  ])('%s is not', (_what, error) => {
    expect(isConnectionLoss(error)).toBe(false);
  });

  it('becomes one InfrastructureError with a Retry-After, keeping the driver error as its cause', () => {
    const cause = coded('57P01');
    const error = databaseUnavailable(cause);
    expect(error).toBeInstanceOf(InfrastructureError);
    expect(error).toMatchObject({ code: 'DATABASE_UNAVAILABLE', retryAfterSeconds: 2, cause });
    expect(databaseUnavailable(error)).toBe(error);
  });
});
