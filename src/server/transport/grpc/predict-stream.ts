/**
 * PredictStream: video frames in, one answer per frame out, in order. The ordering, backpressure and live-video policy
 * live in core/frame-stream.ts; this file adapts the gRPC duplex stream to it.
 *
 * Per-call options travel as request headers:
 * - `x-stream-policy`: `all` (default: answer every frame) or `latest` (drop stale queued frames, answered ABORTED);
 * - `x-max-in-flight`: frames of this stream in flight, 1 up to the server's --stream-max-in-flight.
 */
import type { handleBidiStreamingCall, ServerDuplexStream } from '@grpc/grpc-js';
import { once } from 'node:events';
import type { PredictRequest, PredictResponse } from '../../../gen/modelhub/v1/model_service.js';
import { Code, ServiceError, invalidArgument } from '../../errors.js';
import { processFrames, type FramePolicy } from '../../core/frame-stream.js';
import type { ModelService, PredictInput } from '../../core/model-service.js';
import { callContext } from './call-context.js';
import { instanceHeader, recordCall, requireService, type HandlerContext } from './handler-context.js';
import { toPredictInput } from './request.js';
import { toErrorResponse, toPredictResponse } from './response.js';
import { toGrpcError, toServiceError } from './status.js';
import { MAX_IN_FLIGHT_HEADER, POLICY_HEADER } from '../../../shared/stream-headers.js';

export function predictStreamHandler(context: HandlerContext): handleBidiStreamingCall<PredictRequest, PredictResponse> {
  let activeStreams = 0;
  return (call) => {
    const startedAt = performance.now();
    call.sendMetadata(instanceHeader(context));
    let frames = 0;
    const finish = (error?: ServiceError) => {
      recordCall(context, 'PredictStream', error?.code ?? Code.OK, startedAt, { frames, ...(error ? { error: error.message } : {}) });
    };

    let service: ModelService;
    let options: { policy: FramePolicy; maxInFlight: number };
    try {
      service = requireService(context);
      service.assertServing();
      options = streamOptions(call, service.limits.streamMaxInFlight);
      if (activeStreams >= service.limits.maxStreams) {
        throw new ServiceError(Code.RESOURCE_EXHAUSTED,
          `too many concurrent streams (limit ${service.limits.maxStreams}); retry later`);
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
    const model = service.metadata();
    const modelRef = { id: model.id, name: model.name };
    const answers = processFrames(service, requests(call), {
      ...options,
      signal,
      gauges: { inFlight: context.metrics.streamFramesInFlight, working: context.metrics.streamFramesWorking },
      onFrame: ({ outcome }) => {
        frames++;
        context.metrics.streamFrames.inc({ outcome });
        if (outcome === 'dropped') context.metrics.droppedFrames.inc();
      },
    });

    (async () => {
      for await (const answer of answers) {
        const response = answer.error ? toErrorResponse(answer.id, answer.error, modelRef) : toPredictResponse(answer.prediction);
        // Respect the client's reading speed: a full write buffer pauses the answers, which pauses the reading.
        // once() with the signal removes its listeners either way (a race of two once() calls left one per pause).
        if (!call.write(response) && !signal.aborted) {
          await once(call, 'drain', { signal }).catch((error: unknown) => { if (!signal.aborted) throw error; });
        }
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
 * The call's frames as the core sees them. `destroyOnReturn: false`: by default a finished for-await destroys the
 * whole duplex stream, which would cancel the call before the last answers are written.
 */
async function* requests(call: ServerDuplexStream<PredictRequest, PredictResponse>): AsyncGenerator<PredictInput> {
  for await (const request of call.iterator({ destroyOnReturn: false }) as AsyncIterable<PredictRequest>) {
    yield toPredictInput(request);
  }
}

function streamOptions(call: ServerDuplexStream<PredictRequest, PredictResponse>, serverMax: number): { policy: FramePolicy; maxInFlight: number } {
  const policyValue = String(call.metadata.get(POLICY_HEADER)[0] ?? 'all').toLowerCase();
  if (policyValue !== 'all' && policyValue !== 'latest') {
    throw invalidArgument(`${POLICY_HEADER} must be "all" or "latest", got "${policyValue}"`);
  }
  const raw = call.metadata.get(MAX_IN_FLIGHT_HEADER)[0];
  let maxInFlight = serverMax;
  if (raw !== undefined) {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw invalidArgument(`${MAX_IN_FLIGHT_HEADER} must be a whole number ≥ 1, got "${String(raw)}"`);
    maxInFlight = Math.min(n, serverMax);
  }
  return { policy: policyValue, maxInFlight };
}
