/**
 * ModelStreamInfer (Triton's bidirectional stream, for video): requests in, one ModelStreamInferResponse per request
 * out, in order. A request that fails is answered with error_message and the stream goes on.
 *
 * Ordering, backpressure (--stream-max-in-flight) and the drain are core/frame-stream.ts's, as for PredictStream:
 * each element of a request is one frame there. A request that fails its checks still takes its place in the frame
 * order as one frame without an image, which the service refuses at once without any work; its answer carries the
 * request's own error.
 */
import type { ModelStreamInferResponse } from '../../../gen/inference/grpc_service.js';
import { processFrames, type FrameAnswer } from '../../core/frame-stream.js';
import type { ModelService, PredictInput } from '../../core/model-service.js';
import type { TransportContext } from '../../core/transport-context.js';
import { Code, ServiceError, toServiceError } from '../../errors.js';
import { frameMetrics, type StreamHandler } from '../grpc/handle.js';
import {
  asDecodable,
  decodeModelInferRequest,
  emptyInferResponse,
  toInferResponse,
  usesRawContents,
  UndecodableRequest,
  type IncomingInferRequest,
} from './grpc-messages.js';
import { elementError, elementInput, probabilitiesOf } from './infer.js';
import { encodeOutputs, type DecodedRequest } from './tensors.js';

export function modelStreamInfer(
  context: TransportContext,
): StreamHandler<IncomingInferRequest, ModelStreamInferResponse> {
  return async function* (requests, call) {
    const { service, log } = call;
    /** Requests read and not yet answered, in order. */
    const waiting: StreamRequest[] = [];
    log.requests = 0;
    const answers = processFrames(service, frames(requests, service, waiting), {
      policy: 'all',
      maxInFlight: service.limits.streamMaxInFlight,
      signal: call.signal,
      trace: call.trace,
      // The stream metrics count every stream's frames, PredictStream's and these.
      ...frameMetrics(context.metrics),
    });
    const answer = (response: ModelStreamInferResponse) => {
      log.requests = Number(log.requests) + 1;
      return response;
    };
    try {
      for await (const frame of answers) {
        const response = waiting[0]!.take(frame);
        if (!response) continue;
        waiting.shift();
        yield answer(response);
      }
    } catch (error) {
      // Draining: requests read but not (wholly) run are answered with the reason before the stream ends.
      if (error instanceof ServiceError && error.code === Code.UNAVAILABLE) {
        for (const request of waiting.splice(0)) yield answer(request.failed(error));
      }
      throw error;
    }
  };
}

/** The call's requests as frames for the core, each request noted in `waiting` first. */
async function* frames(
  requests: AsyncIterable<IncomingInferRequest>,
  service: ModelService,
  waiting: StreamRequest[],
): AsyncGenerator<PredictInput> {
  let sequence = 0;
  for await (const request of requests) {
    const frameId = String(sequence++);
    const id = request instanceof UndecodableRequest ? '' : request.id;
    let decoded: DecodedRequest;
    try {
      const message = asDecodable(request);
      decoded = decodeModelInferRequest(service, message);
      waiting.push(new StreamRequest(id, service, { decoded, raw: usesRawContents(message) }));
    } catch (error) {
      waiting.push(new StreamRequest(id, service, { error: toServiceError(error) }));
      yield { id: frameId, topK: 0 };
      continue;
    }
    for (const [index, image] of decoded.images.entries()) yield elementInput(service, image, `${frameId}/${index}`);
  }
}

/** One request of the stream, collecting its elements' answers. */
class StreamRequest {
  private readonly rows: Float32Array[] = [];
  private failure?: ServiceError;
  private answers = 0;

  constructor(
    private readonly id: string,
    private readonly service: ModelService,
    private readonly request:
      | { readonly decoded: DecodedRequest; readonly raw: boolean }
      | { readonly error: ServiceError },
  ) {}

  /** Takes the next frame answer of this request; the response once all its frames have answered. */
  take(answer: FrameAnswer): ModelStreamInferResponse | undefined {
    if ('error' in this.request) return this.failed(this.request.error);
    const { decoded, raw } = this.request;
    const index = this.answers++;
    if (answer.error) this.failure ??= toServiceError(elementError(answer.error, decoded.inputName, index));
    else this.rows.push(probabilitiesOf(answer.prediction, this.service.metadata().labels.length));
    if (this.answers < decoded.images.length) return undefined;
    if (this.failure) return this.failed(this.failure);
    const outputs = encodeOutputs(decoded.outputs, this.rows, this.service.metadata().labels);
    return { errorMessage: '', inferResponse: toInferResponse(this.id, outputs, raw) };
  }

  failed(error: ServiceError): ModelStreamInferResponse {
    return {
      errorMessage: `${Code[error.code] ?? error.code}: ${error.message}`,
      inferResponse: emptyInferResponse(this.id),
    };
  }
}
