/**
 * PredictStream as an async iterable: frames from the caller's (async) iterable go out, results come back in frame
 * order. Backpressure both ways, without unbounded read-ahead:
 * - the client pulls the next frame only while fewer than `maxInFlight` frames are sent and not yet taken by the
 *   consumer, and only once the call's write buffer has drained — a slow consumer or a slow server slows the source;
 * - responses the consumer has not taken stay in the call's small read buffer, so grpc-js stops reading, HTTP/2 flow
 *   control holds the server's writes, and the server (which bounds its own frames in flight) stops reading frames.
 */
import type { ClientDuplexStream, Metadata } from '@grpc/grpc-js';
import { once } from 'node:events';
import type { PredictRequest, PredictResponse } from '../gen/modelhub/v1/model_service.js';
import { toFrameRequest, toFrameResult } from './convert.js';
import { cancelled, Code, invalidArgument, ModelError, toModelError } from './errors.js';
import type { Frame, FrameResult, PredictStreamOptions } from './types.js';
import { firstHeader } from './unary.js';
import { MAX_IN_FLIGHT_HEADER, POLICY_HEADER } from '../shared/stream-headers.js';

export type StreamOpener = (
  metadata: Metadata,
  options: { deadline?: Date },
) => ClientDuplexStream<PredictRequest, PredictResponse>;

export interface StreamSettings extends PredictStreamOptions {
  readonly maxInFlight: number;
  readonly deadline?: Date;
}

export async function* predictStream(
  open: StreamOpener,
  metadata: Metadata,
  frames: AsyncIterable<Frame> | Iterable<Frame>,
  settings: StreamSettings,
): AsyncGenerator<FrameResult, void, undefined> {
  const { maxInFlight, signal, policy = 'all' } = settings;
  if (!(Number.isInteger(maxInFlight) && maxInFlight >= 1))
    throw invalidArgument(`maxInFlight must be a whole number ≥ 1, got ${maxInFlight}`);
  if (policy !== 'all' && policy !== 'latest')
    throw invalidArgument(`policy must be "all" or "latest", got "${String(policy)}"`);
  if (signal?.aborted) throw cancelled(signal.reason);

  metadata.set(POLICY_HEADER, policy);
  metadata.set(MAX_IN_FLIGHT_HEADER, String(maxInFlight));
  const call = open(metadata, settings.deadline ? { deadline: settings.deadline } : {});
  let instance = '';
  call.once('metadata', (headers: Metadata) => {
    instance = firstHeader(headers, 'x-instance');
  });
  // The iterator below reports the call's error; this keeps one arriving after it returned from being unhandled.
  call.on('error', () => {});
  const onAbort = () => call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });

  // The writer stops when this aborts: the stream ended, failed, or the consumer left.
  const stop = new AbortController();
  let sent = 0;
  let taken = 0;
  let wakeWriter: (() => void) | undefined;
  let sourceError: unknown;
  stop.signal.addEventListener('abort', () => wakeWriter?.(), { once: true });

  void (async () => {
    const source = iterate(frames);
    let exhausted = false;
    try {
      for (let sequence = 0; ; sequence++) {
        while (sent - taken >= maxInFlight && !stop.signal.aborted) {
          await new Promise<void>((resolve) => {
            wakeWriter = resolve;
          });
          wakeWriter = undefined;
        }
        if (stop.signal.aborted) return;
        const next = await source.next();
        if (next.done) {
          exhausted = true;
          call.end();
          return;
        }
        if (stop.signal.aborted) return;
        const request = toFrameRequest(next.value, sequence, settings.topK);
        sent++;
        if (!call.write(request)) await once(call, 'drain', { signal: stop.signal }).catch(() => {});
      }
    } catch (error) {
      // The source threw, or a frame is not an image: the stream cannot go on.
      exhausted = true;
      sourceError = error;
      call.cancel();
    } finally {
      if (!exhausted) void Promise.resolve(source.return?.()).catch(() => {});
    }
  })();

  let completed = false;
  try {
    for await (const response of call.iterator({ destroyOnReturn: false }) as AsyncIterable<PredictResponse>) {
      taken++;
      wakeWriter?.();
      yield toFrameResult(response, instance);
    }
    completed = true;
  } catch (error) {
    throw failure(error);
  } finally {
    stop.abort();
    signal?.removeEventListener('abort', onAbort);
    // The consumer stopped early (break, return, throw): end the call rather than leave it open.
    if (!completed) call.cancel();
  }
  if (sourceError !== undefined) throw failure(sourceError);

  function failure(error: unknown): ModelError {
    if (sourceError !== undefined) {
      if (sourceError instanceof ModelError) return sourceError;
      const message = sourceError instanceof Error ? sourceError.message : String(sourceError);
      return new ModelError(Code.CANCELLED, `the frame source failed: ${message}`, { cause: sourceError });
    }
    if (signal?.aborted) return cancelled(signal.reason, error);
    return toModelError(error);
  }
}

/** Sync or async iterables alike, pulled one frame at a time. */
function iterate(frames: AsyncIterable<Frame> | Iterable<Frame>): AsyncIterator<Frame> | Iterator<Frame> {
  if (Symbol.asyncIterator in frames) return frames[Symbol.asyncIterator]();
  if (Symbol.iterator in frames) return frames[Symbol.iterator]();
  throw invalidArgument('frames must be an iterable or async iterable');
}
