/** HTTP routes' share of the transport context: headers, client disconnects, per-call logs and metrics. */
import type { FastifyReply } from 'fastify';
import { Code, ServiceError } from '../../errors.js';
import { recordCall, requireService, round, type TransportContext } from '../../core/transport-context.js';

export type HttpContext = TransportContext;
export { recordCall, requireService, round };

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
