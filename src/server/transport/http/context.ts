/** HTTP routes' share of the transport context: headers, client disconnects, per-call logs and metrics. */
import type { FastifyReply } from 'fastify';
import { Code, ServiceError } from '../../errors.js';
import { requireService, type TransportContext } from '../../core/transport-context.js';

export type HttpContext = TransportContext;
export { requireService };

/** Which replica answered, as on gRPC responses. */
export function setInstanceHeader(context: HttpContext, reply: FastifyReply): void {
  reply.header('x-instance', context.instance);
}

/**
 * An AbortSignal that fires when the client goes away before its answer is written, so queued work for a caller
 * who left is dropped from the scheduler instead of running.
 */
export function disconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new ServiceError(Code.CANCELLED, 'client closed the connection'));
  });
  return controller.signal;
}

/** One log line and the call metrics at the end of every inference call, labelled like the gRPC ones. */
export function recordCall(
  context: HttpContext,
  method: string,
  code: Code,
  startedAt: number,
  fields: Record<string, unknown> = {},
): void {
  const seconds = (performance.now() - startedAt) / 1000;
  const name = Code[code] ?? String(code);
  context.metrics.calls.inc({ method, code: name });
  context.metrics.callLatency.observe({ method }, seconds);
  const level = code === Code.INTERNAL || code === Code.UNKNOWN ? 'error' : 'info';
  context.logger[level]({ method, code: name, latencyMs: Math.round(seconds * 10_000) / 10, ...fields }, 'call');
}
