/**
 * The one wrapper of the REST API's inference routes. Handlers are plain `async (request, call) => answer`; the wrapper
 * gives them the call's one signal and writes one log line and the call metrics per call. Errors go on to fastify's
 * error handler (errors.ts), which answers every route the same way.
 *
 * Deadline: `x-request-timeout: <ms>` (a whole number of milliseconds) asks for a deadline that long after the request
 * arrives; --http-request-timeout is the server's default and the most a request may ask for (0: none). A request past
 * its deadline is answered 504 and its queued work is dropped; one whose client disconnects is dropped too.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { callSignal } from '../../core/call-signal.js';
import { recordCall, type TransportContext } from '../../core/transport-context.js';
import { invalidArgument, toServiceError } from '../../errors.js';

const REQUEST_TIMEOUT_HEADER = 'x-request-timeout';

export interface HttpCall {
  /** The client disconnected, or the deadline passed: core/call-signal.ts. */
  readonly signal: AbortSignal;
  /** Fields of the call's log line (requestId is there; the handler adds timings…). */
  readonly log: Record<string, unknown>;
}

export type HttpHandler<Request extends FastifyRequest, Answer> = (request: Request, call: HttpCall) => Promise<Answer>;

export type HttpCalls = ReturnType<typeof httpCalls>;

/** Wraps the routes of one server; `defaultTimeoutMs` is --http-request-timeout. */
export function httpCalls(context: TransportContext, defaultTimeoutMs: number) {
  return <Request extends FastifyRequest, Answer>(method: string, handler: HttpHandler<Request, Answer>) =>
    async (request: Request, reply: FastifyReply): Promise<Answer> => {
      const startedAt = performance.now();
      const log: Record<string, unknown> = { requestId: request.id };
      let end = () => {};
      try {
        const call = callSignal({
          cancelled: disconnectSignal(reply),
          deadline: Date.now() + timeoutOf(request, defaultTimeoutMs),
        });
        end = call.end;
        const answer = await handler(request, { signal: call.signal, log });
        recordCall(context, method, startedAt, log);
        return answer;
      } catch (error) {
        recordCall(context, method, startedAt, log, toServiceError(error));
        throw error;
      } finally {
        end();
      }
    };
}

/**
 * An AbortSignal that fires when the client goes away before its answer is written, so queued work for a caller
 * who left is dropped from the scheduler instead of running.
 */
function disconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** The request's timeout in ms: its header, at most the server's default; Infinity for none. */
function timeoutOf(request: FastifyRequest, defaultMs: number): number {
  const serverMs = defaultMs > 0 ? defaultMs : Infinity;
  const header = request.headers[REQUEST_TIMEOUT_HEADER];
  if (header === undefined) return serverMs;
  const ms = Number(header);
  if (typeof header !== 'string' || !/^\d+$/.test(header) || ms < 1) {
    throw invalidArgument(
      `${REQUEST_TIMEOUT_HEADER} must be a whole number of milliseconds ≥ 1, got ${JSON.stringify(header)}`,
    );
  }
  return Math.min(ms, serverMs);
}
