/** A gRPC call's cancellation as an AbortSignal and its deadline as epoch milliseconds, for the core. */
import type { Deadline } from '@grpc/grpc-js';
import { Code, ServiceError } from '../../errors.js';
import type { CallContext } from '../../core/model-service.js';

/** What every server call has (grpc-js does not export its ServerSurfaceCall type). */
export interface SurfaceCall {
  readonly cancelled: boolean;
  once(event: 'cancelled', listener: () => void): unknown;
  getDeadline(): Deadline;
}

export function callContext(call: SurfaceCall): CallContext & { signal: AbortSignal } {
  const controller = new AbortController();
  const abort = () => controller.abort(new ServiceError(Code.CANCELLED, 'call cancelled by the client'));
  if (call.cancelled) abort();
  else call.once('cancelled', abort);
  return { signal: controller.signal, deadline: deadlineMs(call.getDeadline()) };
}

function deadlineMs(deadline: Deadline): number {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) && ms > 0 ? ms : Infinity;
}
