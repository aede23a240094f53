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
