/**
 * Retries of idempotent calls on UNAVAILABLE. grpc-js's own retry policy cannot do this job: it commits a call as
 * soon as response headers arrive, and the server sends its x-instance header before it knows it must answer
 * UNAVAILABLE (model still loading, draining) — so those answers would never be retried. A small loop instead:
 * exponential backoff with ±20% jitter, bounded by the attempts, the call's deadline and its AbortSignal.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { cancelled, Code, toModelError } from './errors.js';
import type { RetryPolicy } from './options.js';

export async function withRetry<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  bounds: { readonly deadline?: Date; readonly signal?: AbortSignal },
): Promise<T> {
  let backoffMs = policy.initialBackoffMs;
  for (let attempts = 1; ; attempts++) {
    try {
      return await attempt();
    } catch (error) {
      const failure = toModelError(error);
      if (failure.code !== Code.UNAVAILABLE || attempts >= policy.maxAttempts) throw failure;
      const waitMs = Math.min(backoffMs, policy.maxBackoffMs) * (0.8 + Math.random() * 0.4);
      // No time left for another attempt: the real cause (UNAVAILABLE) says more than a deadline would.
      if (bounds.deadline && Date.now() + waitMs >= bounds.deadline.getTime()) throw failure;
      try {
        await delay(waitMs, undefined, { signal: bounds.signal });
      } catch {
        throw cancelled(bounds.signal?.reason);
      }
      backoffMs *= 2;
    }
  }
}
