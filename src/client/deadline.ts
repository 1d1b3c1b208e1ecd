/** A call's deadline as the absolute time grpc-js wants: fixed once, so retries share the caller's time budget. */
import type { Deadline } from './types.js';

export function absoluteDeadline(deadline: Deadline | undefined, defaultMs?: number): Date | undefined {
  if (deadline instanceof Date) return deadline;
  const ms = deadline ?? defaultMs;
  return ms === undefined ? undefined : new Date(Date.now() + ms);
}
