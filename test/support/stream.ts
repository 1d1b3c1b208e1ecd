/** A PredictStream call held open by a test: frames are written when the test says, answers are collected. */
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { ModelServiceClient, PredictRequest, PredictResponse } from '../../src/gen/modelhub/v1/model_service.js';

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
export function openStream(
  client: ModelServiceClient,
  headers: Record<string, string> = {},
  onResponse?: (response: PredictResponse) => void,
): OpenStream {
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
  call.on('end', () => {
    ended = true;
  });
  call.on('error', (e: ServiceError) => {
    error = e;
  });
  return {
    call,
    responses,
    get ended() {
      return ended;
    },
    get error() {
      return error;
    },
  };
}

export interface StreamOutcome {
  readonly responses: PredictResponse[];
  readonly error?: ServiceError;
}

/** Writes `frames` as fast as the client can (no waiting for 'drain'), half-closes, and collects every answer and the error. */
export function runStream(
  client: ModelServiceClient,
  frames: readonly PredictRequest[],
  headers: Record<string, string> | Metadata = {},
): Promise<StreamOutcome> {
  return new Promise((resolve) => {
    const metadata = headers instanceof Metadata ? headers : new Metadata();
    if (!(headers instanceof Metadata)) for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
    const call = client.predictStream(metadata);
    const responses: PredictResponse[] = [];
    call.on('data', (response: PredictResponse) => responses.push(response));
    call.on('error', (error: ServiceError) => resolve({ responses, error }));
    call.on('end', () => resolve({ responses }));
    for (const frame of frames) call.write(frame);
    call.end();
  });
}
