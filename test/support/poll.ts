/**
 * Waiting for state in tests. Checks run every POLL_INTERVAL_MS on a timer: a setImmediate spin would keep a core busy
 * for the whole wait, a core the engine under test needs.
 */
export const POLL_INTERVAL_MS = 10;

/** Polls `check` until it returns a truthy value (which it resolves to), or fails after `timeoutMs` naming `what`. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
