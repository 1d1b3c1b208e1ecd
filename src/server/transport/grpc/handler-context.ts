/** gRPC handlers' share of the transport context: headers, per-call logs and metrics. */
import { Metadata as GrpcMetadata } from '@grpc/grpc-js';
import { Code } from '../../errors.js';
import { requireService, type TransportContext } from '../../core/transport-context.js';
import { codeName } from './status.js';

export type HandlerContext = TransportContext;
export { requireService };

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
