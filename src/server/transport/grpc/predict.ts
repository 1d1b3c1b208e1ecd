/** Predict: one image in, a label list out. */
import type { PredictRequest, PredictResponse } from '../../../gen/modelhub/v1/model_service.js';
import { requireService, timingFields, type TransportContext } from '../../core/transport-context.js';
import type { UnaryHandler } from './handle.js';
import { toPredictInput } from './request.js';
import { toPredictResponse } from './response.js';

export function predict(context: TransportContext): UnaryHandler<PredictRequest, PredictResponse> {
  return async (request, call) => {
    call.log.requestId = request.id;
    const prediction = await requireService(context).predict(toPredictInput(request), {
      signal: call.signal,
      trace: call.trace,
    });
    Object.assign(call.log, timingFields(prediction.timings), { weightsSha256: prediction.model.weightsSha256 });
    return toPredictResponse(prediction);
  };
}
