/** Core results → PredictResponse messages. */
import type { PredictResponse } from '../../../gen/modelhub/v1/model_service.js';
import type { ModelRef, Prediction } from '../../core/model-service.js';
import type { ServiceError } from '../../errors.js';

export function toPredictResponse(prediction: Prediction): PredictResponse {
  return {
    id: prediction.id,
    outputs: prediction.outputs,
    processingTime: prediction.processingTime,
    timestamp: prediction.timestamp,
    model: prediction.model,
    error: undefined,
  };
}

/** A failed frame inside PredictStream: the stream goes on. */
export function toErrorResponse(id: string, error: ServiceError, model: ModelRef | undefined): PredictResponse {
  return {
    id,
    outputs: [],
    processingTime: 0,
    timestamp: new Date(),
    model,
    error: { code: error.code, message: error.message },
  };
}
