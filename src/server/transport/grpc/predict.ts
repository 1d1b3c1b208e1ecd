/** Predict: one image in, a label list out. */
import type { handleUnaryCall } from '@grpc/grpc-js';
import type { PredictRequest, PredictResponse } from '../../../gen/modelhub/v1/model_service.js';
import { Code } from '../../errors.js';
import { callContext } from './call-context.js';
import { instanceHeader, recordCall, requireService, round, type HandlerContext } from './handler-context.js';
import { toPredictInput } from './request.js';
import { toPredictResponse } from './response.js';
import { toGrpcError, toServiceError } from './status.js';

export function predictHandler(context: HandlerContext): handleUnaryCall<PredictRequest, PredictResponse> {
  return (call, callback) => {
    const startedAt = performance.now();
    const requestId = call.request.id;
    const run = async () => requireService(context).predict(toPredictInput(call.request), callContext(call));
    run().then(
      (prediction) => {
        call.sendMetadata(instanceHeader(context));
        callback(null, toPredictResponse(prediction));
        const { prepareMs, queueMs, inferenceMs } = prediction.timings;
        recordCall(context, 'Predict', Code.OK, startedAt, {
          requestId, prepareMs: round(prepareMs), queueMs: round(queueMs), inferenceMs: round(inferenceMs),
        });
      },
      (error: unknown) => {
        const serviceError = toServiceError(error);
        callback(toGrpcError(serviceError, instanceHeader(context)));
        recordCall(context, 'Predict', serviceError.code, startedAt, {
          requestId, error: serviceError.message, ...(serviceError.code === Code.INTERNAL ? { cause: String(error) } : {}),
        });
      },
    );
  };
}
