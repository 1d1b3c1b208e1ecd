/**
 * The one wrapper of the REST API's inference routes. Handlers are plain `async (request, call) => answer`; the wrapper
 * gives them the call's one signal and writes one log line, the call metrics and (when tracing is on) one server span
 * per call. Errors go on to fastify's error handler (errors.ts), which answers every route the same way.
 *
 * Deadline: `x-request-timeout: <ms>` (a whole number of milliseconds) asks for a deadline that long after the request
 * arrives; --http-request-timeout is the server's default and the most a request may ask for (0: none). A request past
 * its deadline is answered 504 and its queued work is dropped; one whose client disconnects is dropped too.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { callSignal } from '../../core/call-signal.js';
import { recordCall, type TransportContext } from '../../core/transport-context.js';
import { invalidArgument, toServiceError, type ServiceError } from '../../errors.js';
import type { CallTrace, Tracing } from '../../observability/tracing.js';

const REQUEST_TIMEOUT_HEADER = 'x-request-timeout';

export interface HttpCall {
  /** The client disconnected, or the deadline passed: core/call-signal.ts. */
  readonly signal: AbortSignal;
  /** Fields of the call's log line (requestId is there; the handler adds timings…). */
  readonly log: Record<string, unknown>;
  /** The call's trace when tracing is on: handlers pass it to the service (CallContext.trace). */
  readonly trace?: CallTrace;
}

export type HttpHandler<Request extends FastifyRequest, Answer> = (request: Request, call: HttpCall) => Promise<Answer>;

export type HttpCalls = ReturnType<typeof httpCalls>;

/** Wraps the routes of one server; `defaultTimeoutMs` is --http-request-timeout. */
export function httpCalls(context: TransportContext, defaultTimeoutMs: number) {
  return <Request extends FastifyRequest, Answer>(method: string, handler: HttpHandler<Request, Answer>) =>
    async (request: Request, reply: FastifyReply): Promise<Answer> => {
      const startedAt = performance.now();
      const log: Record<string, unknown> = { requestId: request.id };
      let failure: ServiceError | undefined;
      const trace = context.tracing && traceCall(context, context.tracing, request, reply, startedAt, () => failure);
      let end = () => {};
      try {
        const call = callSignal({
          cancelled: disconnectSignal(reply),
          deadline: Date.now() + timeoutOf(request, defaultTimeoutMs),
        });
        end = call.end;
        const answer = await handler(request, { signal: call.signal, log, trace });
        recordCall(context, method, startedAt, log);
        return answer;
      } catch (error) {
        failure = toServiceError(error);
        recordCall(context, method, startedAt, log, failure);
        throw error;
      } finally {
        end();
      }
    };
}

/**
 * The call's span, ended once the answer is written (or the client gone), so it carries the status fastify's error
 * handler answered with.
 */
function traceCall(
  context: TransportContext,
  tracing: Tracing,
  request: FastifyRequest,
  reply: FastifyReply,
  startedAt: number,
  failure: () => ServiceError | undefined,
): CallTrace {
  const header = (name: string) => {
    const value = request.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  const trace = tracing.httpCall(request.method, request.routeOptions.url ?? request.url, header, startedAt);
  reply.raw.once('close', () => {
    trace.end({
      requestId: request.id,
      error: failure(),
      runtime: context.service()?.runtime,
      httpStatus: reply.raw.statusCode,
    });
  });
  return trace;
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
