/**
 * The caller's OpenTelemetry trace context (W3C `traceparent`/`tracestate`) into a call's headers, so the server's
 * spans join the caller's trace. Through @opentelemetry/api's propagation API: in a process with no OpenTelemetry SDK
 * registered (no global propagator) it adds nothing and costs next to nothing.
 */
import type { Metadata } from '@grpc/grpc-js';
import { context, propagation, type TextMapSetter } from '@opentelemetry/api';

const metadataSetter: TextMapSetter<Metadata> = {
  set: (metadata, key, value) => metadata.set(key, value),
};

/** Adds the active context's trace headers (as the caller's registered propagator writes them) to `metadata`. */
export function injectTraceContext(metadata: Metadata): void {
  propagation.inject(context.active(), metadata, metadataSetter);
}
