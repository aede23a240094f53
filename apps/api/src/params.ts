import { DomainError } from '@signet/domain';

/** Parses an attacker-supplied decimal count: digits only, within the safe integer range. */
export function parseCount(name: string, raw: unknown, fallback?: number): number {
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new DomainError('BAD_PARAMETER', `the query parameter "${name}" is required`);
  }
  if (typeof raw !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new DomainError('BAD_PARAMETER', `"${name}" must be a non-negative decimal integer`);
  }
  return Number(raw);
}
