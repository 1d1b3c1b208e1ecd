/**
 * waitFor polls on a timer: a check, then nothing until POLL_INTERVAL_MS has passed. Time is faked (setImmediate is
 * not), so the test turns the real event loop freely and moves the clock itself: no sleeping, no timing.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { POLL_INTERVAL_MS, waitFor } from './poll.js';

afterEach(() => {
  vi.useRealTimers();
});

/** Real passes of the event loop: a poll that spun on them would check once per pass. */
async function loopTurns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

it('polls every 10–20 ms', () => {
  expect(POLL_INTERVAL_MS).toBeGreaterThanOrEqual(10);
  expect(POLL_INTERVAL_MS).toBeLessThanOrEqual(20);
});

it('checks again only when the interval has passed, however often the event loop turns', async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  let checks = 0;
  let ready = false;
  const waiting = waitFor(() => {
    checks++;
    return ready && 'ready';
  });
  await loopTurns(50);
  expect(checks).toBe(1);
  await vi.advanceTimersByTimeAsync(POLL_INTERVAL_MS - 1);
  await loopTurns(50);
  expect(checks).toBe(1);
  await vi.advanceTimersByTimeAsync(1);
  expect(checks).toBe(2);
  ready = true;
  await vi.advanceTimersByTimeAsync(POLL_INTERVAL_MS);
  await expect(waiting).resolves.toBe('ready');
  expect(checks).toBe(3);
});

it('fails after the timeout, naming what it waited for', async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  const waiting = waitFor(() => false, 100, 'the moon');
  const failed = expect(waiting).rejects.toThrow('timed out after 100 ms waiting for the moon');
  await vi.advanceTimersByTimeAsync(100 + POLL_INTERVAL_MS);
  await failed;
});
