import { DomainError } from './errors.js';

// RFC 8785 JSON Canonicalization Scheme. Numbers use ECMAScript's Number-to-string (which JCS
// adopts verbatim), strings JSON.stringify's escaping (which matches JCS §3.2.2.2), object keys
// sorted by UTF-16 code units (JCS §3.2.3, which is what Array.prototype.sort compares).

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function canonicalize(value: unknown): string {
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new DomainError('NOT_CANONICAL_JSON', 'JSON numbers must be finite');
      return JSON.stringify(value);
    case 'string':
      if (!value.isWellFormed())
        throw new DomainError('NOT_CANONICAL_JSON', 'JSON strings must be valid Unicode (no lone surrogates)');
      return JSON.stringify(value);
    case 'object': {
      // Built by appending to one string (V8 joins such strings lazily), not with arrays and joins.
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalize(value[i]);
        return `${out}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null)
        throw new DomainError('NOT_CANONICAL_JSON', 'only plain objects can be canonicalized');
      const keys = sortKeys(Object.keys(value));
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const v = (value as Record<string, unknown>)[key];
        if (v === undefined) throw new DomainError('NOT_CANONICAL_JSON', `property "${key}" is undefined`);
        if (!key.isWellFormed()) throw new DomainError('NOT_CANONICAL_JSON', 'JSON keys must be valid Unicode');
        out += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${canonicalize(v)}`;
      }
      return `${out}}`;
    }
    default:
      throw new DomainError('NOT_CANONICAL_JSON', `a ${typeof value} is not JSON`);
  }
}

/**
 * `keys` in UTF-16 code unit order, in place. An object of a few keys (every object an event
 * holds) is sorted by insertion, which allocates nothing: Array.prototype.sort allocates a work
 * array per call, and canonicalization sorts a few objects per appended event.
 */
function sortKeys(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > key; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = key;
  }
  return keys;
}

const encoder = new TextEncoder();

export function canonicalBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalize(value));
}
