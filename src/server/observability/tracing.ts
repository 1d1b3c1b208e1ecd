/**
 * OpenTelemetry tracing: a server span per call, its parent the caller's W3C `traceparent`/`tracestate`, with each
 * prediction's stages — prepare, queue, inference — as child spans, exported over OTLP/HTTP.
 *
 * Off unless an OTLP endpoint is configured (--otlp-endpoint, or OpenTelemetry's own variables: config.ts). Off, none
 * of OpenTelemetry is loaded (the SDK is imported here, and only when tracing starts) and a call pays one `if`: the
 * transports hold no Tracing, so they start no CallTrace and pass none to the service.
 *
 * The transports' wrappers (transport/grpc/handle.ts, transport/http/handle.ts) start and end the call's span; the
 * service records the stages of each prediction into the call's trace (CallContext.trace), from the scheduler's own
 * timings, so the stage spans cost nothing on the way.
 */
import type { ModelRuntime } from '../core/model-runtime.js';
import type { StageTimings } from '../core/model-service.js';
import type { ServiceError } from '../errors.js';

export interface TracingSettings {
  /** Where spans are posted (OTLP/HTTP); undefined: tracing is off. */
  readonly tracesUrl: string | undefined;
  readonly serviceVersion: string;
  /** service.instance.id: --instance-id. */
  readonly instanceId: string;
}

/** One request header of the call by its lower-case name (traceparent, tracestate): gRPC metadata or HTTP alike. */
export type HeaderReader = (name: string) => string | undefined;

/** A prediction's stages as the scheduler measured them, and the engine run that served it. */
export interface PredictionStages extends StageTimings {
  /** Requests in the engine run (micro-batching). */
  readonly batchSize: number;
}

export interface CallTrace {
  /**
   * Records one prediction of the call, finished now: its stages from `startedAt` (performance.now() when the service
   * took it) and the scheduler's timings; `id` is the request's, frame's or element's id. A stream's frames each get a
   * span of their own, with their stages under it.
   */
  prediction(id: string, startedAt: number, stages: PredictionStages, runtime: ModelRuntime): void;
  /** Ends the call's span, now. */
  end(outcome: CallOutcome): void;
}

export interface CallOutcome {
  /** The request id the call was logged with. */
  readonly requestId?: string;
  /** The call failed: the span's status is an error with the code and message. */
  readonly error?: ServiceError;
  /** The runtime serving as the call ended: names the model on a call that ran no prediction. */
  readonly runtime?: ModelRuntime;
  /** REST calls: the status answered. */
  readonly httpStatus?: number;
}

export interface Tracing {
  /** A gRPC call; `path` is grpc-js's "/package.Service/Method". */
  grpcCall(path: string, header: HeaderReader, startedAt: number, stream: boolean): CallTrace;
  /** A REST call: `route` is the route's pattern, e.g. "/api/predict". */
  httpCall(method: string, route: string, header: HeaderReader, startedAt: number): CallTrace;
  /** Exports the spans still buffered, then stops (on the server's shutdown). */
  shutdown(): Promise<void>;
}

/** Starts tracing when `tracesUrl` is set (loading the SDK then); undefined when it is not. */
export async function startTracing(settings: TracingSettings): Promise<Tracing | undefined> {
  if (!settings.tracesUrl) return undefined;
  const { createTracing } = await import('./tracing-sdk.js');
  return createTracing({ ...settings, tracesUrl: settings.tracesUrl });
}
