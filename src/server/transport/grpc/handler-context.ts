/** gRPC handlers' share of the transport context: the instance header; per-call logs and metrics come from core. */
import { Metadata as GrpcMetadata } from '@grpc/grpc-js';
import { recordCall, requireService, round, type TransportContext } from '../../core/transport-context.js';

export type HandlerContext = TransportContext;
export { recordCall, requireService, round };

/** Response headers every inference call carries: which replica answered. */
export function instanceHeader(context: HandlerContext): GrpcMetadata {
  const header = new GrpcMetadata();
  header.set('x-instance', context.instance);
  return header;
}
