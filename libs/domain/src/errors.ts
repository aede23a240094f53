/**
 * A refusal: a stable `code` for programs and a sentence a person can act on. The HTTP layer
 * maps codes to statuses; nothing else does.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
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
 * Not a refusal of the request: something the log stands on (its database) is unreachable for
 * now. Nothing was decided against the request; the same request may succeed after
 * `retryAfterSeconds`. Whether an append that failed this way was committed is unknown: sending
 * the same command (same id) again is safe.
 */
export class InfrastructureError extends DomainError {
  constructor(
    code: string,
    message: string,
    readonly retryAfterSeconds: number,
    override readonly cause?: unknown,
  ) {
    super(code, message);
    this.name = 'InfrastructureError';
  }
}
