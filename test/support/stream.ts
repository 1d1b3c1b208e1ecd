/** A PredictStream call held open by a test: frames are written when the test says, answers are collected. */
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { ModelServiceClient, PredictResponse } from '../../src/gen/modelhub/v1/model_service.js';

export interface OpenStream {
  readonly call: ReturnType<ModelServiceClient['predictStream']>;
  /** Answers so far, in arrival order. */
  readonly responses: PredictResponse[];
  /** The server has sent its last answer. */
  readonly ended: boolean;
  /** The call failed with this status. */
  readonly error: ServiceError | undefined;
}

/** Opens a PredictStream with request headers (`x-stream-policy`, `x-max-in-flight`…); nothing is written yet. */
export function openStream(client: ModelServiceClient, headers: Record<string, string> = {}, onResponse?: (response: PredictResponse) => void): OpenStream {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  const call = client.predictStream(metadata);
  const responses: PredictResponse[] = [];
  let ended = false;
  let error: ServiceError | undefined;
  call.on('data', (response: PredictResponse) => {
    responses.push(response);
    onResponse?.(response);
  });
  call.on('end', () => { ended = true; });
  call.on('error', (e: ServiceError) => { error = e; });
  return { call, responses, get ended() { return ended; }, get error() { return error; } };
}
