import { EngineFaultError } from './engine/engine-fault.js';

/**
 * The service's own error, carrying a status code. Codes are gRPC's numbers so transports map them one to one, but
 * the core imports no transport: the HTTP side maps the same codes to HTTP statuses.
 */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  UNAUTHENTICATED = 16,
}

export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A caller's mistake: bad input they can fix. */
export function invalidArgument(message: string): ServiceError {
  return new ServiceError(Code.INVALID_ARGUMENT, message);
}

/**
 * Any error as a ServiceError, the one normaliser of every transport: a ServiceError as it is; a library's refusal of
 * the request itself (a 4xx statusCode: body too large, malformed multipart) as the caller's mistake; an engine whose
 * worker failed as UNAVAILABLE (the request may succeed when retried); anything else is an internal fault, whose
 * details stay in the server's log (the original is the cause).
 */
export function toServiceError(error: unknown): ServiceError {
  if (error instanceof ServiceError) return error;
  if (error instanceof EngineFaultError) return new ServiceError(Code.UNAVAILABLE, error.message, { cause: error });
  const { statusCode, message } = (error ?? {}) as { statusCode?: unknown; message?: string };
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    const code =
      statusCode === 413 ? Code.RESOURCE_EXHAUSTED : statusCode === 404 ? Code.NOT_FOUND : Code.INVALID_ARGUMENT;
    return new ServiceError(code, message ?? 'bad request', { cause: error });
  }
  return new ServiceError(Code.INTERNAL, 'internal error; the server logged the details with the request id', {
    cause: error,
  });
}
