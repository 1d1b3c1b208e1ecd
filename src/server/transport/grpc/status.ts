/** ServiceError ↔ gRPC status. Caller mistakes keep their code and message; anything else is an internal fault. */
import { status, type ServerErrorResponse, Metadata as GrpcMetadata } from '@grpc/grpc-js';
import { Code, ServiceError } from '../../errors.js';

export function toServiceError(error: unknown): ServiceError {
  if (error instanceof ServiceError) return error;
  return new ServiceError(Code.INTERNAL, 'internal error; the server logged the details with the request id', { cause: error });
}

export function toGrpcError(error: ServiceError, trailers?: GrpcMetadata): ServerErrorResponse {
  return Object.assign(new Error(error.message), { code: error.code as number as status, details: error.message, metadata: trailers });
}
