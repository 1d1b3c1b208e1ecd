/**
 * tracing.ts's implementation, loaded only when tracing is on: OpenTelemetry's tracer provider with a batch span
 * processor and the OTLP/HTTP exporter, the W3C trace-context propagator, and the spans of calls and their stages.
 *
 * Nothing is registered globally (no global tracer provider, propagator or context manager): the server's spans are
 * its own, so an application embedding the server, or a test process tracing its client calls, keeps its own.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type HrTime,
  type Span,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { millisToHrTime, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVICE_INSTANCE_ID,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  RPC_SYSTEM_NAME_VALUE_GRPC,
} from '@opentelemetry/semantic-conventions';
import type { ModelRuntime } from '../core/model-runtime.js';
import { Code } from '../errors.js';
import type { CallOutcome, CallTrace, HeaderReader, PredictionStages, Tracing, TracingSettings } from './tracing.js';

/** The service's name unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) says otherwise. */
const DEFAULT_SERVICE_NAME = 'xception';

/**
 * How long finished spans wait to be sent with others: traces show up within about a second, and a busy server posts
 * at most one batch (of up to 512 spans) a second. OpenTelemetry's default, 5 s, saves little more.
 */
const EXPORT_INTERVAL_MS = 1000;

/** On shutdown, how long the spans still buffered may take to be sent. */
const SHUTDOWN_EXPORT_MS = 2000;

/** Attributes of this service, beside OpenTelemetry's semantic conventions. */
const ATTR = {
  requestId: 'xception.request.id',
  predictionId: 'xception.prediction.id',
  modelId: 'xception.model.id',
  modelName: 'xception.model.name',
  engine: 'xception.engine',
  precision: 'xception.precision',
  weightsSha256: 'xception.weights.sha256',
  batchSize: 'xception.batch.size',
} as const;

const propagator = new W3CTraceContextPropagator();
const headerGetter: TextMapGetter<HeaderReader> = {
  get: (header, key) => header(key),
  keys: () => propagator.fields(),
};

export function createTracing(settings: TracingSettings & { readonly tracesUrl: string }): Tracing {
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: DEFAULT_SERVICE_NAME,
    [ATTR_SERVICE_VERSION]: settings.serviceVersion,
    [ATTR_SERVICE_INSTANCE_ID]: settings.instanceId,
  }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new TracerProvider({
    resource,
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: settings.tracesUrl }),
        scheduledDelayMillis: EXPORT_INTERVAL_MS,
      }),
    ],
  });
  const tracer = provider.getTracer('xception', settings.serviceVersion);

  const startCall = (name: string, header: HeaderReader, startedAt: number, attributes: Attributes) => {
    const clock = callClock();
    const parent = propagator.extract(ROOT_CONTEXT, header, headerGetter);
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, startTime: clock(startedAt), attributes }, parent);
    return { span, clock };
  };

  return {
    grpcCall(path, header, startedAt, stream) {
      const method = path.replace(/^\//, '');
      const { span, clock } = startCall(method, header, startedAt, {
        [ATTR_RPC_SYSTEM_NAME]: RPC_SYSTEM_NAME_VALUE_GRPC,
        [ATTR_RPC_METHOD]: method,
      });
      return new CallSpan(tracer, span, clock, stream, (outcome) => ({
        [ATTR_RPC_STATUS_CODE]: Code[outcome.error?.code ?? Code.OK] ?? String(outcome.error?.code),
      }));
    },
    httpCall(method, route, header, startedAt) {
      const { span, clock } = startCall(`${method} ${route}`, header, startedAt, {
        [ATTR_HTTP_REQUEST_METHOD]: method,
        [ATTR_HTTP_ROUTE]: route,
      });
      return new CallSpan(tracer, span, clock, false, (outcome) =>
        outcome.httpStatus === undefined ? {} : { [ATTR_HTTP_RESPONSE_STATUS_CODE]: outcome.httpStatus },
      );
    },
    async shutdown() {
      // A collector that does not answer, or refuses, must not hold or fail the server's exit.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        provider.shutdown().catch(() => {}),
        new Promise((resolve) => {
          timer = setTimeout(resolve, SHUTDOWN_EXPORT_MS);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}

/** performance.now() → the span's time; one offset for all the spans of a call, so they nest exactly. */
type Clock = (performanceMs: number) => HrTime;

function callClock(): Clock {
  const epochOffsetMs = Date.now() - performance.now();
  return (performanceMs) => millisToHrTime(performanceMs + epochOffsetMs);
}

class CallSpan implements CallTrace {
  /** Whether a prediction named the model on the call's span. */
  private modelNamed = false;

  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    private readonly clock: Clock,
    /** A stream: each frame gets a span, with its stages under it. */
    private readonly stream: boolean,
    private readonly statusAttributes: (outcome: CallOutcome) => Attributes,
  ) {}

  prediction(id: string, startedAt: number, stages: PredictionStages, runtime: ModelRuntime): void {
    // A caller that does not sample this trace gets no spans: the children of an unsampled span are not recorded.
    if (!this.span.isRecording()) return;
    const endedAt = performance.now();
    const model = modelAttributes(runtime);
    this.span.setAttributes(model);
    this.modelNamed = true;
    const predictionId = { [ATTR.predictionId]: id };
    const frame = this.stream ? this.child(this.span, 'frame', startedAt, { ...predictionId, ...model }) : undefined;
    const parent = frame ?? this.span;
    // The scheduler measured durations: prepare runs from the start; the engine run ended as the answer came back,
    // and the queue wait ended as it began. (A stream's frame may wait between prepare and queue for the frame before.)
    const inferenceStart = endedAt - stages.inferenceMs;
    const queueStart = inferenceStart - stages.queueMs;
    this.child(parent, 'prepare', startedAt, predictionId).end(this.clock(startedAt + stages.prepareMs));
    this.child(parent, 'queue', queueStart, predictionId).end(this.clock(inferenceStart));
    this.child(parent, 'inference', inferenceStart, { ...predictionId, [ATTR.batchSize]: stages.batchSize }).end(
      this.clock(endedAt),
    );
    frame?.end(this.clock(endedAt));
  }

  end(outcome: CallOutcome): void {
    const { requestId, error, runtime } = outcome;
    if (requestId) this.span.setAttribute(ATTR.requestId, requestId);
    if (runtime && !this.modelNamed) this.span.setAttributes(modelAttributes(runtime));
    this.span.setAttributes(this.statusAttributes(outcome));
    if (error) {
      this.span.setAttribute(ATTR_ERROR_TYPE, Code[error.code] ?? String(error.code));
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    }
    this.span.end(this.clock(performance.now()));
  }

  private child(parent: Span, name: string, startedAt: number, attributes: Attributes): Span {
    return this.tracer.startSpan(
      name,
      { kind: SpanKind.INTERNAL, startTime: this.clock(startedAt), attributes },
      trace.setSpan(ROOT_CONTEXT, parent),
    );
  }
}

function modelAttributes({ contrib, engine, precision, weights }: ModelRuntime): Attributes {
  return {
    [ATTR.modelId]: contrib.config.id,
    [ATTR.modelName]: contrib.config.meta.name,
    [ATTR.engine]: engine.info.engine,
    [ATTR.precision]: precision,
    [ATTR.weightsSha256]: weights.sha256,
  };
}
