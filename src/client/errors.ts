/**
 * ModelError: the one error type the client throws. Every failure — a gRPC status from the server, a deadline, an
 * AbortSignal, an unreachable server, a bad argument caught before sending — surfaces as a ModelError with the gRPC
 * status code, so callers switch on `code` (or `codeName`) and never on grpc-js internals.
 */

/** gRPC status codes by name (the numbers are gRPC's, identical in every language). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type CodeName = keyof typeof Code;

const NAMES = new Map<number, CodeName>(Object.entries(Code).map(([name, code]) => [code, name as CodeName]));

/** The status code's name, e.g. 4 → "DEADLINE_EXCEEDED"; unknown numbers read as "UNKNOWN". */
export function codeName(code: number): CodeName {
  return NAMES.get(code) ?? 'UNKNOWN';
}

export class ModelError extends Error {
  override readonly name = 'ModelError';
  /** gRPC status code number. */
  readonly code: number;
  /** The code's name, e.g. "DEADLINE_EXCEEDED". */
  readonly codeName: CodeName;
  /** The server's (or the client's) explanation, without the code. */
  readonly details: string;

  constructor(code: number, details: string, options?: { cause?: unknown }) {
    super(`${codeName(code)}: ${details}`, options);
    this.code = code;
    this.codeName = codeName(code);
    this.details = details;
  }
}

/** grpc-js's ServiceError, structurally (code + details), without depending on its class. */
interface StatusLike {
  readonly code: number;
  readonly details?: string;
  readonly message?: string;
}

function isStatusLike(error: unknown): error is StatusLike {
  return typeof error === 'object' && error !== null && typeof (error as StatusLike).code === 'number';
}

/** Any failure as a ModelError: gRPC statuses keep their code; aborts become CANCELLED; anything else UNKNOWN. */
export function toModelError(error: unknown): ModelError {
  if (error instanceof ModelError) return error;
  if (isStatusLike(error)) {
    const details = error.details || error.message || codeName(error.code);
    return new ModelError(error.code, details, { cause: error });
  }
  if (error instanceof Error && error.name === 'AbortError') return cancelled(undefined, error);
  const message = error instanceof Error ? error.message : String(error);
  return new ModelError(Code.UNKNOWN, message, { cause: error });
}

/** The error of a call cancelled through its AbortSignal; the signal's reason is kept as the cause. */
export function cancelled(reason?: unknown, cause: unknown = reason): ModelError {
  const why = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : '';
  return new ModelError(Code.CANCELLED, `call cancelled by the caller${why}`, { cause });
}

export function invalidArgument(details: string): ModelError {
  return new ModelError(Code.INVALID_ARGUMENT, details);
}
