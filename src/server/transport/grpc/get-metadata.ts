/** GetMetadata: the model, its legal texts and the runtime. */
import type { handleUnaryCall } from '@grpc/grpc-js';
import type { GetMetadataRequest, Metadata } from '../../../gen/modelhub/v1/model_service.js';
import { Code } from '../../errors.js';
import { recordCall, requireService, type HandlerContext } from './handler-context.js';
import { toGrpcError, toServiceError } from './status.js';

export function getMetadataHandler(context: HandlerContext): handleUnaryCall<GetMetadataRequest, Metadata> {
  return (_call, callback) => {
    const startedAt = performance.now();
    try {
      callback(null, requireService(context).metadata());
      recordCall(context, 'GetMetadata', Code.OK, startedAt);
    } catch (error) {
      const serviceError = toServiceError(error);
      callback(toGrpcError(serviceError));
      recordCall(context, 'GetMetadata', serviceError.code, startedAt, { error: serviceError.message });
    }
  };
}
