/**
 * Running a decoded request: each element is its own ModelService.predict — the one inference path, through the
 * scheduler's queue, deadlines and cancellation, like a Predict — and answers with all class probabilities.
 */
import { callSignal } from '../../core/call-signal.js';
import type {
  CallContext,
  ImageInput,
  ModelService,
  Prediction,
  PredictInput,
  StageTimings,
} from '../../core/model-service.js';
import { Code, ServiceError, toServiceError } from '../../errors.js';
import type { DecodedRequest } from './tensors.js';

export interface InferenceResult {
  /** Each element's probabilities, in class order. */
  readonly rows: Float32Array[];
  /** The slowest element's stages. */
  readonly timings: StageTimings;
}

/** One element as a Predict that answers every class in class order, so its probabilities can be read back whole. */
export function elementInput(service: ModelService, image: ImageInput, id: string): PredictInput {
  return { id, image, topK: service.metadata().labels.length, order: 'class' };
}

export function probabilitiesOf(prediction: Prediction, classes: number): Float32Array {
  const row = new Float32Array(classes);
  for (const { index, probability } of prediction.outputs[0]!.prediction) row[index] = probability;
  return row;
}

/** A caller mistake in one element names the element: `image[2]: unrecognised image format…`. */
export function elementError(error: unknown, inputName: string, index: number): unknown {
  if (!(error instanceof ServiceError) || error.code !== Code.INVALID_ARGUMENT) return error;
  return new ServiceError(error.code, `${inputName}[${index}]: ${error.message}`, { cause: error });
}

/**
 * Runs every element at once (they queue like separate Predicts); the first failure cancels the rest. `call`: the
 * call's signal, and its trace (each element's stages are recorded in it).
 */
export async function runInference(
  service: ModelService,
  decoded: DecodedRequest,
  call: Pick<CallContext, 'signal' | 'trace'> = {},
): Promise<InferenceResult> {
  const classes = service.metadata().labels.length;
  const elements = callSignal({ cancelled: call.signal });
  try {
    const predictions = await Promise.all(
      decoded.images.map((image, index) =>
        service
          .predict(elementInput(service, image, String(index)), { signal: elements.signal, trace: call.trace })
          .catch((error: unknown) => {
            throw elementError(error, decoded.inputName, index);
          }),
      ),
    );
    return {
      rows: predictions.map((prediction) => probabilitiesOf(prediction, classes)),
      timings: {
        prepareMs: Math.max(...predictions.map((p) => p.timings.prepareMs)),
        queueMs: Math.max(...predictions.map((p) => p.timings.queueMs)),
        inferenceMs: Math.max(...predictions.map((p) => p.timings.inferenceMs)),
      },
    };
  } catch (error) {
    // The elements still queued leave the scheduler without running.
    elements.abort(toServiceError(error));
    throw error;
  } finally {
    elements.end();
  }
}
