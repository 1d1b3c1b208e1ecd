/**
 * PredictStream: video frames in, one answer per frame out, in order. The ordering, backpressure and live-video policy
 * live in core/frame-stream.ts; this file adapts the gRPC messages to it.
 *
 * Per-call options travel as request headers:
 * - `x-stream-policy`: `all` (default: answer every frame) or `latest` (drop stale queued frames, answered ABORTED);
 * - `x-max-in-flight`: frames of this stream in flight, 1 up to the server's --stream-max-in-flight.
 */
import type { Metadata } from '@grpc/grpc-js';
import type { PredictRequest, PredictResponse } from '../../../gen/modelhub/v1/model_service.js';
import { processFrames, type FramePolicy } from '../../core/frame-stream.js';
import type { PredictInput } from '../../core/model-service.js';
import type { TransportContext } from '../../core/transport-context.js';
import { invalidArgument } from '../../errors.js';
import { MAX_IN_FLIGHT_HEADER, POLICY_HEADER } from '../../../shared/stream-headers.js';
import { frameMetrics, type StreamHandler } from './handle.js';
import { toPredictInput } from './request.js';
import { toErrorResponse, toPredictResponse } from './response.js';

export function predictStream(context: TransportContext): StreamHandler<PredictRequest, PredictResponse> {
  return async function* (requests, call) {
    const { service, log } = call;
    const options = streamOptions(call.metadata, service.limits.streamMaxInFlight);
    log.frames = 0;
    const answers = processFrames(service, inputs(requests), {
      ...options,
      signal: call.signal,
      trace: call.trace,
      ...frameMetrics(context.metrics, () => {
        log.frames = Number(log.frames) + 1;
      }),
    });
    for await (const answer of answers) {
      yield answer.error
        ? toErrorResponse(answer.id, answer.error, service.modelRef())
        : toPredictResponse(answer.prediction);
    }
  };
}

async function* inputs(requests: AsyncIterable<PredictRequest>): AsyncGenerator<PredictInput> {
  for await (const request of requests) yield toPredictInput(request);
}

function streamOptions(metadata: Metadata, serverMax: number): { policy: FramePolicy; maxInFlight: number } {
  const policyValue = String(metadata.get(POLICY_HEADER)[0] ?? 'all').toLowerCase();
  if (policyValue !== 'all' && policyValue !== 'latest') {
    throw invalidArgument(`${POLICY_HEADER} must be "all" or "latest", got "${policyValue}"`);
  }
  const raw = metadata.get(MAX_IN_FLIGHT_HEADER)[0];
  let maxInFlight = serverMax;
  if (raw !== undefined) {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1)
      throw invalidArgument(`${MAX_IN_FLIGHT_HEADER} must be a whole number ≥ 1, got "${String(raw)}"`);
    maxInFlight = Math.min(n, serverMax);
  }
  return { policy: policyValue, maxInFlight };
}
