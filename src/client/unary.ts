/** One unary call as a promise: cancellable by an AbortSignal, failing with ModelError, keeping the response headers. */
import type { ClientUnaryCall, Metadata, ServiceError } from '@grpc/grpc-js';
import { cancelled, Code, toModelError } from './errors.js';

export type UnaryInvoker<Res> = (
  metadata: Metadata,
  options: { deadline?: Date },
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

export interface UnaryResult<Res> {
  readonly response: Res;
  /** Response headers (e.g. x-instance). */
  readonly headers: Metadata | undefined;
}

export function unaryCall<Res>(
  invoke: UnaryInvoker<Res>,
  metadata: Metadata,
  context: { readonly deadline?: Date; readonly signal?: AbortSignal },
): Promise<UnaryResult<Res>> {
  const { signal, deadline } = context;
  if (signal?.aborted) return Promise.reject(cancelled(signal.reason));
  return new Promise((resolve, reject) => {
    let headers: Metadata | undefined;
    const onAbort = () => call.cancel();
    const call = invoke(metadata, deadline ? { deadline } : {}, (error, response) => {
      signal?.removeEventListener('abort', onAbort);
      if (!error) resolve({ response, headers });
      else if (signal?.aborted && error.code === Code.CANCELLED) reject(cancelled(signal.reason, error));
      else reject(toModelError(error));
    });
    call.on('metadata', (received: Metadata) => {
      headers = received;
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function firstHeader(headers: Metadata | undefined, name: string): string {
  const value = headers?.get(name)[0];
  return value === undefined ? '' : String(value);
}
