/** What every transport's handlers need: the service (once loaded), logs, metrics and this replica's identity. */
import { Code, ServiceError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';
import type { ModelService, StageTimings } from './model-service.js';
import type { ReloadResult, ReloadTrigger } from './weights-reload.js';

export interface TransportContext {
  /** The loaded service; undefined while the model is still loading. */
  service(): ModelService | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly instance: string;
  /** OpenTelemetry tracing of the calls; undefined when it is off (observability/tracing.ts). */
  readonly tracing?: Tracing;
  /** Loads the weights again and switches to them without downtime (core/weights-reload.ts). */
  reloadWeights(trigger: ReloadTrigger): Promise<ReloadResult>;
}

/** The service, or UNAVAILABLE while the model loads (gRPC UNAVAILABLE, HTTP 503). */
export function requireService(context: TransportContext): ModelService {
  const service = context.service();
  if (!service)
    throw new ServiceError(Code.UNAVAILABLE, 'server is starting: the model is still loading; retry shortly');
  return service;
}

/**
 * One log line and the call metrics at the end of every call, the same for every transport: the call's own fields,
 * and for a failure its message (and, for an internal fault, the cause the caller was not told).
 */
export function recordCall(
  context: TransportContext,
  method: string,
  startedAt: number,
  fields: Record<string, unknown> = {},
  error?: ServiceError,
): void {
  const seconds = (performance.now() - startedAt) / 1000;
  const code = error?.code ?? Code.OK;
  const name = Code[code] ?? String(code);
  context.metrics.calls.inc({ method, code: name });
  context.metrics.callLatency.observe({ method }, seconds);
  const internal = code === Code.INTERNAL || code === Code.UNKNOWN;
  const failure = error ? { error: error.message, ...(internal ? { cause: String(error.cause ?? error) } : {}) } : {};
  context.logger[internal ? 'error' : 'info'](
    { method, code: name, latencyMs: round(seconds * 1000), ...fields, ...failure },
    'call',
  );
}

/** A call's stage timings as log fields. */
export function timingFields({ prepareMs, queueMs, inferenceMs }: StageTimings): Record<string, number> {
  return { prepareMs: round(prepareMs), queueMs: round(queueMs), inferenceMs: round(inferenceMs) };
}

/** Milliseconds to one decimal, for logs. */
function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
