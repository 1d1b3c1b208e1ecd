/**
 * A call's one AbortSignal, made at the transport edge: it links the caller's cancellation, the call's deadline and,
 * for long-lived calls, the server's shutdown. Everything below (service, scheduler, frame stream) reads only this
 * signal; its reason, a ServiceError, tells them apart: CANCELLED, DEADLINE_EXCEEDED or UNAVAILABLE.
 */
import { Code, ServiceError } from '../errors.js';

export interface CallSignalSources {
  /** The caller went away. A ServiceError reason is passed on (a call signal made from another keeps its reason). */
  readonly cancelled?: AbortSignal;
  /** Epoch ms (Date.now()); absent or Infinity for none. */
  readonly deadline?: number;
  /** The server is shutting down: long-lived calls stop taking new work. */
  readonly shutdown?: AbortSignal;
}

export interface CallSignal {
  readonly signal: AbortSignal;
  /** Ends the call early (a call doing several things at once stops the rest after the first failure). */
  abort(reason: ServiceError): void;
  /** The call is over: clears the deadline's timer and stops listening to the sources. */
  end(): void;
}

export const CANCELLED_MESSAGE = 'call cancelled by the client';
export const SHUTDOWN_MESSAGE = 'server is shutting down; retry on another replica';
const DEADLINE_MESSAGE =
  'deadline exceeded before the answer was ready; allow more time, or retry when the server is less busy';

/**
 * grpc-js ends a call at its deadline by its own timer, which may fire a few ms before the deadline by the wall clock
 * (timers count from the event loop's cached time): a cancellation that close to the deadline is the deadline.
 */
const DEADLINE_SLACK_MS = 20;
/** setTimeout's limit (about 24.8 days); a deadline further away than that never fires here. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function callSignal({ cancelled, deadline = Infinity, shutdown }: CallSignalSources): CallSignal {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const end = () => {
    clearTimeout(timer);
    cancelled?.removeEventListener('abort', onCancel);
    shutdown?.removeEventListener('abort', onShutdown);
  };
  const abort = (reason: ServiceError) => {
    end();
    if (!controller.signal.aborted) controller.abort(reason);
  };
  const onCancel = () =>
    abort(
      Date.now() >= deadline - DEADLINE_SLACK_MS
        ? deadlineExceeded()
        : cancelled!.reason instanceof ServiceError
          ? cancelled!.reason
          : new ServiceError(Code.CANCELLED, CANCELLED_MESSAGE),
    );
  const onShutdown = () => abort(new ServiceError(Code.UNAVAILABLE, SHUTDOWN_MESSAGE));

  if (cancelled?.aborted) onCancel();
  else if (deadline <= Date.now()) abort(deadlineExceeded());
  else if (shutdown?.aborted) onShutdown();
  else {
    cancelled?.addEventListener('abort', onCancel, { once: true });
    shutdown?.addEventListener('abort', onShutdown, { once: true });
    const delay = deadline - Date.now();
    if (delay <= MAX_TIMER_MS) timer = setTimeout(() => abort(deadlineExceeded()), delay).unref();
  }
  return { signal: controller.signal, abort, end };
}

/** Whether the call was stopped by the server's shutdown (it finishes what it took, then ends UNAVAILABLE). */
export function stoppedByShutdown(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof ServiceError && signal.reason.code === Code.UNAVAILABLE;
}

function deadlineExceeded(): ServiceError {
  return new ServiceError(Code.DEADLINE_EXCEEDED, DEADLINE_MESSAGE);
}
