/**
 * ModelStreamInfer (Triton's bidirectional stream, for video): requests in, one ModelStreamInferResponse per request
 * out, in order. A request that fails is answered with error_message and the stream goes on.
 *
 * Ordering, backpressure (--stream-max-in-flight) and the drain are core/frame-stream.ts's, as for PredictStream:
 * each element of a request is one frame there. A request that fails its checks still takes its place in the frame
 * order as one frame without an image, which the service refuses at once without any work; its answer carries the
 * request's own error.
 */
import type { handleBidiStreamingCall, ServerDuplexStream } from '@grpc/grpc-js';
import { once } from 'node:events';
import type { ModelStreamInferResponse } from '../../../gen/inference/grpc_service.js';
import { Code, ServiceError } from '../../errors.js';
import { processFrames, type FrameAnswer } from '../../core/frame-stream.js';
import type { ModelService, PredictInput } from '../../core/model-service.js';
import { callContext } from '../grpc/call-context.js';
import { instanceHeader, recordCall, requireService, type HandlerContext } from '../grpc/handler-context.js';
import { toGrpcError, toServiceError } from '../grpc/status.js';
import {
  asDecodable, decodeModelInferRequest, emptyInferResponse, toInferResponse, usesRawContents,
  UndecodableRequest, type IncomingInferRequest,
} from './grpc-messages.js';
import { elementError, elementInput, probabilitiesOf } from './infer.js';
import { encodeOutputs, type DecodedRequest } from './tensors.js';

type Call = ServerDuplexStream<IncomingInferRequest, ModelStreamInferResponse>;

export function modelStreamInferHandler(context: HandlerContext): handleBidiStreamingCall<IncomingInferRequest, ModelStreamInferResponse> {
  let activeStreams = 0;
  return (call) => {
    const startedAt = performance.now();
    call.sendMetadata(instanceHeader(context));
    let answered = 0;
    const finish = (error?: ServiceError) => {
      recordCall(context, 'ModelStreamInfer', error?.code ?? Code.OK, startedAt, { requests: answered, ...(error ? { error: error.message } : {}) });
    };

    let service: ModelService;
    try {
      service = requireService(context);
      service.assertServing();
      if (activeStreams >= service.limits.maxStreams) {
        throw new ServiceError(Code.RESOURCE_EXHAUSTED, `too many concurrent streams (limit ${service.limits.maxStreams}); retry later`);
      }
    } catch (error) {
      const serviceError = toServiceError(error);
      call.emit('error', toGrpcError(serviceError));
      finish(serviceError);
      return;
    }

    activeStreams++;
    context.metrics.activeStreams.inc();
    const { signal } = callContext(call);
    /** Requests read and not yet answered, in order. */
    const waiting: StreamRequest[] = [];
    const answers = processFrames(service, frames(call, service, waiting), {
      policy: 'all',
      maxInFlight: service.limits.streamMaxInFlight,
      signal,
      // The stream metrics count every stream's frames, PredictStream's and these.
      gauges: { inFlight: context.metrics.streamFramesInFlight, working: context.metrics.streamFramesWorking },
      onFrame: ({ outcome }) => context.metrics.streamFrames.inc({ outcome }),
    });

    const write = async (response: ModelStreamInferResponse) => {
      answered++;
      // A full write buffer pauses the answers, which pauses the reading (as PredictStream).
      if (!call.write(response) && !signal.aborted) {
        await once(call, 'drain', { signal }).catch((error: unknown) => { if (!signal.aborted) throw error; });
      }
    };

    (async () => {
      try {
        for await (const answer of answers) {
          const response = waiting[0]!.take(answer);
          if (!response) continue;
          waiting.shift();
          await write(response);
        }
      } catch (error) {
        // Draining: requests read but not (wholly) run are answered with the reason before the stream ends.
        if (!signal.aborted && error instanceof ServiceError && error.code === Code.UNAVAILABLE) {
          for (const request of waiting.splice(0)) await write(request.failed(error));
        }
        throw error;
      }
    })().then(
      () => {
        call.end();
        finish();
      },
      (error: unknown) => {
        const serviceError = toServiceError(error);
        if (!signal.aborted) call.emit('error', toGrpcError(serviceError));
        finish(signal.aborted ? new ServiceError(Code.CANCELLED, 'cancelled by the client') : serviceError);
      },
    ).finally(() => {
      activeStreams--;
      context.metrics.activeStreams.dec();
    });
  };
}

/**
 * The call's requests as frames for the core, each request noted in `waiting` first. `destroyOnReturn: false`: a
 * finished for-await would otherwise destroy the duplex stream before the last answers are written.
 */
async function* frames(call: Call, service: ModelService, waiting: StreamRequest[]): AsyncGenerator<PredictInput> {
  let sequence = 0;
  for await (const request of call.iterator({ destroyOnReturn: false }) as AsyncIterable<IncomingInferRequest>) {
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
    private readonly request: { readonly decoded: DecodedRequest; readonly raw: boolean } | { readonly error: ServiceError },
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
    return { errorMessage: `${Code[error.code] ?? error.code}: ${error.message}`, inferResponse: emptyInferResponse(this.id) };
  }
}
