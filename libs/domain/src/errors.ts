/**
 * Every code a refusal (DomainError) can carry. apps/api/src/errors.ts gives each an HTTP status;
 * a code added here does not compile until it has one.
 */
export type DomainErrorCode =
  // the request cannot be read
  | 'BAD_PARAMETER'
  | 'BAD_RANGE'
  | 'BAD_REQUEST'
  | 'BAD_COMMAND'
  | 'BAD_KEY'
  | 'BAD_SIGNATURE'
  | 'BAD_PACKAGE'
  | 'BAD_MODULE_SIG'
  | 'BAD_CHECKPOINT'
  | 'BAD_CERTIFICATION'
  | 'BAD_REVOCATION'
  | 'BAD_EVENT'
  | 'BAD_ENTRY'
  | 'BAD_POLICY'
  | 'NOT_CANONICAL_JSON'
  // who is asking may not
  | 'NOT_AUTHORIZED_ROLE'
  | 'SELF_AUTHORIZATION'
  | 'UNKNOWN_SIGNER'
  | 'UNKNOWN_WITNESS'
  // nothing there
  | 'NOT_IN_LOG'
  | 'NOT_FOUND'
  | 'NOT_COSIGNED'
  // conflicts with what the log holds
  | 'ID_REUSED'
  | 'DUPLICATE_ID'
  | 'ALREADY_AUTHORIZED'
  | 'ALREADY_ANNOUNCED'
  | 'ALREADY_PUBLISHED'
  | 'MEMBER_EXISTS'
  | 'KEY_EXISTS'
  | 'KEY_IN_USE'
  | 'USERNAME_TAKEN'
  | 'NO_CHANGE'
  | 'LOG_SIZE_CHANGED'
  | 'CHECKPOINT_MISMATCH'
  // too large
  | 'TOO_LARGE'
  | 'EVENT_TOO_LARGE'
  | 'BATCH_TOO_LARGE'
  // well-formed, but the protocol refuses it
  | 'WRONG_ORIGIN'
  | 'STALE_COMMAND'
  | 'WEAK_KEY'
  | 'WEAK_DIGEST'
  | 'SHA1_REFUSED'
  | 'MISSING_USER_ID'
  | 'UNKNOWN_MEMBER'
  | 'UNKNOWN_SIGNING_KEY'
  | 'NOT_AUTHORIZED_BY'
  | 'KEY_NOT_AUTHORIZED'
  | 'KEY_NOT_YET_ACTIVE'
  | 'KEY_NOT_REMOVED'
  | 'KEY_RETIRED'
  | 'KEY_REVOKED'
  | 'FUTURE_SIGNATURE'
  | 'UNSUPPORTED_MODULE_SIG'
  | 'NOT_THIS_LOG'
  | 'BAD_COSIGNATURE'
  | ClientErrorCode;

/**
 * Refusals made only on the reading side — the client library, the CLI, the auditor — about what
 * a server sent or what the user asked; the log itself never raises them.
 */
export type ClientErrorCode =
  | 'FETCH_FAILED'
  | 'BAD_PROOF'
  | 'SNAPSHOT_MALFORMED'
  | 'SNAPSHOT_WRONG_KEY'
  | 'SNAPSHOT_BAD_SIGNATURE'
  | 'SNAPSHOT_BAD_CHECKPOINT'
  | 'SNAPSHOT_EXPIRED'
  | 'SNAPSHOT_FROM_THE_FUTURE'
  | 'SNAPSHOT_ROLLBACK'
  | 'SNAPSHOT_FORK'
  | 'NO_SNAPSHOT'
  | 'USAGE'
  | 'WITNESS_WRONG_LOG'
  | 'WITNESS_STATE'
  | 'CHECKPOINT_ROLLBACK'
  | 'CHECKPOINT_FORK'
  | 'SOURCE_UNREACHABLE'
  | 'SOURCE_ERROR';

/**
 * A refusal: a stable `code` for programs and a sentence a person can act on. The HTTP layer
 * maps codes to statuses; nothing else does.
 */
export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}

/**
 * Failures of what the log stands on, never a judgement of the request. Over HTTP they are 5xx.
 */
export type InfrastructureErrorCode =
  // for now: the same request may succeed later
  | 'DATABASE_UNAVAILABLE'
  | 'LOG_BUSY'
  | 'LOG_CLOSED'
  | 'NOT_INITIALIZED'
  // the log is unsafe to serve until an operator looks (README: Integrity of the log)
  | 'LOG_ROLLED_BACK'
  | 'APPEND_ONLY_DISABLED'
  | 'BAD_CHECKPOINT_FILE'
  | 'CHECKPOINT_FILE_UNWRITABLE'
  | 'LOG_KEY_MISMATCH'
  | 'CORRUPT_LOG'
  // PGlite's data directory is held by another process
  | 'DATA_DIR_LOCKED'
  // the blob store (artifacts, archive snapshots): cannot be reached or refuses us, or holds other
  // bytes under a name than the hash that names them
  | 'BLOB_STORE_UNAVAILABLE'
  | 'BLOB_STORE_CORRUPT';

/**
 * Not a refusal of the request: something the log stands on (its database, its files, its own
 * history) fails. Nothing was decided against the request. When `retryAfterSeconds` is set the
 * same request may succeed after it; whether an append that failed this way was committed is
 * unknown, and sending the same command (same id) again is safe.
 */
export class InfrastructureError extends Error {
  constructor(
    readonly code: InfrastructureErrorCode,
    message: string,
    readonly retryAfterSeconds?: number,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'InfrastructureError';
  }
}
