/**
 * The one wrapper of every gRPC handler. Handlers are plain `async (request, call) => response`, or for a
 * bidirectional stream `(requests, call) => AsyncIterable<response>`; the wrapper gives them the call's one signal and
 * does the rest the same way for all: the x-instance header, the ServiceError → status mapping, and one log line, the
 * call metrics and (when tracing is on) one server span per call — a stream's one span, with a span per frame under it.
 */
import {
  Metadata,
  type handleBidiStreamingCall,
  type handleUnaryCall,
  type ServerDuplexStream,
  type ServerErrorResponse,
  type ServerUnaryCall,
  type status,
} from '@grpc/grpc-js';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { callSignal, stoppedByShutdown } from '../../core/call-signal.js';
import type { FrameStreamOptions } from '../../core/frame-stream.js';
import type { ModelService } from '../../core/model-service.js';
import { recordCall, requireService, type TransportContext } from '../../core/transport-context.js';
import { Code, ServiceError, toServiceError } from '../../errors.js';
import type { Metrics } from '../../observability/metrics.js';
import type { CallOutcome, CallTrace, HeaderReader } from '../../observability/tracing.js';

export interface GrpcCall {
  /** Cancelled by the client, past its deadline, or (streams) the server shutting down: core/call-signal.ts. */
  readonly signal: AbortSignal;
  /** The request headers. */
  readonly metadata: Metadata;
  /** Fields of the call's log line (requestId, timings…), filled in by the handler. */
  readonly log: Record<string, unknown>;
  /** The call's trace when tracing is on: handlers pass it to the service (CallContext.trace). */
  readonly trace?: CallTrace;
}

/** A stream is admitted by the wrapper (serving, under --max-streams), which hands it the service. */
export interface StreamCall extends GrpcCall {
  readonly service: ModelService;
}

export type UnaryHandler<Req, Res> = (request: Req, call: GrpcCall) => Res | Promise<Res>;
export type StreamHandler<Req, Res> = (requests: AsyncIterable<Req>, call: StreamCall) => AsyncIterable<Res>;

type SurfaceCall = ServerUnaryCall<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/** `method` names the call in logs and metrics; undefined: not recorded (health calls, probed every few seconds). */
export function unary<Req, Res>(
  context: TransportContext,
  method: string | undefined,
  handler: UnaryHandler<Req, Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const startedAt = performance.now();
    const log: Record<string, unknown> = {};
    const { signal, end } = callSignal({ cancelled: cancellation(call), deadline: deadlineOf(call) });
    const trace = method
      ? context.tracing?.grpcCall(call.getPath(), metadataReader(call.metadata), startedAt, false)
      : undefined;
    // x-instance goes with the answer (headers with a response, trailers with an error), never before: once headers
    // arrive grpc-js commits the call, and an UNAVAILABLE after them (loading, draining) would not be retried.
    (async () => handler(call.request, { signal, metadata: call.metadata, log, trace }))()
      .then(
        (response) => {
          call.sendMetadata(instanceHeader(context, log));
          callback(null, response);
          if (method) recordCall(context, method, startedAt, log);
          trace?.end(callOutcome(context, log));
        },
        (error: unknown) => {
          const serviceError = toServiceError(error);
          callback(grpcError(serviceError, instanceHeader(context, log)));
          if (method) recordCall(context, method, startedAt, log, serviceError);
          trace?.end(callOutcome(context, log, serviceError));
        },
      )
      .finally(end);
  };
}

export function bidi<Req, Res>(
  context: TransportContext,
  method: string,
  handler: StreamHandler<Req, Res>,
): handleBidiStreamingCall<Req, Res> {
  let openStreams = 0;
  return (call) => {
    const startedAt = performance.now();
    // A stream says at once which replica serves it.
    call.sendMetadata(instanceHeader(context));
    const log: Record<string, unknown> = {};
    const cancelled = cancellation(call);
    const trace = context.tracing?.grpcCall(call.getPath(), metadataReader(call.metadata), startedAt, true);
    const run = async () => {
      const service = requireService(context);
      service.assertServing();
      if (openStreams >= service.limits.maxStreams) {
        throw new ServiceError(
          Code.RESOURCE_EXHAUSTED,
          `too many concurrent streams (limit ${service.limits.maxStreams}); retry later`,
        );
      }
      openStreams++;
      context.metrics.activeStreams.inc();
      const { signal, end } = callSignal({ cancelled, deadline: deadlineOf(call), shutdown: service.drainSignal });
      /** Cancelled or past its deadline: that is the outcome, whatever was answered or failed on the way. */
      const endedForClient = () => signal.aborted && !stoppedByShutdown(signal);
      try {
        const streamCall = { signal, metadata: call.metadata, log, service, trace };
        for await (const response of handler(messages<Req>(call), streamCall)) {
          // The client's reading speed paces the answers, and so the reading. once() with a signal removes its
          // listeners either way.
          if (!call.write(response) && !cancelled.aborted) {
            await once(call, 'drain', { signal: cancelled }).catch((error: unknown) => {
              if (!cancelled.aborted) throw error;
            });
          }
        }
      } catch (error) {
        if (!endedForClient()) throw error;
      } finally {
        end();
        openStreams--;
        context.metrics.activeStreams.dec();
      }
      if (endedForClient()) throw signal.reason;
    };
    run().then(
      () => {
        call.end();
        recordCall(context, method, startedAt, log);
        trace?.end(callOutcome(context, log));
      },
      (error: unknown) => {
        const serviceError = toServiceError(error);
        if (!call.cancelled) call.emit('error', grpcError(serviceError));
        recordCall(context, method, startedAt, log, serviceError);
        trace?.end(callOutcome(context, log, serviceError));
      },
    );
  };
}

/** Where a stream's frames are counted: the same gauges and counters for every stream method. */
export function frameMetrics(metrics: Metrics, onFrame?: () => void): Pick<FrameStreamOptions, 'gauges' | 'onFrame'> {
  return {
    gauges: { inFlight: metrics.streamFramesInFlight, working: metrics.streamFramesWorking },
    onFrame: (outcome) => {
      metrics.streamFrames.inc({ outcome });
      if (outcome === 'dropped') metrics.droppedFrames.inc();
      onFrame?.();
    },
  };
}

/**
 * The call's messages, read with read() and the stream's events. Not Node's stream iterator: it takes the 'error' by
 * which a handler sends its final status for a failure of the stream, and destroys the stream before grpc-js has sent
 * that status (the client would see CANCELLED).
 */
async function* messages<T>(call: Readable): AsyncGenerator<T> {
  for (;;) {
    const message = call.read() as T | null;
    if (message !== null) yield message;
    else if (call.readableEnded || call.destroyed) return;
    else {
      await new Promise<void>((resolve) => {
        const wake = () => {
          call.off('readable', wake).off('end', wake).off('close', wake);
          resolve();
        };
        call.on('readable', wake).on('end', wake).on('close', wake);
      });
    }
  }
}

function cancellation(call: SurfaceCall): AbortSignal {
  const controller = new AbortController();
  if (call.cancelled) controller.abort();
  else call.once('cancelled', () => controller.abort());
  return controller.signal;
}

function deadlineOf(call: SurfaceCall): number {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) && ms > 0 ? ms : Infinity;
}

/** The call's request headers for the trace-context propagator. */
function metadataReader(metadata: Metadata): HeaderReader {
  return (name) => {
    const value = metadata.get(name)[0];
    return typeof value === 'string' ? value : undefined;
  };
}

/** What the call's span ends with: its request id, its outcome, and the model serving (for a call that ran none). */
function callOutcome(context: TransportContext, log: Record<string, unknown>, error?: ServiceError): CallOutcome {
  const requestId = typeof log.requestId === 'string' ? log.requestId : undefined;
  return { requestId, error, runtime: context.service()?.runtime };
}

/**
 * Which replica answered and with which weights: those the handler's prediction names (log.weightsSha256), else those
 * serving new requests now.
 */
function instanceHeader(context: TransportContext, log: Record<string, unknown> = {}): Metadata {
  const header = new Metadata();
  header.set('x-instance', context.instance);
  const weights =
    typeof log.weightsSha256 === 'string' ? log.weightsSha256 : context.service()?.modelRef().weightsSha256;
  if (weights) header.set('x-weights-sha256', weights);
  return header;
}

/** Caller mistakes keep their code and message; internal faults say only that (the log has the details). */
function grpcError(error: ServiceError, trailers?: Metadata): ServerErrorResponse {
  return Object.assign(new Error(error.message), {
    code: error.code as number as status,
    details: error.message,
    metadata: trailers,
  });
}
