// The store's one error that callers branch on: the database cannot be reached (stopped, restarting,
// the network cut). The admin API answers it 503 naming the database, not 500 with the driver's
// internals; the hub logs it and keeps agents connected.
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  constructor(cause: unknown) {
    super('the gateway database is unreachable', { cause });
  }
}

// Errors that mean the connection, not the statement, failed: node's socket errors, libpq's
// connection-exception class (08) and operator intervention (57P: the server shutting down, crash
// recovery), and pg's own messages for a connection that ended or could not be made in time.
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const LOST_MESSAGES = [/Connection terminated/i, /timeout exceeded when trying to connect/i, /Client has encountered a connection error/i, /the database system is (starting up|shutting down|in recovery mode)/i];

/** `err` as a StoreUnavailableError when the database could not be reached; otherwise `err` itself. */
export function classifyStoreError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : '';
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || code.startsWith('08') || code.startsWith('57P'))) return new StoreUnavailableError(err);
  if (LOST_MESSAGES.some((re) => re.test(message))) return new StoreUnavailableError(err);
  return err;
}
