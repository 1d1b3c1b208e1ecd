/** A call's one signal: which of its sources ended it, told apart by the reason, and nothing left behind at its end. */
import { describe, expect, it } from 'vitest';
import {
  CANCELLED_MESSAGE,
  SHUTDOWN_MESSAGE,
  callSignal,
  stoppedByShutdown,
} from '../../../src/server/core/call-signal.js';
import { Code, ServiceError } from '../../../src/server/errors.js';

const aborted = (signal: AbortSignal) =>
  new Promise<unknown>((resolve) => signal.addEventListener('abort', () => resolve(signal.reason)));

describe('callSignal', () => {
  it('a cancellation well before the deadline is CANCELLED', () => {
    const cancelled = new AbortController();
    const { signal } = callSignal({ cancelled: cancelled.signal, deadline: Date.now() + 60_000 });
    cancelled.abort();
    expect(signal.reason).toMatchObject({ code: Code.CANCELLED, message: CANCELLED_MESSAGE });
    expect(stoppedByShutdown(signal)).toBe(false);
  });

  it("a cancellation at the deadline (a transport's own deadline timer, firing first) is DEADLINE_EXCEEDED", () => {
    const cancelled = new AbortController();
    const { signal } = callSignal({ cancelled: cancelled.signal, deadline: Date.now() + 5 });
    cancelled.abort();
    expect(signal.reason).toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
      message: expect.stringMatching(/^deadline exceeded/),
    });
  });

  it('the deadline passing is DEADLINE_EXCEEDED; one already past aborts at once', async () => {
    expect(await aborted(callSignal({ deadline: Date.now() + 20 }).signal)).toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
    });
    expect(callSignal({ deadline: Date.now() - 1 }).signal.reason).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
  });

  it("the server's shutdown is UNAVAILABLE", () => {
    const shutdown = new AbortController();
    const { signal } = callSignal({ shutdown: shutdown.signal, deadline: Date.now() + 60_000 });
    shutdown.abort();
    expect(signal.reason).toMatchObject({ code: Code.UNAVAILABLE, message: SHUTDOWN_MESSAGE });
    expect(stoppedByShutdown(signal)).toBe(true);
  });

  it('a signal made from another keeps its reason, and abort() ends it with the one given', () => {
    const outer = new AbortController();
    const inner = callSignal({ cancelled: outer.signal });
    outer.abort(new ServiceError(Code.UNAVAILABLE, 'drained'));
    expect(inner.signal.reason).toMatchObject({ code: Code.UNAVAILABLE, message: 'drained' });
    const early = callSignal({});
    early.abort(new ServiceError(Code.INVALID_ARGUMENT, 'element 2 is not an image'));
    expect(early.signal.reason).toMatchObject({ code: Code.INVALID_ARGUMENT });
  });

  it('after end(), neither its sources nor its deadline abort it', async () => {
    const cancelled = new AbortController();
    const shutdown = new AbortController();
    const call = callSignal({ cancelled: cancelled.signal, shutdown: shutdown.signal, deadline: Date.now() + 10 });
    call.end();
    cancelled.abort();
    shutdown.abort();
    // A later call's deadline, to wait past this one's.
    await aborted(callSignal({ deadline: Date.now() + 30 }).signal);
    expect(call.signal.aborted).toBe(false);
  });
});
