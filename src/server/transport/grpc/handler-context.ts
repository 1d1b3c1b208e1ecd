/** gRPC handlers' share of the transport context: the instance header; per-call logs and metrics come from core. */
import { Metadata as GrpcMetadata } from '@grpc/grpc-js';
import { recordCall, requireService, round, type TransportContext } from '../../core/transport-context.js';

export type HandlerContext = TransportContext;
export { recordCall, requireService, round };

/**
 * Which replica answered, on every inference call. Unary calls send it with the answer (headers with a response,
 * trailers with an error), never before: once headers arrive grpc-js commits the call, and an UNAVAILABLE that
 * follows them (model loading, draining) would no longer be retried by the client's retry policy.
 */
export function instanceHeader(context: HandlerContext): GrpcMetadata {
  const header = new GrpcMetadata();
  header.set('x-instance', context.instance);
  return header;
}
