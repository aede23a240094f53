import { DomainError } from '@signet/domain/core';
import { hashFromBase64, hashesEqual, verifyConsistency } from '@signet/tlog';
import { type TrustedSnapshot, type VerifyOptions, verifySnapshot } from './snapshot.js';

// Fetching a fresh snapshot without being rolled back or forked: a new snapshot is accepted only
// if it verifies with the pinned key, is not expired, is not older than the last one accepted,
// and its checkpoint extends the last one's (a consistency proof from the server, checked here
// against the two roots this client already trusts).

export interface Accepted {
  readonly document: string;
  readonly trusted: TrustedSnapshot;
}

/** GET with a timeout; a network failure or a non-2xx answer is FETCH_FAILED naming `what`. */
export async function fetchOk(url: string, what: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(30_000), headers: { accept: 'application/json' } });
  } catch (error) {
    throw new DomainError('FETCH_FAILED', `cannot fetch ${what} from ${url}: ${(error as Error).message}`);
  }
  if (!response.ok) throw new DomainError('FETCH_FAILED', `${url} answered HTTP ${response.status} for ${what}`);
  return response;
}

/**
 * Decides whether `next` may replace `previous` (both served documents). Refusals:
 * SNAPSHOT_ROLLBACK (an older version, or the same version issued earlier), SNAPSHOT_FORK (the
 * same size with another root, or no valid consistency proof to the new checkpoint), and every
 * refusal of `verifySnapshot`.
 */
export async function acceptSnapshot(
  next: string,
  previous: string | null,
  verifierKey: string,
  consistency: (from: number, to: number) => Promise<readonly Uint8Array[]>,
  options: VerifyOptions = {},
): Promise<Accepted> {
  const { trusted } = verifySnapshot(next, verifierKey, options);
  if (previous === null) return { document: next, trusted };
  const last = verifySnapshot(previous, verifierKey, { ...options, allowExpired: true }).trusted;
  const [a, b] = [last.snapshot, trusted.snapshot];
  if (b.version < a.version)
    throw new DomainError(
      'SNAPSHOT_ROLLBACK',
      `the server offers version ${b.version}; this client has already accepted version ${a.version}`,
    );
  if (b.version === a.version) {
    if (!hashesEqual(last.root, trusted.root)) {
      throw new DomainError(
        'SNAPSHOT_FORK',
        `two checkpoints of size ${b.version} with different roots: the log forked its history (keep both snapshots as evidence)`,
      );
    }
    if (Date.parse(b.issuedAt) < Date.parse(a.issuedAt))
      throw new DomainError(
        'SNAPSHOT_ROLLBACK',
        `the server offers a snapshot issued at ${b.issuedAt}, before the one accepted (${a.issuedAt})`,
      );
    return { document: next, trusted };
  }
  let proof: readonly Uint8Array[];
  try {
    proof = await consistency(a.version, b.version);
    verifyConsistency(a.version, b.version, last.root, trusted.root, proof);
  } catch (error) {
    if (error instanceof DomainError && error.code === 'FETCH_FAILED') throw error;
    throw new DomainError(
      'SNAPSHOT_FORK',
      `the checkpoint of size ${b.version} is not consistent with the accepted one of size ${a.version}: ${(error as Error).message}`,
    );
  }
  return { document: next, trusted };
}

/**
 * A consistency proof from a Signet server (`/log/proof/consistency`), as hashes. FETCH_FAILED
 * when it cannot be had; BAD_PROOF when the answer is not a proof (verifying it is the caller's).
 */
export async function fetchConsistencyProof(server: string, from: number, to: number): Promise<Uint8Array[]> {
  const response = await fetchOk(
    `${server.replace(/\/+$/, '')}/log/proof/consistency?from=${from}&to=${to}`,
    'a consistency proof',
  );
  let body: { proof?: unknown };
  try {
    body = (await response.json()) as { proof?: unknown };
  } catch {
    throw new DomainError('BAD_PROOF', 'the server sent no consistency proof (not JSON)');
  }
  if (!Array.isArray(body?.proof) || !body.proof.every((h) => typeof h === 'string'))
    throw new DomainError('BAD_PROOF', 'the server sent no consistency proof');
  return body.proof.map((h) => hashFromBase64(h as string));
}

/** Fetches `/trust/snapshot` from a server and accepts it against the previous one. */
export async function fetchSnapshot(
  server: string,
  previous: string | null,
  verifierKey: string,
  options: VerifyOptions = {},
): Promise<Accepted> {
  const base = server.replace(/\/+$/, '');
  const document = await (await fetchOk(`${base}/trust/snapshot`, 'the trust snapshot')).text();
  return acceptSnapshot(document, previous, verifierKey, (from, to) => fetchConsistencyProof(base, from, to), options);
}
