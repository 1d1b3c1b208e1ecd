/** What every transport's handlers need: the service (once loaded), logs, metrics and this replica's identity. */
import { Code, ServiceError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { ModelService } from './model-service.js';

export interface TransportContext {
  /** The loaded service; undefined while the model is still loading. */
  service(): ModelService | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly instance: string;
}

/** The service, or UNAVAILABLE while the model loads (gRPC UNAVAILABLE, HTTP 503). */
export function requireService(context: TransportContext): ModelService {
  const service = context.service();
  if (!service) throw new ServiceError(Code.UNAVAILABLE, 'server is starting: the model is still loading; retry shortly');
  return service;
}
