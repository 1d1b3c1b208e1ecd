/** What a client is configured with, and the defaults. */

export interface TlsOptions {
  /** CA bundle (PEM) to verify the server with: the contents, or a file path. Default: the system's roots. */
  readonly ca?: Buffer | string;
  /** Client certificate chain (PEM) for mutual TLS: contents or path. */
  readonly cert?: Buffer | string;
  /** Private key (PEM) of `cert`: contents or path. */
  readonly key?: Buffer | string;
  /** Name to verify the server's certificate against, when it differs from the address (e.g. an IP address). */
  readonly serverName?: string;
}

export interface RetryOptions {
  /** Attempts in all, the first included (default 3). */
  readonly maxAttempts?: number;
  /** Wait before the second attempt (default 100 ms); doubles per attempt, ±20% jitter. */
  readonly initialBackoffMs?: number;
  /** Longest wait between attempts (default 2000 ms). */
  readonly maxBackoffMs?: number;
}

export interface ModelClientOptions {
  /** TLS (and mutual TLS). Omitted: plaintext. `true`: TLS with the system's roots. */
  readonly tls?: TlsOptions | true;
  /** Bearer token, sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string;
  /** Default deadline of unary calls (GetMetadata, Predict, health), ms from the call's start. Default: none. */
  readonly deadlineMs?: number;
  /** HTTP/2 keepalive pings, to notice dead connections behind idle load balancers. */
  readonly keepalive?: { readonly timeMs: number; readonly timeoutMs: number };
  /**
   * Retries of the idempotent calls (GetMetadata, Predict, health) on UNAVAILABLE — server unreachable, starting,
   * draining — with exponential backoff; with several replicas the retry goes to the next one. Never for streams.
   * `false`: no retries.
   */
  readonly retry?: RetryOptions | false;
  /** Calls wait for a connection (within their deadline) instead of failing at once when no server is reachable. */
  readonly waitForReady?: boolean;
  /** Largest message sent or received, bytes (default 16 MiB, as the server's default). */
  readonly maxMessageBytes?: number;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_IN_FLIGHT = 4;

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

export function retryPolicy(retry: RetryOptions | false | undefined): RetryPolicy {
  if (retry === false) return { maxAttempts: 1, initialBackoffMs: 0, maxBackoffMs: 0 };
  return {
    maxAttempts: Math.max(1, Math.floor(retry?.maxAttempts ?? 3)),
    initialBackoffMs: Math.max(0, retry?.initialBackoffMs ?? 100),
    maxBackoffMs: Math.max(0, retry?.maxBackoffMs ?? 2000),
  };
}
