/** What every gRPC handler needs: the service (once loaded), logs, metrics and this replica's identity. */
import { Metadata as GrpcMetadata } from '@grpc/grpc-js';
import { Code, ServiceError } from '../../errors.js';
import type { ModelService } from '../../core/model-service.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { codeName } from './status.js';

export interface HandlerContext {
  /** The loaded service; undefined while the model is still loading. */
  service(): ModelService | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly instance: string;
}

export function requireService(context: HandlerContext): ModelService {
  const service = context.service();
  if (!service) throw new ServiceError(Code.UNAVAILABLE, 'server is starting: the model is still loading; retry shortly');
  return service;
}

/** Response headers every inference call carries: which replica answered. */
export function instanceHeader(context: HandlerContext): GrpcMetadata {
  const header = new GrpcMetadata();
  header.set('x-instance', context.instance);
  return header;
}

/** One log line and the call metrics, at the end of every call. */
export function recordCall(
  context: HandlerContext,
  method: string,
  code: Code,
  startedAt: number,
  fields: Record<string, unknown> = {},
): void {
  const seconds = (performance.now() - startedAt) / 1000;
  const name = codeName(code);
  context.metrics.calls.inc({ method, code: name });
  context.metrics.callLatency.observe({ method }, seconds);
  const level = code === Code.INTERNAL || code === Code.UNKNOWN ? 'error' : 'info';
  context.logger[level]({ method, code: name, latencyMs: round(seconds * 1000), ...fields }, 'call');
}

export function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
