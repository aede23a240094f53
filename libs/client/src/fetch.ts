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

/** How a client reads a server: retries after a transient failure, and the time allowed per request. */
export interface NetworkOptions {
  /** Retries after a transient failure (no answer, a timeout, HTTP 408, 429 or 5xx); default 3. */
  readonly retries?: number;
  /** Time allowed for each request, in milliseconds; default 30 s. */
  readonly timeoutMs?: number;
  /** The first wait before a retry, doubled each time (with jitter); default 500 ms. */
  readonly backoffMs?: number;
}

/** Why a request got no answer, as a person can act on it: `connect ECONNREFUSED 127.0.0.1:3000`, not `fetch failed`. */
export function fetchFailure(error: unknown, timeoutMs: number): string {
  const e = error as {
    name?: string;
    message?: string;
    cause?: { code?: string; message?: string; errors?: unknown[] };
  };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  const cause = e?.cause;
  if (cause) {
    // Several addresses tried (localhost: ::1 and 127.0.0.1): each one's reason.
    if (Array.isArray(cause.errors) && cause.errors.length > 0)
      return [...new Set(cause.errors.map((c) => (c as Error).message))].join('; ');
    if (cause.message) return cause.message;
    if (cause.code) return cause.code;
  }
  return e?.message ?? String(error);
}

const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * A request with a timeout, retried with exponential backoff after a transient failure. Gives
 * the response of the first non-transient answer (any status: the caller judges it), or throws
 * SOURCE_UNREACHABLE naming the cause of the last failure once the retries are spent.
 */
export async function fetchRetrying(
  url: string,
  what: string,
  network: NetworkOptions = {},
  init: RequestInit = {},
): Promise<Response> {
  const retries = network.retries ?? 3;
  const timeoutMs = network.timeoutMs ?? 30_000;
  const backoffMs = network.backoffMs ?? 500;
  let failure = '';
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
      if (!TRANSIENT_STATUS.has(response.status)) return response;
      await response.body?.cancel();
      failure = `HTTP ${response.status}`;
    } catch (error) {
      failure = fetchFailure(error, timeoutMs);
    }
    if (attempt >= retries) break;
    const wait = Math.min(backoffMs * 2 ** attempt, 30_000);
    await new Promise((resolve) => setTimeout(resolve, wait / 2 + Math.random() * (wait / 2)));
  }
  const tries = retries === 0 ? '' : ` (${retries + 1} tries)`;
  throw new DomainError('SOURCE_UNREACHABLE', `cannot fetch ${what} from ${url}: ${failure}${tries}`);
}

/**
 * GET with a timeout and retries; no answer is SOURCE_UNREACHABLE, a non-2xx answer is
 * FETCH_FAILED naming `what`.
 */
export async function fetchOk(url: string, what: string, network: NetworkOptions = {}): Promise<Response> {
  const response = await fetchRetrying(url, what, network, { headers: { accept: 'application/json' } });
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
export async function fetchConsistencyProof(
  server: string,
  from: number,
  to: number,
  network: NetworkOptions = {},
): Promise<Uint8Array[]> {
  const response = await fetchOk(
    `${server.replace(/\/+$/, '')}/log/proof/consistency?from=${from}&to=${to}`,
    'a consistency proof',
    network,
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

/**
 * Fetches `/trust/snapshot` from a server and accepts it against the previous one. With several
 * servers (mirrors of one log), each is tried in turn until one answers: a server that cannot be
 * reached or answers an HTTP error passes to the next; a snapshot that is refused (rollback,
 * fork, wrong key…) is the answer, since mirrors serve the same log.
 */
export async function fetchSnapshot(
  servers: string | readonly string[],
  previous: string | null,
  verifierKey: string,
  options: VerifyOptions & { network?: NetworkOptions } = {},
): Promise<Accepted & { server: string }> {
  const list = typeof servers === 'string' ? [servers] : servers;
  const failures: string[] = [];
  for (const server of list) {
    const base = server.replace(/\/+$/, '');
    let document: string;
    try {
      document = await (await fetchOk(`${base}/trust/snapshot`, 'the trust snapshot', options.network)).text();
    } catch (error) {
      if (!(error instanceof DomainError) || list.length === 1) throw error;
      failures.push((error as Error).message);
      continue;
    }
    const accepted = await acceptSnapshot(
      document,
      previous,
      verifierKey,
      (from, to) => fetchConsistencyProof(base, from, to, options.network),
      options,
    );
    return { ...accepted, server: base };
  }
  throw new DomainError('SOURCE_UNREACHABLE', `no server answered: ${failures.join('; ')}`);
}
